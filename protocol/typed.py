"""What residents type, made comparable with what was printed or stored: the one place it is read.

A receipt number, a query code, an ID number and a phone number reach us typed on a phone (its Chinese
input gives full-width ``ＪＷ００１``, ``１２３``), on a kiosk, or pasted from a message (with white space
around it, a zero-width space inside, a line break at the end); people write a lower-case ``x`` and group
digits with spaces, dashes or parentheses. Every channel — the resident portal, Open311, the kiosk's
progress look-up and its application form — reads them through these functions before it validates, stores
or looks anything up, so the same keystrokes find the same case everywhere:

- Unicode NFKC first (full-width letters, digits and dash to ASCII; the ideographic space to a space);
- every dash (Unicode category Pd, and the minus sign NFKC keeps) to ``-``;
- white space and invisible format characters (zero-width space, BOM, direction marks) removed;
- upper-cased where the printed value is upper case (the ID number's check character ``X``, the query code).

Stdlib only: :mod:`protocol.idnumber` and the edge's device layer may use it without pydantic.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

__all__ = [
    "RECEIPT_PATTERN",
    "fold",
    "typed_date",
    "typed_id_number",
    "typed_phone",
    "typed_query_code",
    "typed_receipt",
]

RECEIPT_PATTERN = r"^[A-Za-z0-9]{1,16}-\d{8}-\d{4,6}$"
"""A receipt number: committee code, the day it was made (``YYYYMMDD``, local) and that day's sequence, e.g.
``JW001-20261204-0042`` (a terminal's own series digit makes it five digits, Open311's are six). Here, where
what people type is read back into it; :mod:`protocol.cases` gives it to the wire model."""

_RECEIPT = re.compile(RECEIPT_PATTERN)
_CODE_MAX, _DATE_LEN, _SEQ_LENS = 16, 8, (4, 5, 6)
_YEARS = range(2000, 2100)  # a receipt's day is one this system ran on: 1202-01-23 is not a receipt's date
_ALNUM = re.compile(r"[A-Za-z0-9]+")

_MOBILE_ABROAD = re.compile(r"^(?:\+86|0086|86)(1[3-9]\d{9})$")  # a mainland mobile written for abroad
_PHONE_GROUPING = str.maketrans("", "", "-()")

_DATE_PARTS = re.compile(r"^(\d{4})\D+(\d{1,2})\D+(\d{1,2})\D*$")  # any marks between: - / . and 年 月 日

_DASHES = {"\u2212": "-"}  # the minus sign; NFKC keeps it, as it keeps every dash but the full-width one


def fold(text: str) -> str:
    """``text`` after NFKC, with every dash as ``-`` and no white space or invisible format character."""
    return _fold(text, space="")


def _fold(text: str, space: str) -> str:
    """:func:`fold`, with each white-space character as ``space``."""
    return "".join(
        space if c.isspace() else "-" if unicodedata.category(c) == "Pd" else _DASHES.get(c, c)
        for c in unicodedata.normalize("NFKC", text)
        if unicodedata.category(c) != "Cf"
    )


def typed_receipt(text: str) -> tuple[str, ...]:
    """A receipt number as a person typed it, made comparable with the one printed: what it may be, most
    likely first, each upper-cased (how committee codes are written), then each with its letters as typed
    (for a committee code configured in lower case, which the receipt pattern allows). The first is the
    number to count failed look-ups against; look up all of them.

    - Read through :func:`fold` (``ＪＷ００１－…`` to ``JW001-…``) and with its dashes where they were typed, it
      is a receipt number: that one (the dashes are part of the number).
    - Otherwise the dashes were typed elsewhere, as spaces (``JW001 20261204 0042``) or not at all
      (``JW001202612040042``): it is read from its letters and digits alone, from the end — a sequence of
      4–6 digits, before it a real date (year 2000–2099), before that a committee code. A code ending in
      digits can make that ambiguous (``A20 20101231 0001`` or ``A 20201012 310001``): every reading is
      returned, those with their groups where the person put spaces or dashes first, then the shorter
      sequence (the common one).
    - Anything else is returned folded, upper-cased and as typed: it finds nothing."""
    folded = fold(text)
    readings = [folded] if _RECEIPT.match(folded) else _readings(text)
    if not readings:
        return folded.upper(), folded
    return *dict.fromkeys(r.upper() for r in readings), *dict.fromkeys(readings)


def reads_as_receipt(text: str) -> bool:
    """Whether ``text`` can be read as a whole receipt number (:func:`typed_receipt` finds a reading)."""
    return bool(_RECEIPT.match(fold(text)) or _readings(text))


def _readings(text: str) -> list[str]:
    """The receipt numbers ``text``'s letters and digits can be, in order of likelihood (:func:`typed_receipt`)."""
    groups = [g for g in _fold(text, space="-").split("-") if g]  # a space parts groups as a dash does
    chars = "".join(groups)
    if not _ALNUM.fullmatch(chars):
        return []
    breaks, at = set(), 0  # where the person put a space or a dash, as offsets into ``chars``
    for g in groups[:-1]:
        at += len(g)
        breaks.add(at)
    found: list[tuple[int, int, str]] = []
    for n in _SEQ_LENS:
        code, day, seq = chars[: -n - _DATE_LEN], chars[-n - _DATE_LEN : -n], chars[-n:]
        if not 1 <= len(code) <= _CODE_MAX or not (day + seq).isdigit() or not _real_day(day):
            continue
        placed = len({len(code), len(code) + _DATE_LEN} & breaks)
        found.append((-placed, n, f"{code}-{day}-{seq}"))
    return [r for _, _, r in sorted(found)]


