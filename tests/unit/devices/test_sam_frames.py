"""GA 467 SAM frames, byte for byte.

The host sends ``AA AA AA 96 69 | LEN | CMD PARA | CHK`` and the SAM answers
``AA AA AA 96 69 | LEN | SW1 SW2 SW3 | data | CHK``. These tests check the frames printed in the
reference (docs and /work/shared/reference/id-card-reader.md) encode and decode to what they say, that
a full 1295-byte read answer puts the text at offset 14 and the photo at 270, and that encoding then
decoding gives back what went in.
"""

from __future__ import annotations

import pytest

from edge.devices.idtext import PHOTO_LEN, TEXT_LEN, build_read_data, split_read_data
from edge.devices.sam import checksum, decode_frame, encode_command, encode_frame, encode_response
from edge.devices.sam_codes import STATUS_TEXT, Baud, Command, Status

GOLDEN_COMMANDS = {
    Command.RESET_SAM: "AA AA AA 96 69 00 03 10 FF EC",
    Command.SAM_STATUS: "AA AA AA 96 69 00 03 11 FF ED",
    Command.READ_SAM_ID: "AA AA AA 96 69 00 03 12 FF EE",
    Command.FIND_CARD: "AA AA AA 96 69 00 03 20 01 22",
    Command.SELECT_CARD: "AA AA AA 96 69 00 03 20 02 21",
    Command.READ_BASE: "AA AA AA 96 69 00 03 30 01 32",
    Command.READ_ADDRESS: "AA AA AA 96 69 00 03 30 03 30",
    Command.READ_WITH_FINGERPRINT: "AA AA AA 96 69 00 03 30 10 23",
}


@pytest.mark.parametrize(("command", "frame"), GOLDEN_COMMANDS.items(), ids=lambda v: getattr(v, "name", ""))
def test_each_documented_command_encodes_to_its_documented_frame(command: Command, frame: str) -> None:
    assert encode_command(command) == bytes.fromhex(frame)


@pytest.mark.parametrize(("command", "frame"), GOLDEN_COMMANDS.items(), ids=lambda v: getattr(v, "name", ""))
def test_each_documented_command_frame_decodes_to_its_command(command: Command, frame: str) -> None:
    decoded = decode_frame(bytes.fromhex(frame)).as_command()
    assert (decoded.cmd, decoded.para, decoded.data) == (*command.value, b"")
    assert decoded.command is command


@pytest.mark.parametrize(
    ("frame", "status", "data"),
    [
        ("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97", Status.CARD_FOUND, bytes(4)),
        ("AA AA AA 96 69 00 04 00 00 80 84", Status.NO_CARD, b""),
        ("AA AA AA 96 69 00 04 00 00 90 94", Status.OK, b""),
    ],
)
def test_documented_sam_answers_decode_to_their_status(frame: str, status: Status, data: bytes) -> None:
    response = decode_frame(bytes.fromhex(frame)).as_response()
    assert response is not None
    assert (response.sw1, response.sw2, response.status, response.data) == (0, 0, status, data)
    assert encode_response(status, data) == bytes.fromhex(frame)


def test_checksum_is_xor_of_length_and_body_not_preamble() -> None:
    assert checksum(bytes.fromhex("00 03 10 FF")) == 0xEC


def test_baud_change_commands_carry_the_rate_code() -> None:
    assert encode_command((0x60, Baud.B9600)) == bytes.fromhex("AA AA AA 96 69 00 03 60 04") + bytes(
        [0x03 ^ 0x60 ^ 0x04]
    )
    assert [b.rate for b in Baud] == [115200, 57600, 38400, 19200, 9600]


def test_read_answer_is_1295_bytes_with_text_at_14_and_photo_at_270() -> None:
    text = bytes(range(256))
    photo = bytes([0x5A]) * PHOTO_LEN
    frame = encode_response(Status.OK, build_read_data(text, photo))
    assert len(frame) == 1295
    assert frame[:10] == bytes.fromhex("AA AA AA 96 69 05 08 00 00 90")
    assert frame[10:14] == bytes.fromhex("01 00 04 00")
    assert frame[14:270] == text
    assert frame[270:1294] == photo
    chk = 0
    for byte in frame[5:-1]:  # the reference's CHK, worked here: XOR of everything after the preamble
        chk ^= byte
    assert frame[-1] == chk
    response = decode_frame(frame).as_response()
    assert response is not None
    assert split_read_data(response.data) == text


def test_read_answer_whose_lengths_do_not_add_up_is_refused() -> None:
    data = build_read_data(bytes(TEXT_LEN), bytes(PHOTO_LEN))
    with pytest.raises(ValueError, match="do not match"):
        split_read_data(data[:-1])
    with pytest.raises(ValueError, match="text length"):
        split_read_data(b"\x00\x10" + data[2:])


@pytest.mark.parametrize("body", [b"\x20\x01", b"\x00\x00\x90" + bytes(range(200)), b"\xaa" * 50])
def test_frames_round_trip(body: bytes) -> None:
    assert decode_frame(encode_frame(body)).body == body


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("AA AA AA 96 69 00 03 10 FF ED", "checksum"),
        ("AA AA AA 96 69 00 02 10 12", "length"),
        ("AA AA AA 96 69 00 03 10", "truncated"),
        ("01 02 03", "garbage"),
    ],
)
def test_a_bad_frame_is_refused_with_its_reason(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_frame(bytes.fromhex(raw))


def test_every_status_code_of_the_reference_has_a_text() -> None:
    documented = {0x90, 0x91, 0x9F, 0x10, 0x11, 0x21, 0x23, 0x24, 0x31, 0x32, 0x33, 0x37, 0x3F, 0x40,
                  0x41, 0x47, 0x60, 0x66, 0x80, 0x81}  # fmt: skip
    assert {int(s) for s in Status} == documented
    assert set(STATUS_TEXT) == set(Status)
