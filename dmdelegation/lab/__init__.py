"""The project's own lab equipment: a simulated DM Client (``device``) that the daemons manage
over their DM endpoints as they would a real device, the throw-away PKI the lab and the tests
issue certificates from (``pki``), the lab of processes on 127.0.0.1 (``devlab``) and the
end-to-end demonstration (``demo``)."""
