"""Resident ID numbers (GB 11643-1999): validation and masking.

Validates format, check digit and a sane birth date. The region code is information, never a reason to
refuse: real numbers (Pudong before 310115 existed, Chongming before 2016, HK/Macao/Taiwan residence
permits 81/82/83) are missing from region tables.
"""

from __future__ import annotations

import re
from datetime import date

from stdnum.cn import ric

__all__ = ["InvalidIdNumber", "birth_date", "is_shanghai", "is_valid", "mask", "sex", "validate"]

_FORMAT = re.compile(r"^\d{17}[\dX]$")


class InvalidIdNumber(ValueError):
    """The number is not a possible resident ID number; ``str()`` says why, without the number."""


def validate(number: str, today: date | None = None) -> str:
    """Return the number normalised (upper-case X), or raise :class:`InvalidIdNumber`."""
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
    if ric.calc_check_digit(n[:17]) != n[17]:
        raise InvalidIdNumber("校验码不符")
    return n


def is_valid(number: str) -> bool:
    try:
        validate(number)
    except InvalidIdNumber:
        return False
    return True


def birth_date(number: str) -> date:
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def sex(number: str) -> str:
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
