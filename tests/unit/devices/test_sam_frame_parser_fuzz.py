"""The SAM frame parser under a noisy line, fuzzed with Hypothesis.

A stream is built from good frames, noise, frames with a wrong checksum, headers with an impossible
length and frames cut short, then fed to :class:`FrameParser` in random chunks (a serial read returns
whatever has arrived). Nothing may raise, the parser must finish, every good frame must come out
exactly, and every byte of every bad stretch must be reported in a bad-frame record of the right kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge.devices.sam import MAX_LEN, PREAMBLE, BadFrame, BadFrameKind, Frame, FrameParser, encode_frame

# Noise without 0xAA cannot contain (the start of) a preamble, so where it begins and ends is known.
noise = st.binary(min_size=1, max_size=24).map(lambda b: bytes(x for x in b if x != 0xAA) or b"\x00")
bodies = st.binary(min_size=2, max_size=80)


@dataclass(frozen=True)
class Segment:
    kind: str  # "frame", or a BadFrameKind value
    raw: bytes
    body: bytes = b""


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    kind = draw(st.sampled_from(["frame", "frame", "garbage", "checksum", "length"]))
    if kind == "frame":
        body = draw(bodies)
        return Segment(kind, encode_frame(body), body)
    if kind == "garbage":
        return Segment(kind, draw(noise))
    if kind == "checksum":
        raw = encode_frame(draw(bodies))
        return Segment(kind, raw[:-1] + bytes([raw[-1] ^ draw(st.integers(1, 255))]))
    length = draw(st.sampled_from([0, 1, 2, MAX_LEN + 1, 0xFFFF]))
    return Segment(kind, PREAMBLE + length.to_bytes(2, "big"))


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def parse(data: bytes, cuts: list[int]) -> list[Frame | BadFrame]:
    parser = FrameParser()
    out: list[Frame | BadFrame] = []
    for chunk in chunked(data, cuts):
        out += parser.feed(chunk)
    out += parser.flush()
    assert parser.pending == 0
    return out


def spans(records: list[Frame | BadFrame]) -> list[tuple[int, int, Frame | BadFrame]]:
    result, at = [], 0
    for r in records:
        result.append((at, at + r.size, r))
        at += r.size
    return result


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(segments(), max_size=12), st.lists(st.integers(0, 10_000), max_size=20), st.data())
def test_every_good_frame_comes_out_and_every_bad_stretch_is_reported(
    parts: list[Segment], cuts: list[int], data: st.DataObject
) -> None:
    # A frame cut short at the very end of the stream: reported when the stream is flushed.
    tail = b""
    if data.draw(st.booleans()):
        whole = encode_frame(data.draw(bodies))
        tail = whole[: data.draw(st.integers(1, len(whole) - 1))]
    stream = b"".join(p.raw for p in parts) + tail

    records = parse(stream, cuts)

    assert sum(r.size for r in records) == len(stream)  # every byte accounted for, once
    assert [r.body for r in records if isinstance(r, Frame)] == [p.body for p in parts if p.kind == "frame"]
    laid_out = spans(records)
    at = 0
    for part in parts:
        start, end = at, at + len(part.raw)
        at = end
        if part.kind == "frame":
            continue
        covering = [r for a, b, r in laid_out if a < end and b > start]
        assert covering and all(isinstance(r, BadFrame) for r in covering), part
        if part.kind != "garbage":
            first = next(r for a, _, r in laid_out if a == start)
            assert isinstance(first, BadFrame) and first.kind == BadFrameKind(part.kind)
    if tail:
        assert isinstance(records[-1], BadFrame)


@settings(max_examples=300)
@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=30))
def test_arbitrary_bytes_never_raise_and_are_all_accounted_for(stream: bytes, cuts: list[int]) -> None:
    records = parse(stream, cuts)
    assert sum(r.size for r in records) == len(stream)
    assert all(len(r.head) <= 8 for r in records if isinstance(r, BadFrame))


@settings(max_examples=200)
@given(bodies, bodies, st.integers(1, 100), st.lists(st.integers(0, 10_000), max_size=10))
def test_a_frame_cut_short_does_not_take_the_next_good_frame_with_it(
    first: bytes, second: bytes, keep: int, cuts: list[int]
) -> None:
    cut_short = encode_frame(first)
    cut_short = cut_short[: max(8, min(keep, len(cut_short) - 1))]
    good = encode_frame(second)
    records = parse(cut_short + good, cuts)
    # The XOR checksum can pass by chance on the cut frame plus the next frame's first bytes: no parser
    # can tell that from a real frame, so those cases are skipped.
    assume(not isinstance(records[0], Frame))
    assert [r.body for r in records if isinstance(r, Frame)] == [second]


def test_a_preamble_split_across_reads_is_not_taken_for_garbage() -> None:
    frame = encode_frame(b"\x00\x00\x90")
    parser = FrameParser()
    assert parser.feed(b"\x01\x02" + frame[:3]) == [BadFrame(BadFrameKind.GARBAGE, 2, b"\x01\x02", "no preamble")]
    assert parser.feed(frame[3:]) == [Frame(b"\x00\x00\x90")]


def test_a_photo_holding_the_preamble_is_read_by_its_length() -> None:
    body = b"\x00\x00\x90" + PREAMBLE + b"\x00\x03\x10\xff\xec" * 20
    assert parse(encode_frame(body), [3, 50, 51]) == [Frame(body)]
