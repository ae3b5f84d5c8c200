"""Outgoing webhooks: endpoints admins register, and one delivery row per event and endpoint."""
