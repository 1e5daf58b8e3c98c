"""Staff answers to needs-check questions: which questions a rule leaves open, and how a session keeps them.

A card gives age, sex, household and card type; a rule that also asks, say, "retired?" is NEEDS_CHECK
until a logged-in staff member answers. ``unknowns`` names the questions that decide a rule; the session
keeps staff's answers, merges them with the card's facts (never over them), refuses bad ones whole, and
forgets them when it ends or staff log out.
"""

from __future__ import annotations

from datetime import date

import pytest

from edge.devices.facts import CardFacts
from edge.devices.sim.identities import identity
from edge.kiosk.directory import Directory
from edge.kiosk.session import InvalidAnswer, SessionStore
from protocol.catalogue import load_seed
from protocol.eligibility import Attributes, Eligibility, evaluate, parse_rule, unknowns
from protocol.residence import CommitteeArea
from protocol.workdays import load_seed_calendar
from tests.support import check_character

TODAY = date(2026, 5, 6)
RS_001 = parse_rule(
    {"all": [{"attr": "age", "op": ">=", "value": 16}, {"attr": "retired", "op": "==", "value": False}]}
)


def holder_session(staff: str | None = "demo"):
    sessions = SessionStore(idle_timeout=60, warn_before=20, clock=lambda: 1000.0)
    token, _ = sessions.card_tapped(identity("li-na").card_facts())
    session = sessions.claim(token)
    assert session is not None
    session.staff_id = staff
    return sessions, session


# -- unknowns -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "values", "expected"),
    [
        (RS_001, {"age": 34}, ("retired",)),
        (RS_001, {"age": 12}, ()),  # too young: "retired?" cannot change that
        (RS_001, {"age": 34, "retired": False}, ()),
        (
            {"any": [{"attr": "disabled", "op": "==", "value": True}, {"attr": "care_level", "op": ">=", "value": 2}]},
            {},
            ("disabled", "care_level"),
        ),
        (
            {"any": [{"attr": "disabled", "op": "==", "value": True}, {"attr": "care_level", "op": ">=", "value": 2}]},
            {"disabled": False},
            ("care_level",),
        ),
        ({"not": {"attr": "low_income", "op": "==", "value": True}}, {}, ("low_income",)),
        ({"all": []}, {}, ()),
    ],
)
def test_unknowns_are_the_open_questions_that_decide_the_rule(rule, values, expected):
    rule = parse_rule(rule) if isinstance(rule, dict) else rule
    attrs = Attributes(values)
    assert unknowns(rule, attrs) == expected == evaluate(rule, attrs).to_check


def test_answering_every_unknown_decides_the_rule():
    rule = parse_rule(
        {
            "all": [
                {"attr": "age", "op": ">=", "value": 16},
                {
                    "any": [
                        {"attr": "unemployed", "op": "==", "value": True},
                        {"attr": "care_level", "op": ">=", "value": 3},
                    ]
                },
            ]
        }
    )
    attrs = Attributes({"age": 40})
    open_ = unknowns(rule, attrs)
    assert open_ == ("unemployed", "care_level")
    assert evaluate(rule, attrs.with_facts(unemployed=False, care_level=2)).status is Eligibility.NOT_ELIGIBLE
    assert evaluate(rule, attrs.with_facts(unemployed=False, care_level=3)).status is Eligibility.ELIGIBLE


# -- the session ----------------------------------------------------------------------------------------


def test_staff_answers_join_the_card_facts_and_turn_the_verdict():
    _, session = holder_session()
    assert evaluate(RS_001, session.attributes(TODAY)).status is Eligibility.NEEDS_CHECK
    session.answer({"retired": False}, asked=("retired",))
    assert session.attributes(TODAY).get("retired") is False
    assert evaluate(RS_001, session.attributes(TODAY)).status is Eligibility.ELIGIBLE
    session.answer({"retired": True})  # a later answer replaces the earlier
    assert evaluate(RS_001, session.attributes(TODAY)).status is Eligibility.NOT_ELIGIBLE
    assert session.card_attributes(TODAY).get("retired") is None


@pytest.mark.parametrize("attr", ["age", "sex", "household", "card_type", "age_next_month"])
def test_a_card_fact_cannot_be_answered(attr):
    _, session = holder_session()
    with pytest.raises(InvalidAnswer, match="comes from the card"):
        session.answer({attr: 70 if "age" in attr else "other"})
    assert session.staff_answers == {}


def test_a_card_fact_is_never_overridden_even_if_an_answer_got_in():
    _, session = holder_session()
    card = session.card_attributes(TODAY)
    session.staff_answers["age"] = 80  # not through answer(): the merge still keeps the card's age
    session.staff_answers["household"] = "other"
    assert session.attributes(TODAY).values == card.values


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"retired": False, "wealthy": True}, "unknown attribute 'wealthy'"),
        ({"retired": False, "disabled": "yes"}, "takes true or false"),
        ({"retired": False, "care_level": "3"}, "takes an integer"),
        ({"retired": False, "care_level": True}, "takes an integer"),
        ({"retired": False, "veteran": True}, "not a question here"),
    ],
)
def test_a_bad_answer_is_refused_and_nothing_is_kept(answers, message):
    _, session = holder_session()
    with pytest.raises(InvalidAnswer, match=message):
        session.answer(answers, asked=("retired", "disabled", "care_level"))
    assert session.staff_answers == {}


