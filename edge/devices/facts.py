"""The holder's facts, as every reader reports them, and the one check every ID number passes.

:class:`CardFacts` never shows an ID number whole in ``repr``/``str``: logs get ``310101********123X``.
Only :meth:`CardFacts.as_dict` with ``unmasked=True`` (a technician's explicit choice) shows it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import date
from typing import Literal

from edge.devices import messages
from edge.devices.errors import CardRefused
from protocol import idnumber

__all__ = ["CardFacts", "CardType", "Sex", "card_key", "checked_id_number", "parse_date"]

CardType = Literal["id_card", "sscard", "qr"]
Sex = Literal["M", "F"]


def parse_date(value: str) -> date:
    """A card's ``YYYYMMDD`` date; ``ValueError`` if it is not one."""
    if len(value) != 8 or not value.isdigit():
        raise ValueError(f"not a YYYYMMDD date: {value!r}")
    return date(int(value[0:4]), int(value[4:6]), int(value[6:8]))


def card_key(card_type: str, raw_number: str) -> str:
    """A stable, non-reversible identity for a card within this process (for "same card again?")."""
    return hashlib.sha256(f"{card_type}:{raw_number}".encode()).hexdigest()[:16]


def checked_id_number(raw: str, card_type: CardType, today: date | None = None) -> str:
    """The normalised ID number, or :class:`CardRefused` with a Chinese reason (never the number).

    Format, check digit and a sane birth date are checked; the region code never refuses a card.
    """
    try:
        return idnumber.validate(raw, today=today)
    except idnumber.InvalidIdNumber as exc:
        raise CardRefused(messages.text("refused_id_number", reason=str(exc)), key=card_key(card_type, raw)) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class CardFacts:
    """What a card says about its holder.

    ``birth_date`` and ``sex`` agree with the ID number (readers check it). ``valid_to`` is ``None`` for
    an ID card valid long-term (长期) and where a card does not say. ``nation``, ``address`` and
    ``issuer`` are ``None`` where the card type does not carry them (social-security cards).
    """

    card_type: CardType
    id_number: str
    name: str
    sex: Sex
    birth_date: date
    nation: str | None = None
    address: str | None = None
    issuer: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None

    @property
    def region_code(self) -> str:
        """The six-digit address code at the time of issue (information, never a reason to refuse)."""
        return self.id_number[:6]

    @property
    def is_shanghai(self) -> bool:
        """Shanghai household registration (address code starting 31)."""
        return idnumber.is_shanghai(self.id_number)

    @property
    def key(self) -> str:
        """See :func:`card_key`."""
        return card_key(self.card_type, self.id_number)

    def age(self, today: date | None = None) -> int:
        """Completed years on ``today``."""
        today = today or date.today()
        born = self.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    def as_dict(self, *, unmasked: bool = False) -> dict[str, str | None]:
        """JSON-ready fields; the ID number masked unless ``unmasked``."""
        out: dict[str, str | None] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, date) else value
        if not unmasked:
            out["id_number"] = idnumber.mask(self.id_number)
        return out

    def masked(self) -> dict[str, str | None]:
        """``as_dict()`` with the ID number masked: what may be logged or shown."""
        return self.as_dict()

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.masked().items())
        return f"CardFacts({inner})"

    __str__ = __repr__
