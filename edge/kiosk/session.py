"""Kiosk sessions: the card holder's facts live here, server-side, keyed by an opaque cookie value.

There is one screen, so at most one resident's session is open: a card tap ends whatever was open and
starts a new session, reachable through a one-time claim token the browser is sent by its event stream.
The same card tapped again only counts as activity (the reader cannot tell a card removed from one left
lying there, so removal never ends a session). A session ends on the finish button, on a different
card, or ``idle_timeout`` seconds after the last activity; the page warns ``warn_before`` seconds earlier.
A staff member's sign-in belongs to the kiosk, not to one resident: it lasts ``staff_signin`` seconds from
the PIN (or until signed out) across sessions, and every session made meanwhile carries it (``staff_id``).
A logged-in staff member may answer the eligibility questions the card cannot (``staff_answers``); they
count for this session only. Nothing personal is kept once a session ends.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from edge.devices.facts import CardFacts
from protocol.cases import Applicant
from protocol.catalogue import ServiceItem
from protocol.eligibility import ATTRIBUTES, Attributes, InvalidRule, Value
from protocol.residence import CommitteeArea

__all__ = ["Draft", "InvalidAnswer", "KioskSession", "SessionStore", "StaffSignIn"]

log = logging.getLogger(__name__)

CLAIM_TTL_S = 15.0
STAFF_SIGNIN_S = 1800.0


@dataclass
class Draft:
    """A form filled in and waiting for the confirm screen."""

    item_code: str
    form: dict[str, str]
    materials: list[str] = field(default_factory=list)
    notify_phone: str | None = None
    """The mobile number the resident gave, consenting, for SMS notices (sealed in the case)."""
    item_hash: str = ""
    """The content hash of the item whose form was checked: another version of it in force since (a new
    catalogue applied mid-application) sends the resident back to the form, never on to a submit."""

    def stale(self, item: ServiceItem) -> bool:
        return self.item_hash != item.content_hash()


class InvalidAnswer(ValueError):
    """A staff answer the session refuses: nobody from staff logged in, no card holder, an unknown
    attribute, one the card gives, or a value of the wrong type. Nothing of the answers is kept."""


@dataclass
class KioskSession:
    sid: str
    started: float
    last_active: float
    holder: CardFacts | None = None
    staff_id: str | None = None
    drafts: dict[str, Draft] = field(default_factory=dict)
    #: item code -> what has been typed on its form so far (unchecked: it only fills the form again, never a
    #: confirm page; see routes/apply.py ``keep_typed``)
    typed: dict[str, dict[str, str]] = field(default_factory=dict)
    #: case id -> what the receipt page and a reprint need (this session's own cases only)
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    help_called: bool = False
    #: attribute -> what a staff member confirmed for the holder (never a card fact); see :meth:`answer`
    staff_answers: dict[str, Value] = field(default_factory=dict)
    #: the committee's own area: a card address in it shows the holder lives here (``lives_here``)
    area: CommitteeArea | None = None

    @property
    def applicant(self) -> Applicant | None:
        h = self.holder
        if h is None:
            return None
        return Applicant(id_number=h.id_number, name=h.name, sex=h.sex, birth_date=h.birth_date, card_type=h.card_type)

    def card_attributes(self, today: date) -> Attributes | None:
        """The facts the card gives, ``None`` without a card holder."""
        h = self.holder
        if h is None:
            return None
        return Attributes.from_card(
            today=today,
            id_number=h.id_number,
            birth_date=h.birth_date,
            sex=h.sex,
            card_type=h.card_type,
            address=h.address,
            area=self.area,
        )

    def attributes(self, today: date) -> Attributes | None:
        """The card's facts and staff's answers; an answer never replaces a fact the card gives."""
        card = self.card_attributes(today)
        if card is None or not self.staff_answers:
            return card
        answers = {
            attr: value
            for attr, value in self.staff_answers.items()
            if attr not in card.values and (spec := ATTRIBUTES.get(attr)) is not None and spec.staff_answer
        }
        return card.with_facts(**answers)

    def answer(self, answers: Mapping[str, Value], *, asked: Collection[str] | None = None) -> None:
        """Record what a logged-in staff member confirmed: all of ``answers`` or, on
        :class:`InvalidAnswer`, none of them. ``asked``, when given, are the only attributes that may be
        answered (the questions on the page). A later answer to the same question replaces the earlier."""
        if self.staff_id is None:
            raise InvalidAnswer("only a logged-in staff member may answer eligibility questions")
        if self.holder is None:
            raise InvalidAnswer("there is no card holder to answer for")
        for attr in answers:
            spec = ATTRIBUTES.get(attr)
            if spec is None:
                raise InvalidAnswer(f"unknown attribute {attr!r}")
            if not spec.staff_answer:
                raise InvalidAnswer(f"attribute {attr!r} comes from the card; staff cannot answer it")
            if asked is not None and attr not in asked:
                raise InvalidAnswer(f"attribute {attr!r} is not a question here; asked: {', '.join(asked) or 'none'}")
        try:
            Attributes(answers)
        except InvalidRule as exc:
            raise InvalidAnswer(str(exc)) from None
        self.staff_answers.update(answers)


@dataclass(frozen=True)
class StaffSignIn:
    """Who from staff is signed in at the kiosk, and for how many more seconds."""

    staff_id: str
    left_s: float


@dataclass
class _Claim:
    token: str
    sid: str
    made: float


class SessionStore:
    """Thread-safe: card events arrive on device threads, requests on the server's."""

    def __init__(
        self,
        idle_timeout: float,
        warn_before: float,
        clock: Callable[[], float] = time.monotonic,
        area: CommitteeArea | None = None,
        staff_signin: float = STAFF_SIGNIN_S,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.warn_before = warn_before
        self.area = area
        self.staff_signin = staff_signin
        self._clock = clock
        self._sessions: dict[str, KioskSession] = {}
        self._claims: dict[str, _Claim] = {}
        self._staff: tuple[str, float] | None = None  # (staff id, signed in at)
        self._lock = threading.Lock()

    # -- staff ------------------------------------------------------------------------------------------
    def sign_in_staff(self, staff_id: str, session: KioskSession) -> None:
        """A staff member gave their PIN: signed in for ``staff_signin`` seconds, in ``session`` and in every
        session made until then (the residents they help one after another)."""
        with self._lock:
            self._staff = (staff_id, self._clock())
            for s in self._sessions.values():
                if s.staff_id != staff_id:
                    s.staff_answers.clear()  # the previous staff member's to vouch for
                s.staff_id = staff_id
            session.staff_id = staff_id

    def sign_out_staff(self) -> str | None:
        """End the staff sign-in (one tap on 退出); returns who was signed in."""
        with self._lock:
            return self._sign_out()

    def staff(self) -> StaffSignIn | None:
        """The staff member signed in now, ``None`` when nobody is (or their time is up)."""
        with self._lock:
            self._expire(self._clock())
            if self._staff is None:
                return None
            return StaffSignIn(self._staff[0], self.staff_signin - (self._clock() - self._staff[1]))

    # -- starting ---------------------------------------------------------------------------------------
    def card_tapped(self, facts: CardFacts) -> tuple[str | None, list[str]]:
        """A card was read: ``(claim token, ended sids)``. The token is ``None`` when the same card is on an
        open session (it only counts as activity)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            for s in self._sessions.values():
                if s.holder is not None and s.holder.key == facts.key:
                    s.last_active = now
                    return None, []
            ended = self._end_all()
            session = self._new(now, holder=facts)
            token = secrets.token_urlsafe(24)
            self._claims = {token: _Claim(token, session.sid, now)}
            return token, ended

    def rejoin(self, facts: CardFacts) -> tuple[str, str] | None:
        """The same card tapped on its open session: ``(claim token, sid)`` for a page that is not in the
        session (the kiosk's browser restarted and lost its cookie) to take it up again; ``None`` when no
        session of this card is open."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            session = next((s for s in self._sessions.values() if s.holder and s.holder.key == facts.key), None)
            if session is None:
                return None
            session.last_active = now
            token = secrets.token_urlsafe(24)
            self._claims = {token: _Claim(token, session.sid, now)}
            return token, session.sid

    def anonymous(self) -> KioskSession:
        """A session without a card (browsing, or staff logging in first); ends any open one."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            self._end_all()
            return self._new(now)

    def claim(self, token: str) -> KioskSession | None:
        """Exchange a claim token (once, within :data:`CLAIM_TTL_S`) for its session."""
        with self._lock:
            now = self._clock()
            claim = self._claims.pop(token, None)
            if claim is None or now - claim.made > CLAIM_TTL_S:
                return None
            session = self._sessions.get(claim.sid)
            if session is not None:
                session.last_active = now
            return session

    def pending_claim(self, but: str | None = None) -> str | None:
        """A claim token not yet used and still fresh (for a page that connected just after the tap), not
        one for session ``but`` (the page asking is already in it)."""
        with self._lock:
            now = self._clock()
            for claim in self._claims.values():
                fresh = now - claim.made <= CLAIM_TTL_S and claim.sid in self._sessions
                if fresh and (but is None or claim.sid != but):
                    return claim.token
            return None

    # -- using ------------------------------------------------------------------------------------------
    def get(self, sid: str | None, *, touch: bool = True) -> KioskSession | None:
        if not sid:
            return None
        with self._lock:
            now = self._clock()
            self._expire(now)
            session = self._sessions.get(sid)
            if session is not None and touch:
                session.last_active = now
            return session

    def remaining(self, sid: str) -> float | None:
        """Seconds of idleness left, ``None`` when the session is gone."""
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            return self.idle_timeout - (self._clock() - session.last_active)

    # -- ending -----------------------------------------------------------------------------------------
    def end(self, sid: str | None) -> bool:
        with self._lock:
            return self._drop(sid) if sid else False

    def expire(self) -> list[str]:
        """End sessions idle for ``idle_timeout``; returns their sids."""
        with self._lock:
            return self._expire(self._clock())

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    # -- inside the lock ----------------------------------------------------------------------------------
    def _new(self, now: float, **values: Any) -> KioskSession:
        staff_id = self._staff[0] if self._staff is not None else None
        session = KioskSession(
            sid=secrets.token_urlsafe(32), started=now, last_active=now, area=self.area, staff_id=staff_id, **values
        )
        self._sessions[session.sid] = session
        return session

    def _sign_out(self) -> str | None:
        who = self._staff[0] if self._staff is not None else None
        self._staff = None
        for s in self._sessions.values():
            s.staff_id = None
            s.staff_answers.clear()  # they were this staff member's to vouch for
        return who

    def _expire(self, now: float) -> list[str]:
        if self._staff is not None and now - self._staff[1] >= self.staff_signin:
            log.info("staff %s signed out at the kiosk: sign-in time is up", self._sign_out())
        gone = [sid for sid, s in self._sessions.items() if now - s.last_active >= self.idle_timeout]
        for sid in gone:
            self._drop(sid)
        return gone

    def _end_all(self) -> list[str]:
        ended = list(self._sessions)
        for sid in ended:
            self._drop(sid)
        return ended

    def _drop(self, sid: str) -> bool:
        session = self._sessions.pop(sid, None)
        self._claims = {t: c for t, c in self._claims.items() if c.sid != sid}
        if session is None:
            return False
        # Drop references to the resident's data at once rather than waiting for the collector.
        session.holder = None
        session.drafts.clear()
        session.receipts.clear()
        session.staff_answers.clear()
        return True
