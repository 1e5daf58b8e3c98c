"""Device states as the kiosk shows them and the heartbeat reports them (``HeartbeatBody.reader/printer``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = ["DeviceHealth", "PrinterState", "ReaderHealth", "ReaderState", "ScannerState"]


class ReaderState(enum.StrEnum):
    STARTING = "starting"  # not yet opened and self-tested
    OK = "ok"
    NO_DEVICE = "no_device"  # the port or library is not there (unplugged)
    NOT_RESPONDING = "not_responding"  # the port is there, the reader does not answer
    SAM_FAILED = "sam_failed"  # the security module failed its self-test (60) or is not authorised (66)
    ERROR = "error"  # it answers, but not as the protocol says
    ABSENT = "absent"  # none configured


class PrinterState(enum.StrEnum):
    OK = "ok"
    PAPER_LOW = "paper_low"  # near-end sensor: still prints, send someone with a roll
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    ERROR = "error"  # cutter or other mechanical error
    OFFLINE = "offline"  # no answer, or the port is gone
    ABSENT = "absent"

    @property
    def can_print(self) -> bool:
        return self in (PrinterState.OK, PrinterState.PAPER_LOW)


class ScannerState(enum.StrEnum):
    OK = "ok"
    NO_DEVICE = "no_device"
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class ReaderHealth:
    name: str
    card_type: str
    state: ReaderState
    detail: str = ""
    since: datetime | None = None
    bad_frames: int = 0


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """A snapshot of every device. ``reader`` sums up all readers: ``ok`` when all are, else the first
    reader's trouble. ``detail`` strings are for operators (no personal data)."""

    readers: tuple[ReaderHealth, ...] = ()
    printer: PrinterState = PrinterState.ABSENT
    printer_detail: str = ""
    scanner: ScannerState = ScannerState.ABSENT
    taken_at: datetime | None = None

    @property
    def reader(self) -> ReaderState:
        for r in self.readers:
            if r.state is not ReaderState.OK:
                return r.state
        return ReaderState.OK if self.readers else ReaderState.ABSENT

    def as_dict(self) -> dict[str, object]:
        """JSON-ready; ``reader`` and ``printer`` fit ``HeartbeatBody`` as they are."""
        return {
            "reader": self.reader.value,
            "printer": self.printer.value,
            "printer_detail": self.printer_detail,
            "scanner": self.scanner.value,
            "readers": [
                {
                    "name": r.name,
                    "card_type": r.card_type,
                    "state": r.state.value,
                    "detail": r.detail,
                    "since": r.since.isoformat() if r.since else None,
                    "bad_frames": r.bad_frames,
                }
                for r in self.readers
            ],
            "taken_at": self.taken_at.isoformat() if self.taken_at else None,
        }
