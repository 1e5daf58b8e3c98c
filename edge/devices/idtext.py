"""The ID card's 256-byte text block (UTF-16LE, space padded) and the data of a read response.

``30 01`` answers ``text_len(2) photo_len(2) text photo``; ``30 10`` adds a fingerprint length after the
photo length and the fingerprint after the photo. The photo (WLT, biometric) and fingerprint are only
sliced past: nothing here keeps them. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import date

from edge.devices import codes, messages
from edge.devices.errors import CardRefused
from edge.devices.facts import CardFacts, card_key, checked_id_number, parse_date
from protocol import idnumber

__all__ = [
    "LONG_TERM",
    "PHOTO_LEN",
    "TEXT_LEN",
    "IdText",
    "build_read_data",
    "decode_text_block",
    "encode_text_block",
    "facts_from_text",
    "split_read_data",
]

TEXT_LEN = 256
PHOTO_LEN = 1024
LONG_TERM = "长期"

#: (field, byte offset, byte length) in the text block; 36 reserved bytes follow at 220.
LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("name", 0, 30),
    ("sex", 30, 2),
    ("nation", 32, 4),
    ("birth", 36, 16),
    ("address", 52, 70),
    ("id_number", 122, 36),
    ("issuer", 158, 30),
    ("valid_from", 188, 16),
    ("valid_to", 204, 16),
)


@dataclass(frozen=True, slots=True)
class IdText:
    """The text block's fields as the card stores them (codes and ``YYYYMMDD`` strings, padding removed).

    ``repr`` shows no ID number: this is personal data on its way to :class:`CardFacts`.
    """

    name: str
    sex: str
    nation: str
    birth: str
    address: str
    id_number: str
    issuer: str
    valid_from: str
    valid_to: str

    def __repr__(self) -> str:
        return f"IdText(name={self.name!r}, id_number={idnumber.mask(self.id_number)!r}, …)"


def decode_text_block(block: bytes) -> IdText:
    """Split a 256-byte text block into its fields; ``ValueError`` when it is not one."""
    if len(block) != TEXT_LEN:
        raise ValueError(f"text block is {len(block)} bytes, expected {TEXT_LEN}")
    values = []
    for _, offset, size in LAYOUT:
        try:
            values.append(block[offset : offset + size].decode("utf-16-le").strip(" \x00"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"text block field at {offset} is not UTF-16LE") from exc
    return IdText(*values)


def encode_text_block(text: IdText) -> bytes:
    """The 256-byte block for ``text`` (what a SAM sends; used by the simulator and tests)."""
    block = bytearray(" ".encode("utf-16-le") * (TEXT_LEN // 2))
    for (name, offset, size), value in zip(LAYOUT, astuple(text), strict=True):
        raw = value.encode("utf-16-le")
        if len(raw) > size:
            raise ValueError(f"{name} is longer than its {size // 2} characters")
        block[offset : offset + len(raw)] = raw
    return bytes(block)


def split_read_data(data: bytes, *, with_fingerprint: bool = False) -> bytes:
    """The text block from a read response's data, after checking every declared length adds up.

    Raises ``ValueError`` for a response whose lengths do not match what it carries.
    """
    head = 6 if with_fingerprint else 4
    if len(data) < head:
        raise ValueError("read response shorter than its length fields")
    lengths = [int.from_bytes(data[i : i + 2], "big") for i in range(0, head, 2)]
    if lengths[0] != TEXT_LEN:
        raise ValueError(f"text length {lengths[0]}, expected {TEXT_LEN}")
    if head + sum(lengths) != len(data):
        raise ValueError(f"declared lengths {lengths} do not match {len(data) - head} data bytes")
    return data[head : head + TEXT_LEN]


def build_read_data(block: bytes, photo: bytes) -> bytes:
    """Data of a ``30 01`` answer: lengths, text block, photo."""
    return len(block).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + block + photo


def facts_from_text(text: IdText, today: date | None = None) -> CardFacts:
    """Check the fields and turn them into :class:`CardFacts`, or raise :class:`CardRefused`.

    The ID number must pass :func:`protocol.idnumber.validate`; the birth date on the card must be the
    one in the number. Sex comes from the card (1/2), or the number where the card says 0/9.
    """
    number = checked_id_number(text.id_number, "id_card", today)
    key = card_key("id_card", text.id_number)
    try:
        birth = parse_date(text.birth)
        valid_from = parse_date(text.valid_from) if text.valid_from else None
        valid_to = None if text.valid_to in ("", LONG_TERM) else parse_date(text.valid_to)
    except ValueError:
        raise CardRefused(messages.text("refused_unreadable"), key=key) from None
    if birth != idnumber.birth_date(number):
        raise CardRefused(messages.text("refused_birth_mismatch"), key=key)
    sex = codes.sex_letter(text.sex) or idnumber.sex(number)
    return CardFacts(
        card_type="id_card",
        id_number=number,
        name=text.name,
        sex="M" if sex == "M" else "F",
        birth_date=birth,
        nation=codes.nation_name(text.nation) or text.nation or None,
        address=text.address or None,
        issuer=text.issuer or None,
        valid_from=valid_from,
        valid_to=valid_to,
    )
