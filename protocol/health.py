"""Heartbeats: what a hub operator needs to know about a terminal, every few seconds, at QoS 0."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from protocol.envelope import Envelope, Int64, MessageType, Strict

__all__ = ["PRINTER_FAULTS", "READER_FAULTS", "Heartbeat", "HeartbeatBody"]

#: A heartbeat's ``printer`` / ``reader`` states that stop a resident (the fleet's alerts, the console's row):
#: one place, so the terminal's console and the centre's fleet page never disagree. ``paper_out`` is the
#: printer's own alert; ``paper_low`` still prints.
PRINTER_FAULTS = frozenset({"paper_out", "error", "cover_open", "offline"})
READER_FAULTS = frozenset({"no_device", "not_responding", "sam_failed", "error"})


class HeartbeatBody(Strict):
    bd_seq: Int64 = Field(ge=0)
    uptime_s: float = Field(ge=0)
    outbox_depth: Int64 = Field(ge=0)
    oldest_unsent_at: AwareDatetime | None = None
    parked: Int64 = Field(default=0, ge=0, description="items the hub refused, waiting for an operator")
    disk_free_mb: float = Field(ge=0)
    app_version: str = ""
    catalogue_version: Int64 = 0
    reader: str = "unknown"
    printer: str = "unknown"
    alarms: list[str] = Field(default_factory=list)


class Heartbeat(Envelope):
    message_type: ClassVar[MessageType] = MessageType.HEARTBEAT
    type: Literal[MessageType.HEARTBEAT] = MessageType.HEARTBEAT
    body: HeartbeatBody
