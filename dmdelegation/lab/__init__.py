"""The project's own lab equipment: a simulated DM Client (``device``) that the daemons manage
over their DM endpoints as they would a real device."""