def test_only_staff_may_answer_and_only_for_a_card_holder():
    _, session = holder_session(staff=None)
    with pytest.raises(InvalidAnswer, match="staff"):
        session.answer({"retired": False})
    anonymous = SessionStore(idle_timeout=60, warn_before=20).anonymous()
    anonymous.staff_id = "demo"
    with pytest.raises(InvalidAnswer, match="card holder"):
        anonymous.answer({"retired": False})
    assert session.staff_answers == {} and anonymous.staff_answers == {}


@pytest.mark.parametrize("how", ["finish", "timeout", "another card"])
def test_answers_end_with_the_session(how):
    clock = [1000.0]
    sessions = SessionStore(idle_timeout=60, warn_before=20, clock=lambda: clock[0])
    token, _ = sessions.card_tapped(identity("li-na").card_facts())
    session = sessions.claim(token)
    session.staff_id = "demo"
    session.answer({"retired": False})
    if how == "finish":
        sessions.end(session.sid)
    elif how == "timeout":
        clock[0] += 60
        sessions.expire()
    else:
        token, ended = sessions.card_tapped(identity("zhang-wei").card_facts())
        assert ended == [session.sid]
        successor = sessions.claim(token)
        assert successor.staff_answers == {}
    assert session.staff_answers == {} and sessions.get(session.sid) is None


def test_verdicts_with_answers_are_cached_apart_from_card_only_ones():
    directory = Directory(load_seed(), load_seed_calendar())
    _, session = holder_session()
    card_only = session.attributes(TODAY)
    assert directory.verdict(card_only, "RS-002").status is Eligibility.NEEDS_CHECK  # 失业登记: out of work?
    session.answer({"unemployed": False})
    assert directory.verdict(session.attributes(TODAY), "RS-002").status is Eligibility.NOT_ELIGIBLE
    assert directory.verdict(card_only, "RS-002").status is Eligibility.NEEDS_CHECK


# -- facts the card gives when it can tell, and staff when it cannot ------------------------------------


def _session_of(facts: CardFacts, area: CommitteeArea | None = None):
    sessions = SessionStore(idle_timeout=60, warn_before=20, clock=lambda: 1000.0, area=area)
    token, _ = sessions.card_tapped(facts)
    session = sessions.claim(token)
    session.staff_id = "demo"
    return session


def _woman_born(born: date, address: str = "上海市徐汇区天平路街道衡山路26弄3号") -> CardFacts:
    body = f"310104{born:%Y%m%d}026"
    return CardFacts(
        card_type="id_card",
        id_number=body + check_character(body),
        name="测试",
        sex="F",
        birth_date=born,
        address=address,
    )


def test_staff_answer_a_womans_retirement_age_only_when_her_post_decides_it():
    # Born 1973-06-01, 52 on TODAY: as a worker her age stayed 50 (reached 2023), as a cadre it is 55y11m
    # (2029-05): the card cannot tell, so 就业登记 is a staff check, and the answer decides it.
    session = _session_of(_woman_born(date(1973, 6, 1)))
    rule = load_seed().item("RS-001").eligibility
    assert unknowns(rule, session.attributes(TODAY)) == ("retirement_age_reached",)
    session.answer({"retirement_age_reached": True}, asked=("retirement_age_reached",))
    assert evaluate(rule, session.attributes(TODAY)).status is Eligibility.NOT_ELIGIBLE
    session.answer({"retirement_age_reached": False})
    assert evaluate(rule, session.attributes(TODAY)).status is Eligibility.ELIGIBLE


def test_an_answer_never_overrides_what_the_card_tells():
    # Born 1990: 36, below any retirement age; the card says so and a stray answer does not change it.
    session = _session_of(_woman_born(date(1990, 3, 3)))
    session.answer({"retirement_age_reached": True})
    assert session.attributes(TODAY).get("retirement_age_reached") is False
    with pytest.raises(InvalidAnswer, match="not a question here"):
        session.answer({"retirement_age_reached": True}, asked=())


WEIFANG = CommitteeArea.model_validate({"district": "浦东新区", "streets": [{"street": "潍坊路", "lanes": "1-200"}]})


def test_living_here_comes_from_the_card_in_the_area_else_from_staff():
    here = _session_of(_woman_born(date(1944, 12, 24), "上海市浦东新区潍坊路88弄5号"), WEIFANG)
    assert here.card_attributes(TODAY).get("lives_here") is True
    here.answer({"lives_here": False})  # the card's fact stands
    assert here.attributes(TODAY).get("lives_here") is True

    elsewhere = _session_of(_woman_born(date(1944, 12, 24), "上海市崇明区城桥镇八一路120号"), WEIFANG)
    assert elsewhere.card_attributes(TODAY).get("lives_here") is None
    meals = load_seed().item("MZ-004").eligibility
    assert unknowns(meals, elsewhere.attributes(TODAY)) == ("lives_here",)
    elsewhere.answer({"lives_here": True}, asked=("lives_here",))  # she showed her 居住登记
    assert evaluate(meals, elsewhere.attributes(TODAY)).status is Eligibility.ELIGIBLE
