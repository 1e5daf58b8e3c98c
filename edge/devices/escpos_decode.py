"""An ESC/POS decoder: received bytes → printed text lines, QR payloads, cuts and status requests.

The printer simulator runs it on what a driver sends, and tests read the receipt from it. It is
incremental (bytes may arrive split anywhere; a command cut short waits for the rest) and never raises:
an unknown command, a malformed one, or text that is not valid in its code page becomes a
:class:`DecodeError` record and decoding goes on. Only the commands receipts use are understood.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.devices.escpos import DLE, ESC, FS, GS, LF, TEXT_ENCODING, Align

__all__ = ["Cut", "DecodeError", "EscPosDecoder", "Item", "QrCode", "StatusRequest", "TextLine"]


@dataclass(frozen=True, slots=True)
class TextLine:
    text: str
    bold: bool = False
    width: int = 1
    height: int = 1
    align: Align = Align.LEFT


@dataclass(frozen=True, slots=True)
class QrCode:
    data: str
    size: int
    ec: int  # 48 L, 49 M, 50 Q, 51 H


@dataclass(frozen=True, slots=True)
class Cut:
    partial: bool


@dataclass(frozen=True, slots=True)
class StatusRequest:
    n: int  # DLE EOT n


@dataclass(frozen=True, slots=True)
class DecodeError:
    offset: int  # in the whole stream fed so far
    reason: str


Item = TextLine | QrCode | Cut | StatusRequest | DecodeError

_NO_ARG_ESC = frozenset(b"2")
_ONE_ARG_ESC = frozenset(b"-3JMRGVt{ U")  # one argument, accepted and ignored
_ONE_ARG_GS = frozenset(b"BHfhwa")
_TWO_ARG_GS = frozenset(b"LW")
_WAIT = -1  # the command at hand is not complete yet


class EscPosDecoder:
    """Feed bytes with :meth:`feed`; :meth:`flush` at the end of the stream."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0]
        self._reset_modes()
        self._qr_size, self._qr_ec, self._qr_data = 3, 48, b""

    def _reset_modes(self) -> None:
        self._chinese = False
        self._bold = False
        self._width = self._height = 1
        self._align = Align.LEFT
        self._segments: list[tuple[bool, bytearray]] = []  # (Chinese mode?, bytes) of the line in progress
        self._line_style: tuple[bool, int, int, Align] | None = None

    def feed(self, data: bytes) -> list[Item]:
        self._buf += data
        out: list[Item] = []
        pos = 0
        while pos < len(self._buf):
            used = self._step(pos, out)
            if used == _WAIT:
                break
            pos += used
        del self._buf[:pos]
        self._offset += pos
        return out

    def flush(self) -> list[Item]:
        """End of stream: report a command cut short, and print a line that never got its LF."""
        out: list[Item] = []
        if self._buf:
            out.append(DecodeError(self._offset, f"stream ended inside a command ({len(self._buf)} bytes)"))
            self._offset += len(self._buf)
            self._buf.clear()
        if self._segments:
            self._end_line(out)
        return out

    # one command or text byte at pos; returns bytes used or _WAIT
    def _step(self, pos: int, out: list[Item]) -> int:
        buf, byte = self._buf, self._buf[pos]
        if byte == LF:
            self._end_line(out)
            return 1
        if byte in (ESC, GS, FS, DLE):
            if pos + 1 >= len(buf):
                return _WAIT
            return self._command(pos, out)
        if byte == 0x0D:  # CR: ignored by printers with auto line feed off
            return 1
        if byte < 0x20 and byte != 0x09:
            out.append(DecodeError(self._offset + pos, f"stray control byte {byte:#04x}"))
            return 1
        if self._line_style is None:
            self._line_style = (self._bold, self._width, self._height, self._align)
        if not self._segments or self._segments[-1][0] != self._chinese:
            self._segments.append((self._chinese, bytearray()))
        self._segments[-1][1].append(byte)
        return 1

    def _command(self, pos: int, out: list[Item]) -> int:
        buf = self._buf
        lead, code = buf[pos], buf[pos + 1]
        avail = len(buf) - pos
        arg = buf[pos + 2] if avail > 2 else None
        where = self._offset + pos
        if lead == ESC:
            if code == ord("@"):
                if self._segments:  # a real printer clears its buffer: that text never prints
                    out.append(DecodeError(where, "ESC @ discarded a line without LF"))
                self._reset_modes()
                return 2
            if code in _NO_ARG_ESC:
                return 2
            if code == ord("p"):  # drawer kick: m t1 t2
                return 5 if avail >= 5 else _WAIT
            if code in b"E!ad" or code in _ONE_ARG_ESC:
                if arg is None:
                    return _WAIT
                if code == ord("E"):
                    self._bold = bool(arg & 1)
                elif code == ord("!"):
                    self._bold = bool(arg & 0x08)
                    self._height, self._width = 1 + bool(arg & 0x10), 1 + bool(arg & 0x20)
                elif code == ord("a"):
                    self._set_align(arg, where, out)
                elif code == ord("d") and self._segments:
                    self._end_line(out)
                return 3
        elif lead == GS:
            if code == ord("!"):
                if arg is None:
                    return _WAIT
                self._width, self._height = (arg >> 4) + 1, (arg & 0x0F) + 1
                if self._width > 8 or self._height > 8:
                    out.append(DecodeError(where, f"GS ! {arg:#04x}: size beyond 8"))
                    self._width, self._height = min(self._width, 8), min(self._height, 8)
                return 3
            if code == ord("V"):
                if arg is None:
                    return _WAIT
                if arg in (0, 1, 48, 49):
                    self._cut(arg in (1, 49), out)
                    return 3
                if arg in (65, 66):
                    if avail < 4:
                        return _WAIT
                    self._cut(arg == 66, out)
                    return 4
                out.append(DecodeError(where, f"GS V {arg}: unknown cut"))
                return 3
            if code == ord("("):
                return self._function(pos, out)
            if code in _ONE_ARG_GS:
                return 3 if arg is not None else _WAIT
            if code in _TWO_ARG_GS:
                return 4 if avail >= 4 else _WAIT
        elif lead == FS:
            if code in b"&.":
                self._chinese = code == ord("&")
                return 2
            if code in b"!CW-":
                return 3 if arg is not None else _WAIT
        elif lead == DLE and code == 0x04:  # DLE EOT n: real-time status
            if arg is None:
                return _WAIT
            if arg in (1, 2, 3, 4):
                out.append(StatusRequest(arg))
            else:
                out.append(DecodeError(where, f"DLE EOT {arg}: n must be 1–4"))
            return 3
        out.append(DecodeError(where, f"unknown command {lead:02X} {code:02X}"))
        return 2

    def _function(self, pos: int, out: list[Item]) -> int:
        """``GS ( k pL pH cn fn …``: the 2D symbol functions, of which QR (cn 49) is understood."""
        buf, where = self._buf, self._offset + pos
        if len(buf) - pos < 3:
            return _WAIT
        if buf[pos + 2] != ord("k"):
            out.append(DecodeError(where, f"GS ( {buf[pos + 2]:02X}: unsupported function"))
            return 3
        if len(buf) - pos < 5:
            return _WAIT
        count = buf[pos + 3] | buf[pos + 4] << 8
        total = 5 + count
        if count < 2:
            out.append(DecodeError(where, f"GS ( k with {count} parameter bytes"))
            return 5
        if len(buf) - pos < total:
            return _WAIT
        cn, fn, params = buf[pos + 5], buf[pos + 6], bytes(buf[pos + 7 : pos + total])
        if cn != 49:
            out.append(DecodeError(where, f"GS ( k cn={cn}: only QR (49) is understood"))
        elif fn == 65 and len(params) == 2 and params[0] in (49, 50):
            pass  # model 1 or 2
        elif fn == 67 and len(params) == 1 and 1 <= params[0] <= 16:
            self._qr_size = params[0]
        elif fn == 69 and len(params) == 1 and 48 <= params[0] <= 51:
            self._qr_ec = params[0]
        elif fn == 80 and len(params) >= 2 and params[0] == 48:
            self._qr_data = params[1:]
        elif fn == 81 and params == b"0":
            self._print_qr(where, out)
        elif fn == 82 and params == b"0":
            pass  # size information request: a real printer answers; receipts do not ask
        else:
            out.append(DecodeError(where, f"GS ( k QR function {fn} with {len(params)} bytes is malformed"))
        return total

    def _print_qr(self, where: int, out: list[Item]) -> None:
        if not self._qr_data:
            out.append(DecodeError(where, "QR print with nothing stored"))
            return
        try:
            data = self._qr_data.decode("utf-8")
        except UnicodeDecodeError:
            out.append(DecodeError(where, "QR payload is not UTF-8"))
            data = self._qr_data.decode("utf-8", "replace")
        out.append(QrCode(data, self._qr_size, self._qr_ec))

    def _set_align(self, arg: int, where: int, out: list[Item]) -> None:
        if arg in (0, 1, 2, 48, 49, 50):
            self._align = Align(arg % 48)
        else:
            out.append(DecodeError(where, f"ESC a {arg}: unknown alignment"))

    def _cut(self, partial: bool, out: list[Item]) -> None:
        if self._segments:
            self._end_line(out)
        out.append(Cut(partial))

    def _end_line(self, out: list[Item]) -> None:
        style = self._line_style or (self._bold, self._width, self._height, self._align)
        parts = []
        for chinese, raw in self._segments:
            codec = TEXT_ENCODING if chinese else "cp437"
            try:
                parts.append(raw.decode(codec))
            except UnicodeDecodeError:
                out.append(DecodeError(self._offset, f"text is not valid {codec}"))
                parts.append(raw.decode(codec, "replace"))
        out.append(TextLine("".join(parts), *style))
        self._segments, self._line_style = [], None
