"""Resident ID numbers (GB 11643-1999): validation, the check character, and masking.

Validates format, check digit and a sane birth date, and makes the check character: the one place in the
product that computes it, so simulators, benchmarks and samples make numbers exactly as validation checks.
The region code is information, never a reason to refuse: real numbers (Pudong before 310115 existed,
Chongming before 2016, HK/Macao/Taiwan residence permits 81/82/83) are missing from region tables.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

__all__ = [
    "InvalidIdNumber",
    "birth_date",
    "is_shanghai",
    "is_valid",
    "mask",
    "mask_ids",
    "sex",
    "validate",
    "with_check_digit",
]

# ASCII digits only: Python's \d is any Unicode digit, and a full-width number (a phone's input) would pass,
# its int() and check digit computing as the ASCII one's, and be returned and stored unlike the one printed.
# What residents type is folded to ASCII first (protocol.typed.typed_id_number); here a number is one or not.
_FORMAT = re.compile(r"^[0-9]{17}[0-9X]$")
_BODY = re.compile(r"^[0-9]{17}$")


class InvalidIdNumber(ValueError):
    """The number is not a possible resident ID number; ``str()`` says why, without the number."""


def validate(number: str, today: date | None = None) -> str:
    """Return the number normalised (surrounding white space gone, upper-case X), or raise
    :class:`InvalidIdNumber`. A number as a resident typed it goes through
    :func:`protocol.typed.typed_id_number` first (full-width digits, inner spaces, dashes)."""
    n = number.strip().upper()
    if not _FORMAT.match(n):
        raise InvalidIdNumber("号码格式不对：应为17位数字加1位校验码")
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError as exc:
        raise InvalidIdNumber("出生日期不存在") from exc
    today = today or date.today()
    if born > today or born.year < 1890:
        raise InvalidIdNumber("出生日期不合理")
    if _check_character(n[:17]) != n[17]:
        raise InvalidIdNumber("校验码不符")
    return n


def with_check_digit(body: str) -> str:
    """The 18-character number whose first 17 digits are ``body``: ``body`` plus its check character.

    Raises :class:`InvalidIdNumber` unless ``body`` is 17 digits. The birth date is not checked here: a
    simulator may want a number that :func:`validate` then refuses for its date.
    """
    if not _BODY.match(body):
        raise InvalidIdNumber("号码主体应为17位数字")
    return body + _check_character(body)


def _check_character(body: str) -> str:
    # GB 11643-1999 is ISO 7064 MOD 11-2 over the 17-digit body, 10 written "X". stdnum.iso7064.mod_11_2
    # takes the body alone. stdnum.cn.ric.calc_check_digit does not: it expects the whole 18-character
    # number and drops the last character itself, so handing it the body computes over 16 digits (issue 10).
    # Imported here: stdnum's package loads pydoc, ssl and more (1.5 MB resident), which a terminal's sync
    # agent, never checking a number, need not hold.
    from stdnum.iso7064 import mod_11_2

    return mod_11_2.calc_check_digit(body)


def is_valid(number: str) -> bool:
    try:
        validate(number)
    except InvalidIdNumber:
        return False
    return True


def birth_date(number: str) -> date:
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def sex(number: str) -> Literal["M", "F"]:
    """``"M"`` or ``"F"`` from the parity of the sequence code."""
    return "M" if int(number[16]) % 2 else "F"


def is_shanghai(number: str) -> bool:
    """Shanghai household registration: address code starting 31."""
    return number.startswith("31")


def mask(number: str) -> str:
    """``310101********123X``: region and the last four stay, the birth date and more do not."""
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


# 17 digits and a check character, as people type them too: grouped by single spaces or dashes anywhere.
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:\d[ -]?){17}[\dXx](?![0-9A-Za-z])")
_GROUPING = re.compile(r"[ -]")


def mask_ids(text: str) -> str:
    """``text`` with every ID-number-shaped run masked as :func:`mask` does (logs, scans, form values: never
    shown whole) — ``310104 19921011 2663`` and ``310104-1992…`` too, as the number without its grouping."""
    return _ID_IN_TEXT.sub(lambda m: mask(_GROUPING.sub("", m.group(0)).upper()), text)
