"""Durable state of the delegation engine (sessions, outbox, inbox, message log, registry)."""
