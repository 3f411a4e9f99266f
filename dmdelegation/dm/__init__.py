"""OMA DM 1.2 sessions with real DM Clients: the SyncML codecs (XML and WBXML), the session
layer (authentication, nonces, the session state machine), the twisted.web endpoint, the
`IDMClientSession` that queues tree operations for a device's next DM session, and the two seams
a host provides (the device list and the notification transport). See docs/dm-sessions.md."""
