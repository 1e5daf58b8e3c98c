"""Eligibility rules: who may apply for what, from the card's facts and what staff confirm.

A resident taps a card; the kiosk builds :class:`Attributes` (age, sex, household, card type) and evaluates
each catalogue item's rule in three-valued logic. These tests run a table of residents against seed items,
check that an unknown attribute yields NEEDS_CHECK with the question staff must answer, that malformed
rules are refused when loaded, and (with Hypothesis) that the logic is Kleene's: double negation and
De Morgan hold, and learning more facts never overturns a definite verdict.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol.catalogue import Catalogue, load_seed
from protocol.eligibility import (
    ATTRIBUTES,
    MAX_RULE_DEPTH,
    AllOf,
    AnyOf,
    Attributes,
    Compare,
    Eligibility,
    InvalidRule,
    Not,
    Op,
    Rule,
    always,
    evaluate,
    parse_rule,
    rule_depth,
    status,
)
from protocol.idnumber import InvalidIdNumber
from tests.support import check_character

E, C, N = Eligibility.ELIGIBLE, Eligibility.NEEDS_CHECK, Eligibility.NOT_ELIGIBLE
TODAY = date(2026, 3, 2)


def id_number(region: str, born: date, seq: str) -> str:
    """A valid GB 11643 number; the last digit of ``seq`` is odd for a man, even for a woman."""
    body = f"{region}{born:%Y%m%d}{seq}"
    return body + check_character(body)


def card(region: str, born: date, seq: str, card_type: str = "id_card") -> Attributes:
    return Attributes.from_card(today=TODAY, id_number=id_number(region, born, seq), card_type=card_type)


ELDER_SH_WOMAN = card("310104", date(1955, 6, 10), "022")  # 70
YOUNG_OTHER_MAN = card("320102", date(1995, 8, 15), "013")  # 30, Nanjing household
TEEN = card("310115", date(2009, 12, 1), "011")  # 16
NONAGENARIAN = card("310101", date(1930, 5, 5), "024")  # 95
SSCARD_HOLDER = card("310110", date(1980, 1, 1), "035", card_type="sscard")  # 46
ALMOST_65 = card("310106", date(1961, 3, 20), "041")  # 64, 65 within a month
WORKING_MAN = card("310101", date(1986, 4, 2), "015")  # 39, Shanghai household
# The walk-through: women born 1931 and 1945 were offered 生育登记.
BORN_1931 = card("310115", date(1931, 2, 14), "028")  # 95
BORN_1945 = card("310104", date(1945, 11, 3), "046")  # 80

TABLE = [
    # 70-year-old Shanghai woman
    (ELDER_SH_WOMAN, "MZ-001", E),  # 老年综合津贴
    (ELDER_SH_WOMAN, "MZ-002", E),  # 敬老卡
    (ELDER_SH_WOMAN, "MZ-004", C),  # 老年助餐: 60 or over, but does she live here? No committee area given
    (ELDER_SH_WOMAN, "YB-005", C),  # 照护评估: is she insured?
    (ELDER_SH_WOMAN, "CL-002", C),  # 残疾人证换领: does she hold one?
    (ELDER_SH_WOMAN, "GA-001", E),  # 居住登记 is open to anyone living here
    (ELDER_SH_WOMAN, "RS-001", N),  # 就业登记: past any woman's retirement age (58 at most)
    (ELDER_SH_WOMAN, "WJ-001", N),  # 生育登记: over 55
    (ELDER_SH_WOMAN, "RS-006", E),  # 社保卡申领 with an ID card
    (ELDER_SH_WOMAN, "WJ-004", C),  # 计生特别扶助
    # 30-year-old man from another province
    (YOUNG_OTHER_MAN, "MZ-001", N),
    (YOUNG_OTHER_MAN, "GA-001", E),
    (YOUNG_OTHER_MAN, "GA-002", C),  # 居住证: registered for six months?
    (YOUNG_OTHER_MAN, "YB-001", C),  # 居民医保: residence permit? employee insurance?
    (YOUNG_OTHER_MAN, "MZ-005", N),  # 低保 needs a Shanghai household
    (YOUNG_OTHER_MAN, "MZ-006", E),  # 临时救助 has no restriction
    (YOUNG_OTHER_MAN, "ZF-002", C),  # 公租房
    (YOUNG_OTHER_MAN, "WJ-001", E),  # 生育登记: a man of 30
    # 16-year-old
    (TEEN, "RS-001", E),  # 就业登记: 16, far below a man's retirement age
    (TEEN, "RS-002", C),  # 失业登记: is he out of work?
    (TEEN, "MZ-004", N),
    (TEEN, "WJ-001", N),  # below marriage age
    (TEEN, "RS-006", E),
    (TEEN, "MZ-007", C),  # 特困: neither old nor under 16; disability unknown
    # 95-year-old
    (NONAGENARIAN, "MZ-001", E),
    (NONAGENARIAN, "YB-006", C),  # 高龄老人医疗护理: insurance and care level unknown
    (NONAGENARIAN, "WJ-003", C),  # 独生子女父母年老奖励: age already suffices, certificate unknown
    (NONAGENARIAN, "RS-010", N),  # 城乡居民养老保险参保: enrolment is from 16 to 59
    (NONAGENARIAN, "RS-001", N),  # 就业登记 and 失业登记: a 95-year-old, no staff check
    (NONAGENARIAN, "RS-002", N),
    (NONAGENARIAN, "GH-001", N),  # 工会入会 likewise
    (NONAGENARIAN, "YB-002", N),  # 生育保险待遇: 18 to 55
    (NONAGENARIAN, "WJ-002", N),  # 独生子女父母奖励 runs until the child is 16: parents of 70 at most
    (BORN_1931, "WJ-001", N),
    (BORN_1945, "WJ-001", N),
    # 39-year-old man: working age
    (WORKING_MAN, "RS-001", E),
    (WORKING_MAN, "RS-002", C),  # out of work?
    (WORKING_MAN, "WJ-001", E),
    (WORKING_MAN, "RS-010", C),  # in the employee pension scheme?
    # social-security card
    (SSCARD_HOLDER, "RS-006", N),  # already holds a card
    (SSCARD_HOLDER, "RS-004", E),
    (SSCARD_HOLDER, "RS-007", E),
    # one month before the 65th birthday
    (ALMOST_65, "MZ-001", E),  # may apply a month early
    (ALMOST_65, "MZ-002", N),
]


@pytest.fixture(scope="module")
def seed() -> Catalogue:
    return load_seed()


@pytest.mark.parametrize(("attrs", "code", "expected"), TABLE)
def test_residents_against_seed_items(seed: Catalogue, attrs: Attributes, code: str, expected: Eligibility) -> None:
    verdict = seed.item(code).evaluate(attrs)
    assert verdict.status is expected, verdict.reason
    assert verdict.reason


def test_card_facts() -> None:
    assert ELDER_SH_WOMAN.values == {
        "age": 70,
        "age_next_month": 70,
        "sex": "F",
        "household": "shanghai",
        "card_type": "id_card",
        # Born 1955: before every schedule moved (1965 men, 1970 and 1975 women), 55 at most: reached in 2010.
        "retirement_age_reached": True,
    }
    assert YOUNG_OTHER_MAN.get("household") == "other" and YOUNG_OTHER_MAN.get("sex") == "M"
    assert TEEN.get("age") == 16 and NONAGENARIAN.get("age") == 95
    assert ALMOST_65.get("age") == 64 and ALMOST_65.get("age_next_month") == 65
    assert ELDER_SH_WOMAN.get("disabled") is None, "the card cannot know"


def test_age_turns_on_the_birthday() -> None:
    born = date(1961, 3, 3)
    assert Attributes.from_card(today=date(2026, 3, 2), birth_date=born).get("age") == 64
    assert Attributes.from_card(today=date(2026, 3, 3), birth_date=born).get("age") == 65


def test_leap_day_birthday_and_month_end() -> None:
    leap = date(1960, 2, 29)
    assert Attributes.from_card(today=date(2025, 2, 28), birth_date=leap).get("age") == 64
    assert Attributes.from_card(today=date(2025, 3, 1), birth_date=leap).get("age") == 65
    # 31 January + one month is the last day of February.
    assert Attributes.from_card(today=date(2025, 1, 31), birth_date=date(1960, 2, 28)).get("age_next_month") == 65


def test_card_without_number_or_birth_date_leaves_age_and_household_unknown() -> None:
    attrs = Attributes.from_card(today=TODAY, card_type="qr", sex="U")
    assert attrs.values == {"card_type": "qr"}
    verdict = evaluate(parse_rule({"attr": "age", "op": ">=", "value": 65}), attrs)
    assert verdict.status is C and verdict.to_check == ("age",)


def test_invalid_id_number_is_refused() -> None:
    good = id_number("310104", date(1955, 6, 10), "022")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(InvalidIdNumber):
        Attributes.from_card(today=TODAY, id_number=bad)


def test_eligible_reason_is_the_items_own_wording(seed: Catalogue) -> None:
    verdict = seed.item("MZ-001").evaluate(ELDER_SH_WOMAN)
    assert verdict.reason == "符合条件：年满65周岁（可提前一个月申请）的本市户籍老年人"


def test_not_eligible_reason_names_the_failing_clause(seed: Catalogue) -> None:
    verdict = seed.item("MZ-001").evaluate(YOUNG_OTHER_MAN)
    assert verdict.reason.startswith("不符合条件：户籍为外省市户籍")
    assert "年满65周岁" in verdict.reason
    verdict = seed.item("RS-006").evaluate(SSCARD_HOLDER)
    assert verdict.details == ("所用卡证为社会保障卡",)


def test_unknown_attribute_gives_needs_check_with_the_question(seed: Catalogue) -> None:
    verdict = seed.item("CL-002").evaluate(ELDER_SH_WOMAN)
    assert verdict.status is C
    assert verdict.reason.startswith("需工作人员核实：是否持有残疾人证")
    assert verdict.to_check == ("disabled",)
    assert verdict.details == ("是否持有残疾人证",)


def test_staff_facts_settle_a_needs_check(seed: Catalogue) -> None:
    item = seed.item("CL-003")  # 重残无业人员补助
    checked = WORKING_MAN.with_facts(disabled=True, disability_grade=1, unemployed=True)
    assert item.evaluate(checked).status is E
    grade3 = checked.with_facts(disability_grade=3)
    verdict = item.evaluate(grade3)
    assert verdict.status is N and "残疾等级高于2级" in verdict.details
    assert item.evaluate(checked.with_facts(disability_grade=None)).status is C


def test_a_false_clause_decides_an_all_even_with_unknowns() -> None:
    rule = parse_rule(
        {"all": [{"attr": "disabled", "op": "==", "value": True}, {"attr": "age", "op": ">=", "value": 65}]}
    )
    verdict = evaluate(rule, YOUNG_OTHER_MAN)
    assert verdict.status is N and verdict.details == ("年龄低于65周岁",)
    rule = parse_rule(
        {"any": [{"attr": "disabled", "op": "==", "value": True}, {"attr": "age", "op": "<", "value": 65}]}
    )
    assert evaluate(rule, YOUNG_OTHER_MAN).status is E


def test_always_true_rule() -> None:
    assert evaluate(always(), Attributes()).status is E
    assert evaluate(AnyOf(any=[]), Attributes()).status is N


def test_in_operator() -> None:
    rule = parse_rule({"attr": "card_type", "op": "in", "value": ["id_card", "sscard"]})
    assert evaluate(rule, ELDER_SH_WOMAN).status is E
    qr = Attributes.from_card(today=TODAY, card_type="qr")
    verdict = evaluate(rule, qr)
    assert verdict.status is N and verdict.details == ("所用卡证为电子证照码或人工录入",)
    grades = parse_rule({"attr": "disability_grade", "op": "in", "value": [1, 2]})
    assert evaluate(grades, Attributes({"disability_grade": 3})).details == ("残疾等级不为1或2级",)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"attr": "income", "op": "<", "value": 100}, "unknown attribute 'income'"),
        ({"attr": "age", "op": "~=", "value": 65}, "op"),
        ({"attr": "age", "op": ">=", "value": "65"}, "takes an integer"),
        ({"attr": "age", "op": ">=", "value": True}, "takes an integer"),
        ({"attr": "sex", "op": "<", "value": "F"}, "needs a number"),
        ({"attr": "sex", "op": "==", "value": "X"}, "takes one of M, F"),
        ({"attr": "disabled", "op": "==", "value": 1}, "true or false"),
        ({"attr": "age", "op": "in", "value": []}, "non-empty list"),
        ({"attr": "age", "op": "==", "value": [1, 2]}, "single value"),
        ({"all": [{"attr": "age", "op": ">=", "value": 65}], "any": []}, "Extra inputs"),
        ({"all": [{"not": {"attr": "nope", "op": "==", "value": 1}}]}, r"all\[0\]\.not: unknown attribute"),
        ({"eval": "__import__('os').system('true')"}, "a rule is"),
        ({"attr": "age", "op": ">=", "value": 65, "code": "x"}, "Extra inputs"),
        ([], "a rule is"),
    ],
)
def test_malformed_rules_are_refused_at_load(rule: object, message: str) -> None:
    with pytest.raises(InvalidRule, match=message):
        parse_rule(json.dumps(rule))


def test_deeply_nested_rules_are_refused() -> None:
    rule: dict[str, object] = {"attr": "age", "op": ">=", "value": 65}
    for _ in range(MAX_RULE_DEPTH):
        rule = {"not": rule}
    with pytest.raises(InvalidRule, match="deeper"):
        parse_rule(rule)
    assert rule_depth(parse_rule(rule["not"])) == MAX_RULE_DEPTH  # type: ignore[arg-type]


def test_rule_text_is_never_evaluated() -> None:
    with pytest.raises(InvalidRule):
        parse_rule('"age >= 65"')


def test_attributes_refuse_unknown_or_ill_typed_facts() -> None:
    with pytest.raises(InvalidRule, match="unknown attribute"):
        Attributes({"income": 5})
    with pytest.raises(InvalidRule, match="true or false"):
        ELDER_SH_WOMAN.with_facts(disabled="yes")


# --- Hypothesis: random rule trees ----------------------------------------------------------------------


def _values(attr: str) -> st.SearchStrategy[bool | int | str]:
    spec = ATTRIBUTES[attr]
    if spec.kind == "int":
        return st.integers(0, 120)
    if spec.kind == "bool":
        return st.booleans()
    return st.sampled_from(sorted(spec.values))


@st.composite
def compares(draw: st.DrawFn) -> Compare:
    attr = draw(st.sampled_from(sorted(ATTRIBUTES)))
    ops: list[Op] = ["==", "!=", "in"]
    if ATTRIBUTES[attr].kind == "int":
        ops += ["<", "<=", ">", ">="]
    op = draw(st.sampled_from(ops))
    if op == "in":
        return Compare(attr=attr, op=op, value=draw(st.lists(_values(attr), min_size=1, max_size=3)))
    return Compare(attr=attr, op=op, value=draw(_values(attr)))


rules: st.SearchStrategy[Rule] = st.recursive(
    compares(),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda parts: AllOf(all=parts)),
        st.lists(children, max_size=4).map(lambda parts: AnyOf(any=parts)),
        children.map(lambda r: Not(not_=r)),
    ),
    max_leaves=12,
)


@st.composite
def attributes(draw: st.DrawFn) -> Attributes:
    chosen = draw(st.lists(st.sampled_from(sorted(ATTRIBUTES)), unique=True))
    return Attributes({attr: draw(_values(attr)) for attr in chosen})


@settings(max_examples=300)
@given(rules, attributes())
def test_random_rules_never_raise_and_always_give_a_reason(rule: Rule, attrs: Attributes) -> None:
    verdict = evaluate(rule, attrs, "说明")
    assert verdict.status in Eligibility and verdict.reason
    if verdict.status is C:
        assert verdict.to_check and all(attrs.get(a) is None for a in verdict.to_check)


@settings(max_examples=500)
@given(rules, attributes())
def test_the_status_alone_is_the_worded_verdicts_status(rule: Rule, attrs: Attributes) -> None:
    # status() is a second walk of the rule, without the facts and sentences: the lists at the kiosk use it.
    assert status(rule, attrs) is evaluate(rule, attrs).status


@given(rules, attributes())
def test_double_negation(rule: Rule, attrs: Attributes) -> None:
    assert evaluate(Not(not_=Not(not_=rule)), attrs).status is evaluate(rule, attrs).status


@given(st.lists(rules, max_size=4), attributes())
def test_de_morgan(parts: list[Rule], attrs: Attributes) -> None:
    negated: list[Rule] = [Not(not_=p) for p in parts]
    assert evaluate(Not(not_=AllOf(all=parts)), attrs).status is evaluate(AnyOf(any=negated), attrs).status
    assert evaluate(Not(not_=AnyOf(any=parts)), attrs).status is evaluate(AllOf(all=negated), attrs).status


@given(rules, attributes(), attributes())
def test_more_facts_never_overturn_a_definite_verdict(rule: Rule, known: Attributes, more: Attributes) -> None:
    before = evaluate(rule, known).status
    after = evaluate(rule, Attributes({**more.values, **known.values})).status
    if before is not C:
        assert after is before


@given(rules, st.data())
def test_with_every_attribute_known_there_is_nothing_to_check(rule: Rule, data: st.DataObject) -> None:
    attrs = Attributes({attr: data.draw(_values(attr)) for attr in ATTRIBUTES})
    assert evaluate(rule, attrs).status is not C


@given(rules)
def test_rules_round_trip_through_json(rule: Rule) -> None:
    assume(rule_depth(rule) < MAX_RULE_DEPTH)
    assert parse_rule(json.dumps(Not(not_=rule).model_dump(mode="json"))) == Not(not_=rule)


def test_docs_list_every_attribute() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "catalogue.md").read_text(encoding="utf-8")
    for attr, spec in ATTRIBUTES.items():
        assert f"| `{attr}` |" in docs and spec.question in docs, attr


# -- English: the same sentences for the kiosk's English toggle --------------------------------------------

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


@pytest.mark.parametrize("attr", list(ATTRIBUTES))
def test_every_attribute_has_plain_english_beside_its_chinese(attr: str) -> None:
    spec = ATTRIBUTES[attr]
    english = [spec.label_en, spec.question_en]
    if spec.kind == "int":
        english.append(spec.unit_en)
    if spec.kind == "bool":
        english += [spec.yes_en, spec.no_en]
    if spec.kind == "enum":
        assert set(spec.values_en) == set(spec.values)
        english += list(spec.values_en.values())
    for text in english:
        assert text and not _CJK.search(text), (attr, text)


def test_eligible_in_english_quotes_the_items_english_condition(seed: Catalogue) -> None:
    item = seed.item("MZ-001")
    verdict = item.evaluate(ELDER_SH_WOMAN)
    assert verdict.reason_en == f"Eligible (who may apply: {item.eligibility_reason_en})"
    assert verdict.details_en == ("your household registration is in Shanghai", "your age in one month is at least 65")


def test_not_eligible_in_english_names_the_deciding_facts(seed: Catalogue) -> None:
    item = seed.item("MZ-001")
    verdict = item.evaluate(YOUNG_OTHER_MAN)
    assert verdict.reason_en == (
        "Not eligible: your household registration is outside Shanghai; your age in one month is under 65"
        f" (who may apply: {item.eligibility_reason_en})"
    )
    checked = WORKING_MAN.with_facts(disabled=True, disability_grade=3, unemployed=False)
    assert seed.item("CL-003").evaluate(checked).details_en == ("your disability grade is over 2", "you have a job")
    assert seed.item("RS-006").evaluate(SSCARD_HOLDER).details_en == ("the card you used is a social security card",)


def test_needs_check_in_english_asks_the_staff_questions(seed: Catalogue) -> None:
    verdict = seed.item("CL-003").evaluate(WORKING_MAN)
    assert verdict.details_en == (
        "Do you hold a disability certificate?",
        "What is your disability grade (1 to 4)?",
        "Are you out of work at present?",
    )
    assert verdict.reason_en.startswith(
        "Staff need to check: Do you hold a disability certificate? What is your disability grade (1 to 4)?"
    )


def test_without_an_english_condition_the_english_sentence_quotes_the_chinese() -> None:
    rule = parse_rule({"attr": "age", "op": ">=", "value": 65})
    assert evaluate(rule, YOUNG_OTHER_MAN).reason_en == "Not eligible: your age is under 65"
    assert evaluate(rule, ELDER_SH_WOMAN, "老年人").reason_en == "Eligible (who may apply: 老年人)"


@given(rules, attributes())
def test_english_is_worded_wherever_chinese_is(rule: Rule, attrs: Attributes) -> None:
    verdict = evaluate(rule, attrs, "条件", "a condition")
    assert len(verdict.details_en) == len(verdict.details)
    assert verdict.reason_en and not _CJK.search(verdict.reason_en + "".join(verdict.details_en))
