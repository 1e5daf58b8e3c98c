"""Does a card's address lie in the committee's own area? Chinese addresses parsed, areas as streets and lanes.

An ID card's address is the household registration (户籍) address, often not where one lives, and a
social-security card carries none. So the card can only ever *confirm* that someone lives here: when its
address names a street (and lane) of the committee's area in the committee's district. Anything else (no
address, another district, a street or lane outside the area, an address the parser cannot read, a
committee whose area is not set) leaves it unknown, for staff to check with a residence registration or a
居住证. A parsing mistake can therefore only cost a staff check, never let someone through.

A committee's area (居委会辖区) is its district and a list of streets, each whole or by number ranges:
``潍坊路 1-200`` covers 潍坊路88弄5号 and 潍坊路120号 (a lane's 弄 number and a house's 号 on the street
itself share the street's numbering); ``1-199单`` takes the odd numbers only, ``2-200双`` the even ones
(the two sides of a street often belong to different committees).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pydantic import Field, field_validator

from protocol.envelope import Strict

__all__ = ["Address", "CommitteeArea", "InvalidArea", "StreetSpan", "canonical_district", "parse_address"]

# The 16 districts, and the names older cards still carry (merged or renamed since).
_DISTRICTS = (
    *("黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区"),
    *("宝山区", "嘉定区", "浦东新区", "金山区", "松江区", "青浦区", "奉贤区", "崇明区"),
)
_FORMER = {
    "卢湾区": "黄浦区",  # merged 2011
    "南市区": "黄浦区",  # merged 2000
    "闸北区": "静安区",  # merged 2015
    "南汇区": "浦东新区",  # merged 2009
    "川沙县": "浦东新区",
    "上海县": "闵行区",
    "崇明县": "崇明区",  # 2016
    "宝山县": "宝山区",
    "嘉定县": "嘉定区",
    "金山县": "金山区",
    "松江县": "松江区",
    "青浦县": "青浦区",
    "奉贤县": "奉贤区",
}
_DISTRICT_NAMES = sorted([*_DISTRICTS, *_FORMER], key=len, reverse=True)
_SUBDISTRICT = re.compile(r"^[\u4e00-\u9fff]{2,10}?(?:街道|镇|乡)(?=\S)")
_STREET = re.compile(r"^([^\d]+?)(?=\d|$)")
_NUMBERS = re.compile(r"^(\d+)(?:[-－—~]\d+)?(弄|号)")
_PROVINCE = re.compile(r"^[\u4e00-\u9fff]{2,8}?(?:省|自治区)")
_CITY = re.compile(r"^[\u4e00-\u9fff]{2,8}?(?:市|自治州|地区|盟)")
_COUNTY = re.compile(r"^[\u4e00-\u9fff]{1,6}?(?:区|县|旗)(?=\D)")


class InvalidArea(ValueError):
    """A committee area setting that cannot be read (an unknown district, a bad number range)."""


def canonical_district(name: str) -> str | None:
    """``浦东新区`` for 浦东新区, 浦东 or 南汇区; ``None`` for a name that is no Shanghai district."""
    text = unicodedata.normalize("NFKC", name).strip().removeprefix("上海市").removeprefix("上海")
    if text in _FORMER:
        return _FORMER[text]
    for district in _DISTRICTS:
        if text in (district, district.removesuffix("区"), district.removesuffix("新区")):
            return district
    return None


@dataclass(frozen=True)
class Address:
    """What :func:`parse_address` could read; a part it could not find is ``None``.

    ``district`` is a current Shanghai district name, or ``None`` (outside Shanghai, or not found);
    ``lane`` the 弄 number and ``number`` the 号 that follows the street (or the lane).
    """

    district: str | None
    street: str | None
    lane: int | None
    number: int | None


def parse_address(text: str) -> Address:
    """Read district, street, lane (弄) and number (号) from an address as printed on an ID card.

    ``上海市浦东新区潍坊新村街道潍坊路88弄5号`` → 浦东新区, 潍坊路, 88, 5. The subdistrict or town
    (…街道, …镇) is skipped, full-width digits are read as digits, and a former district name (卢湾区,
    闸北区, 南汇区, 崇明县 …) becomes the district it is now part of. An address outside Shanghai has no
    district here.
    """
    rest = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    rest = rest.removeprefix("上海市").removeprefix("上海")
    district = next((name for name in _DISTRICT_NAMES if rest.startswith(name)), None)
    if district is None:  # 江苏省苏州市姑苏区…: another province or city, whatever district it names
        rest = _COUNTY.sub("", _CITY.sub("", _PROVINCE.sub("", rest, count=1), count=1), count=1)
    else:
        rest = rest[len(district) :]
        district = _FORMER.get(district, district)
    rest = _SUBDISTRICT.sub("", rest, count=1)
    street = None
    if m := _STREET.match(rest):
        street = m.group(1) or None
        rest = rest[m.end() :]
    lane = number = None
    while m := _NUMBERS.match(rest):
        value, kind = int(m.group(1)), m.group(2)
        if kind == "弄" and lane is None and number is None:
            lane = value
        elif kind == "号" and number is None:
            number = value
        else:
            break
        rest = rest[m.end() :]
        rest = re.sub(r"^\d+支弄", "", rest)  # 88弄3支弄5号: the branch lane does not move the address
    return Address(district, street, lane, number)


_RANGE = re.compile(r"^(\d+)(?:\s*(?:-|－|–|—|~|至)\s*(\d+))?\s*(单|双)?$")


@dataclass(frozen=True)
class _Span:
    first: int
    last: int
    parity: int | None  # 1 odd (单), 0 even (双), None both

    def covers(self, n: int) -> bool:
        return self.first <= n <= self.last and (self.parity is None or n % 2 == self.parity)


def _spans(text: str) -> tuple[_Span, ...]:
    spans = []
    for part in re.split(r"[,，、;；]", unicodedata.normalize("NFKC", text)):
        part = part.strip().removesuffix("弄").removesuffix("号")
        if not part:
            continue
        m = _RANGE.match(part)
        if m is None:
            raise InvalidArea(f"not a number range: {part!r} (write 1-200, 88, 1-199单 or 2-200双)")
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first:
            raise InvalidArea(f"range {part!r} runs backwards")
        spans.append(_Span(first, last, {"单": 1, "双": 0}.get(m.group(3) or "")))
    return tuple(spans)


class StreetSpan(Strict):
    """One street of the area: whole, or the numbers in ``lanes``."""

    street: str = Field(min_length=2, max_length=32, description="the street as addresses spell it: 潍坊路")
    lanes: str = Field(
        default="",
        max_length=200,
        description="numbers on the street that belong to the area: 1-200, 88, 1-199单 (odd), 2-200双 (even), "
        "comma separated; a lane's 弄 and a house's 号 on the street share this numbering. Empty: the whole street",
    )

    @field_validator("lanes")
    @classmethod
    def _readable(cls, value: str) -> str:
        try:
            _spans(value)
        except InvalidArea as exc:
            raise ValueError(str(exc)) from None
        return value

    def covers(self, address: Address) -> bool:
        if address.street != unicodedata.normalize("NFKC", self.street).strip():
            return False
        spans = _spans(self.lanes)
        if not spans:
            return True
        n = address.lane if address.lane is not None else address.number
        return n is not None and any(span.covers(n) for span in spans)


class CommitteeArea(Strict):
    """A neighbourhood committee's area: its district and streets (set per terminal at provisioning)."""

    district: str = Field(description="the district, as 浦东新区 (浦东 also reads)")
    streets: list[StreetSpan] = Field(min_length=1, description="the streets, each whole or by number ranges")

    @field_validator("district")
    @classmethod
    def _known(cls, value: str) -> str:
        district = canonical_district(value)
        if district is None:
            raise ValueError(f"{value!r} is not a Shanghai district")
        return district

    def covers(self, address: str | None) -> bool:
        """True only when ``address`` names this district and a street (and number) of the area."""
        if not address:
            return False
        parsed = parse_address(address)
        return parsed.district == self.district and any(s.covers(parsed) for s in self.streets)
