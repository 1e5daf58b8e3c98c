"""Device errors: one base under :class:`edge.errors.EdgeError`, one class per thing a caller handles apart.

Each error's ``str()`` is the Chinese message a person sees (from :mod:`edge.devices.messages`), followed by
technical detail for the log where there is any. No message ever contains an ID number.
"""

from __future__ import annotations

from edge.devices import messages
from edge.devices.health import PrinterState
from edge.errors import EdgeError

__all__ = [
    "CardRefused",
    "DeviceError",
    "DeviceProtocolError",
    "DeviceTimeout",
    "DeviceUnavailable",
    "FrameCorrupted",
    "NoCard",
    "PrinterNotReady",
    "ReadFailed",
    "SamFailed",
]


class DeviceError(EdgeError):
    """Base of every device error. ``code`` keys the message catalogue; ``detail`` is for the log."""

    code = "device_error"

    def __init__(self, detail: str = "", *, code: str | None = None, message: str | None = None) -> None:
        if code is not None:
            self.code = code
        self.detail = detail
        #: What a person is shown: the catalogue's text for ``code`` unless given.
        self.message = message or messages.text(self.code)
        super().__init__(messages.with_detail(self.message, detail) if detail else self.message)


class DeviceUnavailable(DeviceError):
    """The port is missing, was unplugged, or the vendor library cannot be loaded."""

    code = "no_device"


class DeviceTimeout(DeviceError):
    """The device did not answer in time."""

    code = "not_responding"


class FrameCorrupted(DeviceError):
    """The answer arrived damaged (bad checksum, bad length, cut short)."""

    code = "frame_corrupted"


class SamFailed(DeviceError):
    """The reader's security module failed its self-test (60) or is not authorised (66)."""

    code = "sam_failed"


class DeviceProtocolError(DeviceError):
    """The device answered with a status the exchange does not allow."""

    code = "protocol_error"


class ReadFailed(DeviceError):
    """A card was there but could not be read, after retries (41, or 80 mid-cycle)."""

    code = "read_failed"


class NoCard(DeviceError):
    """No card was presented before the caller's deadline."""

    code = "no_card"


class CardRefused(DeviceError):
    """The card was read but its facts are not acceptable (e.g. an ID number that fails its check).

    ``key`` identifies the refused card within this process (a hash, never the number), so a service
    can avoid announcing the same refusal on every poll.
    """

    code = "card_refused"

    def __init__(self, reason: str, *, key: str = "") -> None:
        self.key = key
        super().__init__(message=reason)


class PrinterNotReady(DeviceError):
    """The printer answered but cannot print now; ``state`` says why (paper out, cover open, error)."""

    code = "printer_not_ready"

    def __init__(self, detail: str, *, state: PrinterState) -> None:
        self.state = state
        codes = {PrinterState.PAPER_OUT: "paper_out", PrinterState.COVER_OPEN: "cover_open"}
        super().__init__(detail, code=codes.get(state, "printer_error"))
