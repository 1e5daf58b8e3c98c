"""GA 467 SAM host protocol: frames, and an incremental parser that never raises (codes: ``sam_codes``).

A frame is ``AA AA AA 96 69 | LEN_H LEN_L | body… | CHK`` where LEN counts the bytes after itself through
CHK and CHK is the XOR of every byte after the preamble (both LEN bytes included). A host → SAM body is
``CMD PARA DATA…``; a SAM → host body is ``SW1 SW2 SW3 DATA…``. Pure: no I/O here.

:class:`FrameParser` takes bytes in any chunks and returns, in order, every good :class:`Frame` and a
:class:`BadFrame` record for every stretch it had to throw away (garbage between frames, a wrong length,
a wrong checksum, a frame cut short). Every byte fed ends up in exactly one of the two.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import reduce

from edge.devices.sam_codes import Command, Status

__all__ = [
    "MAX_LEN",
    "PREAMBLE",
    "BadFrame",
    "BadFrameKind",
    "CommandFrame",
    "Frame",
    "FrameParser",
    "Response",
    "checksum",
    "decode_frame",
    "encode_command",
    "encode_frame",
    "encode_response",
]

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
_HEADER = len(PREAMBLE) + 2
#: LEN of the largest frame a SAM sends (text + photo + 1024-byte fingerprint is 2314), with room to spare.
MAX_LEN = 4096
_MIN_LEN = 3  # CMD PARA CHK


def checksum(data: bytes | bytearray) -> int:
    """XOR of ``data`` (pass LEN_H LEN_L and the body)."""
    return reduce(lambda a, b: a ^ b, data, 0)


def encode_frame(body: bytes) -> bytes:
    """Wrap ``body`` (everything between LEN and CHK) into a frame."""
    length = len(body) + 1
    if not _MIN_LEN <= length <= MAX_LEN:
        raise ValueError(f"frame body of {len(body)} bytes is outside the protocol's bounds")
    head = length.to_bytes(2, "big")
    return PREAMBLE + head + body + bytes([checksum(head + body)])


def encode_command(command: Command | tuple[int, int], data: bytes = b"") -> bytes:
    cmd, para = command.value if isinstance(command, Command) else command
    return encode_frame(bytes([cmd, para]) + data)


def encode_response(sw3: int, data: bytes = b"", *, sw1: int = 0, sw2: int = 0) -> bytes:
    return encode_frame(bytes([sw1, sw2, sw3]) + data)


@dataclass(frozen=True, slots=True)
class CommandFrame:
    cmd: int
    para: int
    data: bytes

    @property
    def command(self) -> Command | None:
        try:
            return Command((self.cmd, self.para))
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Response:
    sw1: int
    sw2: int
    sw3: int
    data: bytes

    @property
    def status(self) -> Status | None:
        """SW3 as a known :class:`Status`, or ``None`` for a code outside the table."""
        try:
            return Status(self.sw3)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame whose length and checksum are right. ``body`` excludes LEN and CHK."""

    body: bytes

    @property
    def size(self) -> int:
        return _HEADER + len(self.body) + 1

    def as_command(self) -> CommandFrame:
        return CommandFrame(self.body[0], self.body[1], self.body[2:])

    def as_response(self) -> Response | None:
        """The SAM's answer, or ``None`` when the body is too short to carry SW1 SW2 SW3."""
        if len(self.body) < 3:
            return None
        return Response(self.body[0], self.body[1], self.body[2], self.body[3:])


class BadFrameKind(enum.StrEnum):
    GARBAGE = "garbage"  # bytes outside any frame
    LENGTH = "length"  # LEN outside 3..MAX_LEN
    CHECKSUM = "checksum"  # LEN plausible, CHK wrong
    TRUNCATED = "truncated"  # the stream ended (flush) inside a frame


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A stretch of ``size`` bytes the parser threw away. ``head`` keeps at most the first 8 bytes, for the
    log: never a whole frame, which could hold a card's text or photo."""

    kind: BadFrameKind
    size: int
    head: bytes
    detail: str


