"""Kiosk sessions on a hand-driven clock: idle timeout, activity, card taps, claim tokens, clearing."""

from __future__ import annotations

from edge.devices.sim.identities import identity
from edge.kiosk.session import CLAIM_TTL_S, Draft, SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store() -> tuple[SessionStore, Clock]:
    clock = Clock()
    return SessionStore(idle_timeout=60, warn_before=20, clock=clock), clock


def test_a_session_ends_after_the_idle_timeout_and_activity_restarts_the_clock():
    sessions, clock = store()
    token, _ = sessions.card_tapped(identity("zhang-wei").card_facts())
    session = sessions.claim(token)
    assert session is not None
    clock.now += 59
    assert sessions.remaining(session.sid) == 1
    assert sessions.get(session.sid) is session  # a request is activity
    clock.now += 59
    assert sessions.expire() == []
    assert sessions.get(session.sid, touch=False) is session
    clock.now += 1
    assert sessions.expire() == [session.sid]
    assert sessions.get(session.sid) is None and sessions.remaining(session.sid) is None


def test_the_warning_window_is_the_last_warn_before_seconds():
    sessions, clock = store()
    token, _ = sessions.card_tapped(identity("zhang-wei").card_facts())
    sid = sessions.claim(token).sid
    clock.now += 39
    assert sessions.remaining(sid) > sessions.warn_before
    clock.now += 2
    assert 0 < sessions.remaining(sid) < sessions.warn_before


def test_the_same_card_again_is_activity_and_a_different_card_ends_the_session():
    sessions, clock = store()
    token, _ = sessions.card_tapped(identity("zhang-wei").card_facts())
    first = sessions.claim(token)
    clock.now += 50
    again, ended = sessions.card_tapped(identity("zhang-wei").card_facts())
    assert again is None and ended == []
    assert sessions.remaining(first.sid) == 60
    first.drafts["MZ-003"] = Draft("MZ-003", {"phone": "13800138000"})
    other, ended = sessions.card_tapped(identity("li-na").card_facts())
    assert other is not None and ended == [first.sid]
    assert first.holder is None and first.drafts == {}  # nothing of the first resident is kept
    assert sessions.get(first.sid) is None
    assert sessions.claim(other).holder.name == "李娜"
    assert len(sessions) == 1


def test_a_claim_token_works_once_and_only_while_fresh():
    sessions, clock = store()
    token, _ = sessions.card_tapped(identity("zhang-wei").card_facts())
    assert sessions.pending_claim() == token
    assert sessions.claim(token) is not None
    assert sessions.claim(token) is None and sessions.pending_claim() is None
    late, _ = sessions.card_tapped(identity("li-na").card_facts())
    clock.now += CLAIM_TTL_S + 1
    assert sessions.pending_claim() is None and sessions.claim(late) is None


def test_a_staff_sign_in_carries_over_from_resident_to_resident_until_its_time_is_up():
    sessions, clock = store()
    sessions.staff_signin = 100
    waiting = sessions.anonymous()
    sessions.sign_in_staff("demo", waiting)
    token, ended = sessions.card_tapped(identity("wang-xiuying").card_facts())
    assert ended == [waiting.sid]
    session = sessions.claim(token)
    assert session.staff_id == "demo"
    clock.now += 50
    other, _ = sessions.card_tapped(identity("li-na").card_facts())
    li = sessions.claim(other)
    assert li.staff_id == "demo" and sessions.staff().left_s == 50  # no PIN for the next resident
    li.staff_answers["unemployed"] = True
    clock.now += 50
    assert sessions.get(li.sid).staff_id is None and li.staff_answers == {}  # time up: answers go too
    assert sessions.staff() is None
    third, _ = sessions.card_tapped(identity("zhang-wei").card_facts())
    assert sessions.claim(third).staff_id is None


def test_signing_out_ends_staff_mode_for_the_open_session_and_the_next():
    sessions, _ = store()
    session = sessions.claim(sessions.card_tapped(identity("li-na").card_facts())[0])
    sessions.sign_in_staff("demo", session)
    assert sessions.sign_out_staff() == "demo"
    assert session.staff_id is None and sessions.staff() is None
    assert sessions.claim(sessions.card_tapped(identity("zhang-wei").card_facts())[0]).staff_id is None


def test_the_session_builds_the_applicant_and_card_attributes():
    sessions, _ = store()
    token, _ = sessions.card_tapped(identity("zhou-guilan").card_facts())
    session = sessions.claim(token)
    applicant = session.applicant
    assert applicant.name == "周桂兰" and applicant.card_type == "id_card"
    from datetime import date

    attrs = session.attributes(date.today())
    assert attrs.get("age") == 95 and attrs.get("household") == "shanghai" and attrs.get("sex") == "F"


def test_the_same_card_again_gives_a_page_outside_the_session_a_claim_to_it():
    """After the kiosk's browser restarted (no cookie), the same card's tap lets the new page into the open
    session; a page already in the session is not sent anywhere."""
    sessions, clock = store()
    first = sessions.claim(sessions.card_tapped(identity("zhang-wei").card_facts())[0])
    clock.now += 30
    token, sid = sessions.rejoin(identity("zhang-wei").card_facts())
    assert sid == first.sid and sessions.remaining(sid) == 60
    assert sessions.pending_claim(but=first.sid) is None, "the page in the session stays where it is"
    assert sessions.pending_claim() == token
    assert sessions.claim(token) is first
    assert sessions.rejoin(identity("li-na").card_facts()) is None
