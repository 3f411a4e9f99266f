"""Hostile input against the real mutual-TLS delegation endpoint backed by a real engine."""
