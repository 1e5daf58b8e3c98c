"""Fictional test identities with valid check digits, ages fixed relative to today.

Twelve people: Shanghai households (黄浦, 浦东 310115, 崇明 310151, 徐汇, 闵行, 静安, 杨浦) and others
(宁夏, 西藏, 吉林, 新疆, 江苏), ages 16 to 95 on the day they are built, both sexes, five nations.
Their numbers are computed, so a person aged 65 today is 65 whenever the tests run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from edge.devices.facts import CardFacts
from edge.devices.idtext import LONG_TERM, IdText, facts_from_text
from protocol.idnumber import with_check_digit

__all__ = ["BAD_CHECK_DIGIT", "Identity", "add_years", "all_identities", "identity", "population"]

#: key, name, sex (1/2), nation, age, address code, sequence, address, issuing authority
_PEOPLE = """
zhang-wei     张伟     1 01 72 310101 31 上海市黄浦区南京东路街道福州路318号 上海市公安局黄浦分局
wang-xiuying  王秀英   2 01 81 310115 42 上海市浦东新区潍坊路88弄5号        上海市公安局浦东分局
chen-jianguo  陈建国   1 01 68 310151 17 上海市崇明区城桥镇八一路120号      上海市公安局崇明分局
li-na         李娜     2 01 34 310104 26 上海市徐汇区天平路街道衡山路26弄3号 上海市公安局徐汇分局
liu-yang      刘洋     1 01 16 310112 55 上海市闵行区莘庄镇莘松路508弄12号  上海市公安局闵行分局
zhou-guilan   周桂兰   2 01 95 310106 08 上海市静安区新闸路1124号          上海市公安局静安分局
sun-zhiming   孙志明   1 01 65 310110 73 上海市杨浦区控江路街道凤城路60弄8号 上海市公安局杨浦分局
ma-li         马丽     2 03 45 640104 64 宁夏银川市兴庆区解放东街102号      银川市公安局兴庆分局
zhaxi-ciren   扎西次仁 1 04 29 540102 11 西藏拉萨市城关区北京中路46号      拉萨市公安局城关分局
jin-meiyu     金美玉   2 10 60 222401 38 吉林省延吉市河南街道光明街187号   延吉市公安局
ayiguli       阿依古丽 2 05 23 650102 90 新疆乌鲁木齐市天山区解放南路98号  乌鲁木齐市公安局天山区分局
huang-jun     黄俊     1 01 52 320508 47 江苏省苏州市姑苏区人民路1408号    苏州市公安局姑苏分局
"""

#: A key :func:`identity` also accepts: 张伟 with a wrong check digit, for refusal tests.
BAD_CHECK_DIGIT = "bad-check-digit"


@dataclass(frozen=True, slots=True)
class Identity:
    """One fictional person and the ID card they carry."""

    key: str
    name: str
    sex: str
    nation: str
    birth_date: date
    address: str
    id_number: str
    issuer: str
    valid_from: date
    valid_to: date | None  # None: 长期

    def card_facts(self, today: date | None = None) -> CardFacts:
        """What the reader driver makes of this card: its text block, checked and converted as read."""
        return facts_from_text(self.id_text(), today)

    def id_text(self) -> IdText:
        """The fields as the card's text block stores them."""
        return IdText(
            name=self.name,
            sex=self.sex,
            nation=self.nation,
            birth=f"{self.birth_date:%Y%m%d}",
            address=self.address,
            id_number=self.id_number,
            issuer=self.issuer,
            valid_from=f"{self.valid_from:%Y%m%d}",
            valid_to=LONG_TERM if self.valid_to is None else f"{self.valid_to:%Y%m%d}",
        )


def add_years(day: date, years: int) -> date:
    """``day`` moved by whole years (29 February becomes the 28th in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _build(row: str, today: date) -> Identity:
    key, name, sex, nation, age_, region, seq_, address, issuer = row.split()
    age, seq = int(age_), int(seq_)
    born = add_years(today - timedelta(days=30 + seq), -age)
    sequence = f"{seq:02d}{(1 if sex == '1' else 2) + 2 * (seq % 4)}"
    number = with_check_digit(f"{region}{born:%Y%m%d}{sequence}")
    # Cards are renewed: issued a while ago, valid 10 years under 26, 20 under 46, then 长期 (long-term).
    valid_from = max(add_years(today, -2) - timedelta(days=seq), add_years(born, 16))
    issue_age = valid_from.year - born.year
    years = 10 if issue_age < 26 else 20 if issue_age < 46 else None
    valid_to = None if years is None else add_years(valid_from, years)
    return Identity(key, name, sex, nation, born, address, number, issuer, valid_from, valid_to)


def all_identities(today: date | None = None) -> list[Identity]:
    """Every test identity, as of ``today``."""
    today = today or date.today()
    return [_build(row, today) for row in _PEOPLE.strip().splitlines()]


def identity(key: str, today: date | None = None) -> Identity:
    """The identity with this key (``zhang-wei``) or Chinese name (``张伟``); ``KeyError`` if none.

    :data:`BAD_CHECK_DIGIT` gives 张伟 with a check digit that fails.
    """
    people = all_identities(today)
    if key == BAD_CHECK_DIGIT:
        good = people[0]
        wrong = "0" if good.id_number[-1] != "0" else "1"
        return replace(good, key=BAD_CHECK_DIGIT, id_number=good.id_number[:17] + wrong)
    for person in people:
        if key in (person.key, person.name):
            return person
    raise KeyError(f"no test identity {key!r}; known: {', '.join(p.key for p in people)}")


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"
_DISTRICTS = [  # Shanghai's district codes, with a street in each
    ("310101", "黄浦区南京东路街道福州路"),
    ("310104", "徐汇区天平路街道衡山路"),
    ("310105", "长宁区华阳路街道安西路"),
    ("310106", "静安区江宁路街道昌平路"),
    ("310107", "普陀区长寿路街道西康路"),
    ("310109", "虹口区欧阳路街道四平路"),
    ("310110", "杨浦区控江路街道凤城路"),
    ("310112", "闵行区莘庄镇莘松路"),
    ("310115", "浦东新区潍坊新村街道潍坊路"),
    ("310151", "崇明区城桥镇八一路"),
]


def population(n: int, today: date | None = None) -> list[Identity]:
    """``n`` distinct fictional residents (ages 16 to 100, both sexes, ten districts), the same list for the
    same ``n`` and day: a benchmark's many card holders, where the twelve named people would all look alike."""
    today = today or date.today()
    people = []
    for i in range(n):
        region, street = _DISTRICTS[i % len(_DISTRICTS)]
        age = 16 + i * 7 % 85
        born = add_years(today - timedelta(days=1 + i * 13 % 360), -age)
        sex = "1" if i % 2 == 0 else "2"
        sequence = f"{i // 10 % 100:02d}{(1 if sex == '1' else 2) + 2 * (i // 1000 % 4)}"
        number = with_check_digit(f"{region}{born:%Y%m%d}{sequence}")
        valid_from = max(add_years(today, -3), add_years(born, 16))
        name = _SURNAMES[i % 20] + _GIVEN[i // 20 % 20] + (_GIVEN[i // 400 % 20] if i >= 400 else "")
        people.append(
            Identity(
                f"resident-{i}", name, sex, "01", born, f"上海市{street}{1 + i % 400}弄{1 + i % 30}号", number,
                "上海市公安局", valid_from, None if age >= 46 else add_years(valid_from, 20 if age >= 26 else 10),
            )
        )  # fmt: skip
    return people
