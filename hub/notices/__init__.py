"""SMS notices of a case's progress to residents who asked for them at the kiosk: the outbox and the
gateway."""
