"""The daemon: the `twistd` plugin's options (`tap`) and the service tree it starts (`service`),
its configuration file (`config`), its ``[dm]`` section's endpoint (`dm_endpoint`), the
collector tuning (`gc_tuning`) and the permissions of private files (`private`). The top of the
server: it wires the packages below it and nothing below imports it."""
