"""The ESC/POS decoder under fuzzing: whatever arrives, in whatever pieces, it decodes without raising.

Receipts built from random lines (any character GB18030 can carry, Chinese included) and QR payloads
must decode to exactly those lines and payloads however the bytes are split; unknown commands slipped
in are each reported at their offset; random bytes never raise and decode the same in one piece as in
many; a command cut short by the end of the stream is reported by ``flush``.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.devices.escpos import Align, Receipt
from edge.devices.escpos_decode import DecodeError, EscPosDecoder, Item, QrCode, TextLine

line_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40).filter(
    lambda s: s.strip()
)
cuts_st = st.lists(st.integers(0, 100_000), max_size=25)


def decode(data: bytes, cuts: list[int]) -> list[Item]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    decoder = EscPosDecoder()
    out: list[Item] = []
    for a, b in zip(points, points[1:], strict=False):
        out += decoder.feed(data[a:b])
    return out + decoder.flush()


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(line_text.map(lambda t: ("line", t)), st.text(min_size=1, max_size=80).map(lambda t: ("qr", t)))
    ),
    st.lists(st.sampled_from(list(Align)), min_size=1),
    cuts_st,
)
def test_built_receipts_decode_to_their_lines_and_qr_codes(
    parts: list[tuple[str, str]], aligns: list[Align], cuts: list[int]
) -> None:
    receipt = Receipt()
    for i, (kind, text) in enumerate(parts):
        align = aligns[i % len(aligns)]
        if kind == "line":
            receipt.line(text, bold=i % 2 == 0, size=1 + i % 3, align=align)
        else:
            receipt.qr(text, align=align)
    items = decode(receipt.cut().to_bytes(), cuts)
    assert not [i for i in items if isinstance(i, DecodeError)]
    got = [("line", i.text) if isinstance(i, TextLine) else ("qr", i.data) for i in items
           if isinstance(i, QrCode) or (isinstance(i, TextLine) and i.text)]  # fmt: skip
    assert got == parts


@settings(max_examples=200)
@given(st.lists(st.sampled_from([b"\x1b\x01", b"\x1d\x01", b"\x1c\x01", b"\x10\x09", b"\x1d(z"]), min_size=1), cuts_st)
def test_every_unknown_command_is_reported_where_it_was(junk: list[bytes], cuts: list[int]) -> None:
    start = Receipt().line("开始").to_bytes()
    data = start + b"".join(junk) + Receipt().line("结束").cut().to_bytes()
    items = decode(data, cuts)
    errors = [i for i in items if isinstance(i, DecodeError)]
    offsets, at = [], len(start)
    for j in junk:
        offsets.append(at)
        at += len(j)
    assert [e.offset for e in errors] == offsets
    assert [i.text for i in items if isinstance(i, TextLine) and i.text] == ["开始", "结束"]


@settings(max_examples=400)
@given(st.binary(max_size=400), cuts_st)
def test_random_bytes_never_raise_and_decode_the_same_in_any_pieces(data: bytes, cuts: list[int]) -> None:
    assert decode(data, cuts) == decode(data, [])


def test_a_command_cut_short_is_reported_at_the_end_of_the_stream() -> None:
    decoder = EscPosDecoder()
    assert decoder.feed(Receipt().to_bytes() + b"\x1d(k\x10\x00\x31\x50\x30abc") == []
    flushed = decoder.flush()
    assert len(flushed) == 1 and isinstance(flushed[0], DecodeError) and "ended inside" in flushed[0].reason


def test_chinese_text_without_chinese_mode_is_not_taken_for_gb18030() -> None:
    decoder = EscPosDecoder()
    items = decoder.feed(b"\x1b@" + "中".encode("gb18030") + b"\n")
    assert items == [TextLine("╓╨")]  # D6 D0 in code page 437, as a printer outside Chinese mode prints it


def test_invalid_gb18030_is_reported_and_replaced() -> None:
    items = EscPosDecoder().feed(b"\x1c&\x81\x0a")
    assert isinstance(items[0], DecodeError) and isinstance(items[1], TextLine) and "\ufffd" in items[1].text
