"""ESC/POS for Chinese-market thermal receipt printers: an encoder, and the real-time status bytes.

Text goes out in GB18030 with Chinese character mode on (``FS &``), which such printers read as GB18030
(GB2312 on old firmware: keep receipts to common characters). QR codes use the ``GS ( k`` function set:
model 2, module size, error correction, store, print. Pure: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edge.devices.health import PrinterState

__all__ = [
    "Align",
    "PrinterStatus",
    "QrErrorCorrection",
    "Receipt",
    "decode_status",
    "encode_status",
    "qr_code",
    "status_request",
]

ESC, GS, FS, DLE, EOT, LF = 0x1B, 0x1D, 0x1C, 0x10, 0x04, 0x0A
TEXT_ENCODING = "gb18030"
INIT = bytes([ESC, ord("@")])
CHINESE_ON = bytes([FS, ord("&")])
CHINESE_OFF = bytes([FS, ord(".")])
QR_MAX = 7089 - 3  # store function's pL/pH count three bytes of its own


class Align(enum.IntEnum):
    LEFT = 0
    CENTER = 1
    RIGHT = 2


class QrErrorCorrection(enum.IntEnum):
    L = 48
    M = 49
    Q = 50
    H = 51


def _qr_function(fn: int, params: bytes) -> bytes:
    size = len(params) + 2
    return bytes([GS, ord("("), ord("k"), size & 0xFF, size >> 8, 49, fn]) + params


def qr_code(data: str, *, size: int = 6, ec: QrErrorCorrection = QrErrorCorrection.M) -> bytes:
    """Model 2 QR code of ``data`` (UTF-8) with modules of ``size`` dots (1–16), then printed."""
    payload = data.encode("utf-8")
    if not 1 <= size <= 16:
        raise ValueError("QR module size must be 1–16")
    if not payload or len(payload) > QR_MAX:
        raise ValueError(f"QR payload must be 1–{QR_MAX} bytes")
    return (
        _qr_function(65, bytes([50, 0]))  # model 2
        + _qr_function(67, bytes([size]))
        + _qr_function(69, bytes([ec]))
        + _qr_function(80, b"0" + payload)  # store in the symbol area
        + _qr_function(81, b"0")  # print it
    )


class Receipt:
    """Build a receipt: ``Receipt().line("标题", bold=True, size=2, align=Align.CENTER).qr(url).cut()``.

    Each line is self-contained: it sets alignment, emphasis and size, prints, and goes back to normal.
    """

    def __init__(self) -> None:
        self._out = bytearray(INIT + CHINESE_ON)

    def line(self, text: str = "", *, bold: bool = False, size: int = 1, align: Align = Align.LEFT) -> Receipt:
        """One printed line; ``size`` 1–8 scales width and height together."""
        if not 1 <= size <= 8:
            raise ValueError("character size must be 1–8")
        if "\n" in text or "\r" in text:
            raise ValueError("one line at a time")
        scale = (size - 1) << 4 | (size - 1)
        self._out += bytes([ESC, ord("a"), align, ESC, ord("E"), int(bold), GS, ord("!"), scale])
        self._out += text.encode(TEXT_ENCODING) + bytes([LF])
        self._out += bytes([ESC, ord("E"), 0, GS, ord("!"), 0])
        return self

    def qr(
        self,
        data: str,
        *,
        size: int = 6,
        ec: QrErrorCorrection = QrErrorCorrection.M,
        align: Align = Align.CENTER,
    ) -> Receipt:
        self._out += bytes([ESC, ord("a"), align]) + qr_code(data, size=size, ec=ec) + bytes([LF])
        return self

    def feed(self, lines: int = 1) -> Receipt:
        self._out += bytes([ESC, ord("d"), max(0, min(lines, 255))])
        return self

    def cut(self, *, feed: int = 4, partial: bool = True) -> Receipt:
        """Feed ``feed`` lines (past the cutter) and cut: ``GS V 66 n`` partial, ``GS V 65 n`` full."""
        self._out += bytes([GS, ord("V"), 66 if partial else 65, max(0, min(feed, 255))])
        return self

    def to_bytes(self) -> bytes:
        return bytes(self._out)


def status_request(n: int) -> bytes:
    """``DLE EOT n``: 1 printer, 2 offline cause, 3 error cause, 4 roll paper sensor."""
    if n not in (1, 2, 3, 4):
        raise ValueError("DLE EOT n is 1–4")
    return bytes([DLE, EOT, n])


_FIXED_MASK, _FIXED = 0x93, 0x12  # bits 1 and 4 set, 0 and 7 clear in every status byte


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What ``DLE EOT 1–4`` says."""

    online: bool = True
    cover_open: bool = False
    paper_out: bool = False
    paper_near_end: bool = False
    error: bool = False  # cutter, mechanical, unrecoverable or auto-recoverable error

    @property
    def state(self) -> PrinterState:
        if self.paper_out:
            return PrinterState.PAPER_OUT
        if self.cover_open:
            return PrinterState.COVER_OPEN
        if self.error or not self.online:
            return PrinterState.ERROR
        if self.paper_near_end:
            return PrinterState.PAPER_LOW
        return PrinterState.OK


def encode_status(n: int, status: PrinterStatus) -> int:
    """The byte a printer in ``status`` answers to ``DLE EOT n`` (used by the simulator)."""
    bits = {
        1: (not status.online) << 3,
        2: status.cover_open << 2 | status.paper_out << 5 | status.error << 6,
        3: status.error << 6,
        4: status.paper_near_end * 0x0C | status.paper_out * 0x60,
    }[n]
    return _FIXED | bits


def decode_status(replies: dict[int, int]) -> PrinterStatus:
    """Combine answers to ``DLE EOT 1``, ``2``, ``4`` (and ``3`` if asked); ``ValueError`` for a byte
    whose fixed bits are wrong (it is not a status answer)."""
    for n, byte in replies.items():
        if byte & _FIXED_MASK != _FIXED:
            raise ValueError(f"DLE EOT {n} answer {byte:#04x} is not a status byte")
    b1, b2, b3, b4 = (replies.get(n, _FIXED) for n in (1, 2, 3, 4))
    return PrinterStatus(
        online=not b1 & 0x08,
        cover_open=bool(b2 & 0x04),
        paper_out=bool(b2 & 0x20 or b4 & 0x60),
        paper_near_end=bool(b4 & 0x0C),
        error=bool(b2 & 0x40 or b3 & 0x68),
    )