def _bad(kind: BadFrameKind, raw: bytes | bytearray, detail: str) -> BadFrame:
    return BadFrame(kind, len(raw), bytes(raw[:8]), detail)


class FrameParser:
    """Incremental frame parser: feed bytes as they arrive, collect frames and bad-frame records."""

    def __init__(self, max_len: int = MAX_LEN) -> None:
        self._buf = bytearray()
        self._max_len = max_len

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        self._buf += data
        return self._drain(final=False)

    def flush(self) -> list[Frame | BadFrame]:
        """The stream has ended or stalled: report what is held as truncated, keep any frame inside it."""
        return self._drain(final=True)

    def reset(self) -> None:
        self._buf.clear()

    def _drain(self, *, final: bool) -> list[Frame | BadFrame]:
        out: list[Frame | BadFrame] = []
        buf = self._buf
        while buf:
            start = buf.find(PREAMBLE)
            if start < 0:
                # Keep a tail that may be the start of a preamble; the rest is garbage.
                keep = 0 if final else _partial_preamble(buf)
                if len(buf) > keep:
                    out.append(_bad(BadFrameKind.GARBAGE, buf[: len(buf) - keep], "no preamble"))
                    del buf[: len(buf) - keep]
                break
            if start > 0:
                out.append(_bad(BadFrameKind.GARBAGE, buf[:start], "bytes before preamble"))
                del buf[:start]
                continue
            if len(buf) < _HEADER:
                if final:
                    out.append(_bad(BadFrameKind.TRUNCATED, buf, "header cut short"))
                    buf.clear()
                break
            length = int.from_bytes(buf[5:7], "big")
            if not _MIN_LEN <= length <= self._max_len:
                self._drop(out, BadFrameKind.LENGTH, _HEADER, f"LEN={length}")
                continue
            end = _HEADER + length
            if len(buf) < end:
                if final:
                    self._drop(out, BadFrameKind.TRUNCATED, len(buf), f"{len(buf)} of {end} bytes")
                    continue
                break
            if checksum(buf[5 : end - 1]) != buf[end - 1]:
                self._drop(out, BadFrameKind.CHECKSUM, end, f"LEN={length}")
                continue
            out.append(Frame(bytes(buf[_HEADER : end - 1])))
            del buf[:end]
        return out

    def _drop(self, out: list[Frame | BadFrame], kind: BadFrameKind, extent: int, detail: str) -> None:
        """Throw away a bad frame claimed to span ``extent`` bytes, but only up to the next preamble (whole,
        or the start of one at the end of what has arrived) inside it: a frame cut short is often followed
        by a good one, which must not be lost with it."""
        buf = self._buf
        cut = extent
        nxt = buf.find(PREAMBLE, 1)
        if 0 < nxt < extent:
            cut = nxt
        else:
            tail = _partial_preamble(buf)
            if tail and 0 < len(buf) - tail < extent:
                cut = len(buf) - tail
        out.append(_bad(kind, buf[:cut], detail))
        del buf[:cut]


def _partial_preamble(buf: bytearray) -> int:
    """Length of the longest suffix of ``buf`` that is a proper prefix of the preamble."""
    for n in range(min(len(PREAMBLE) - 1, len(buf)), 0, -1):
        if buf.endswith(PREAMBLE[:n]):
            return n
    return 0


def decode_frame(raw: bytes) -> Frame:
    """Decode exactly one complete frame, or raise ``ValueError`` saying what is wrong with it."""
    parser = FrameParser()
    results = parser.feed(raw) + parser.flush()
    if len(results) == 1 and isinstance(results[0], Frame):
        return results[0]
    bad = [r for r in results if isinstance(r, BadFrame)]
    reason = f"{bad[0].kind.value}: {bad[0].detail}" if bad else f"{len(results)} frames, expected one"
    raise ValueError(f"not one good frame ({reason})")
