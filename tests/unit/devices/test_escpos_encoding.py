"""ESC/POS as the receipt printer receives it: commands byte for byte, text in GB18030, status bytes.

A receipt starts ``ESC @`` then ``FS &`` (Chinese mode); each line sets ``ESC a`` alignment, ``ESC E``
emphasis and ``GS !`` size, carries GB18030 text and ends with LF; a QR code is the ``GS ( k`` sequence
model 2 → size → error correction → store → print; the cut is ``GS V 66 n``. ``DLE EOT n`` answers are
single bytes with bits 1 and 4 set, from which paper-out, cover-open and near-end are read.
"""

from __future__ import annotations

import pytest

from edge.devices.escpos import (
    Align,
    PrinterStatus,
    QrErrorCorrection,
    Receipt,
    decode_status,
    encode_status,
    qr_code,
    status_request,
)
from edge.devices.escpos_decode import Cut, EscPosDecoder, QrCode, TextLine
from edge.devices.health import PrinterState


def test_a_receipt_starts_by_initialising_and_entering_chinese_mode() -> None:
    assert Receipt().to_bytes() == bytes.fromhex("1B40 1C26")


def test_a_line_sets_its_style_prints_gb18030_and_resets() -> None:
    data = Receipt().line("回执", bold=True, size=2, align=Align.CENTER).to_bytes()[4:]
    assert data == (
        bytes.fromhex("1B6101 1B4501 1D2111") + "回执".encode("gb18030") + b"\n" + bytes.fromhex("1B4500 1D2100")
    )
    assert "回执".encode("gb18030") == bytes.fromhex("BBD8 D6B4")


def test_a_qr_code_is_model_size_correction_store_print() -> None:
    assert qr_code("AB", size=5, ec=QrErrorCorrection.Q) == bytes.fromhex(
        "1D286B 0400 3141 3200"  # model 2
        "1D286B 0300 3143 05"  # module size 5
        "1D286B 0300 3145 32"  # error correction Q
        "1D286B 0500 3150 30 4142"  # store "AB"
        "1D286B 0300 3151 30"  # print
    )


def test_the_cut_feeds_then_cuts() -> None:
    assert Receipt().cut(feed=3).to_bytes()[4:] == bytes.fromhex("1D5642 03")
    assert Receipt().cut(feed=0, partial=False).to_bytes()[4:] == bytes.fromhex("1D5641 00")


@pytest.mark.parametrize("bad", [{"size": 0}, {"size": 17}])
def test_qr_arguments_out_of_range_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        qr_code("x", **bad)
    with pytest.raises(ValueError):
        qr_code("")


def test_a_line_with_a_line_break_inside_is_refused() -> None:
    with pytest.raises(ValueError):
        Receipt().line("一\n二")


def test_a_receipt_decodes_to_what_was_built() -> None:
    receipt = (
        Receipt()
        .line("上海市黄浦区社区事务受理服务中心", bold=True, size=2, align=Align.CENTER)
        .line("事项：老年综合津贴申领")
        .line("回执号 310101-20261127-0001", align=Align.RIGHT)
        .qr("https://shegong.example/q/310101-20261127-0001?k=7F3A")
        .cut()
    )
    decoder = EscPosDecoder()
    items = decoder.feed(receipt.to_bytes()) + decoder.flush()
    assert items == [
        TextLine("上海市黄浦区社区事务受理服务中心", bold=True, width=2, height=2, align=Align.CENTER),
        TextLine("事项：老年综合津贴申领"),
        TextLine("回执号 310101-20261127-0001", align=Align.RIGHT),
        QrCode("https://shegong.example/q/310101-20261127-0001?k=7F3A", size=6, ec=QrErrorCorrection.M),
        TextLine("", align=Align.CENTER),
        Cut(partial=True),
    ]


def test_status_requests_are_dle_eot_n() -> None:
    assert [status_request(n) for n in (1, 2, 3, 4)] == [bytes([0x10, 0x04, n]) for n in (1, 2, 3, 4)]
    with pytest.raises(ValueError):
        status_request(5)


def test_a_printer_out_of_paper_answers_the_documented_bytes() -> None:
    status = PrinterStatus(online=False, paper_out=True, paper_near_end=True)
    replies = {n: encode_status(n, status) for n in (1, 2, 3, 4)}
    assert replies == {1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x7E}
    assert decode_status(replies) == status
    assert status.state is PrinterState.PAPER_OUT


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (PrinterStatus(), PrinterState.OK),
        (PrinterStatus(paper_near_end=True), PrinterState.PAPER_LOW),
        (PrinterStatus(online=False, cover_open=True), PrinterState.COVER_OPEN),
        (PrinterStatus(online=False, error=True), PrinterState.ERROR),
    ],
)
def test_status_bytes_round_trip_to_a_printer_state(status: PrinterStatus, state: PrinterState) -> None:
    decoded = decode_status({n: encode_status(n, status) for n in (1, 2, 3, 4)})
    assert decoded == status and decoded.state is state


def test_a_byte_that_is_not_a_status_answer_is_refused() -> None:
    with pytest.raises(ValueError, match="not a status byte"):
        decode_status({1: 0x00})