def _real_day(day: str) -> bool:
    """``YYYYMMDD`` is a day of the calendar in the years a receipt can have been made."""
    try:
        return date(int(day[:4]), int(day[4:6]), int(day[6:])).year in _YEARS
    except ValueError:
        return False


def typed_query_code(text: str) -> str:
    """A receipt's query code (six of ``0-9A-Z``) as typed: :func:`fold`, dashes dropped, upper-cased."""
    return _compact(text)


def typed_id_number(text: str) -> str:
    """A resident ID number as typed (``３１０１０１ 1990-0307 751x``), ready for
    :func:`protocol.idnumber.validate`: :func:`fold`, the dashes people group digits with dropped (the
    number has none), the check character upper-cased. Nothing is checked here: a wrong number stays wrong."""
    return _compact(text)


def _compact(text: str) -> str:
    """A value with no dash of its own, as typed: :func:`fold`, dashes dropped, upper-cased."""
    return fold(text).replace("-", "").upper()


def typed_phone(text: str) -> str:
    """A phone number as typed (``+86 138-0013-8000``, ``(021) 6234 5678``, a phone's full-width
    ``１３８…``), as it is stored: digits only — :func:`fold`, the dashes and parentheses people group digits
    with dropped, and the country prefix (``+86``, ``0086``, ``86``) of a mainland mobile dropped
    (``13800138000``); a landline keeps its area code's 0 (``02162345678``). Nothing is checked here: the
    caller's validation says what it accepts (a mobile only, or a landline too)."""
    digits = fold(text).translate(_PHONE_GROUPING)
    abroad = _MOBILE_ABROAD.match(digits)
    return abroad.group(1) if abroad else digits


def typed_date(text: str) -> str:
    """A date as typed — ``20260105`` on the kiosk's keypad, ``2026-1-5``, ``2026/01/05``, ``2026年1月5日``,
    full-width — as ISO ``2026-01-05``; what is not one stays as typed (:func:`fold`), for the caller's
    check to refuse. The kiosk has no keyboard but its keypads: a browser's date field took only a hardware
    keyboard or a 20-pixel calendar icon (an accessibility review)."""
    folded = fold(text)
    digits = folded if folded.isdigit() and len(folded) == _DATE_LEN else ""
    parts = (digits[:4], digits[4:6], digits[6:]) if digits else None
    if parts is None and (m := _DATE_PARTS.match(folded)):
        parts = (m.group(1), m.group(2), m.group(3))
    if parts is None:
        return folded
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2])).isoformat()
    except ValueError:
        return folded
