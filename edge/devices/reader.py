"""The interface the kiosk takes: any card reader (ID card, social-security card) behind one Protocol."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from edge.devices.errors import NoCard
from edge.devices.facts import CardFacts

__all__ = ["CardReader", "wait_for_card"]


@runtime_checkable
class CardReader(Protocol):
    """A card reader as the device service drives it. One thread owns a reader at a time.

    Every method returns or raises within a bounded time: a device that stops answering raises
    :class:`~edge.devices.errors.DeviceTimeout`, one that is gone raises
    :class:`~edge.devices.errors.DeviceUnavailable`.
    """

    #: ``"id_card"`` or ``"sscard"``: what :attr:`CardFacts.card_type` its cards carry.
    card_type: str

    @property
    def name(self) -> str:
        """Where the reader is, for logs and health (a port path or a library path)."""
        ...

    @property
    def is_open(self) -> bool: ...

    def open(self) -> None:
        """Connect; raises :class:`~edge.devices.errors.DeviceUnavailable`."""
        ...

    def close(self) -> None:
        """Disconnect; never raises."""
        ...

    def self_test(self) -> None:
        """Check the reader can read cards; raises :class:`~edge.devices.errors.SamFailed` if not."""
        ...

    def poll(self) -> CardFacts | None:
        """One read cycle: the card's facts, or ``None`` when no (new) card is there.

        Raises :class:`~edge.devices.errors.CardRefused` for a card read whose facts are invalid and
        :class:`~edge.devices.errors.ReadFailed` when a card was there but could not be read.
        """
        ...


def wait_for_card(reader: CardReader, timeout: float, interval: float = 0.3) -> CardFacts:
    """Poll an open ``reader`` until a card is read or ``timeout`` seconds pass (then :class:`NoCard`)."""
    deadline = time.monotonic() + timeout
    while True:
        facts = reader.poll()
        if facts is not None:
            return facts
        left = deadline - time.monotonic()
        if left <= 0:
            raise NoCard(f"{timeout:g} s")
        time.sleep(min(interval, left))
