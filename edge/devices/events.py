"""What the device service tells the kiosk: a card was read, a card could not be used, a code was scanned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from edge.devices.facts import CardFacts

__all__ = ["CardTapped", "CardUnreadable", "DeviceEvent", "Scanned"]


@dataclass(frozen=True, slots=True)
class CardTapped:
    """A card was presented and read: start (or switch) the session with these facts."""

    facts: CardFacts
    reader: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CardUnreadable:
    """A card was presented but gave no usable facts. ``code``: ``card_refused`` (its facts are invalid)
    or ``read_failed``; ``message`` is the Chinese text to show."""

    code: str
    message: str
    card_type: str
    reader: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Scanned:
    """One scan from the QR scanner (e.g. a receipt's code)."""

    text: str
    scanner: str
    at: datetime


DeviceEvent = CardTapped | CardUnreadable | Scanned
