"""The daemon: the `twistd` plugin's options (`tap`) and the service tree it starts (`service`),
its configuration file (`config`), TLS contexts both ways (`tls`), the peer table (`peers`), the
refusal counters and log lines (`refusals`), the collector tuning (`gc_tuning`) and the
permissions of private files (`private`)."""
