"""Sync with the hub over MQTT: the outbox drains to the hub, acks and case events come back."""
