"""Only events the hub itself sent can be restored from a terminal's copy.

When the hub is restored from an older backup, the night asks terminals for the events it lost (round 3
of reconciliation) and stores them. A terminal holds MQTT credentials, so without proof it could write any
state into the hub that way: here one makes up a "completed" event for its case, and copies the tag of an
event it really got onto another. The hub restores neither, says so in its audit trail, and the case stays
as it was. (The genuine path, a hub restored from its backup taking back the events its terminal kept, is
``test_backups.py::test_events_the_restored_hub_lost_come_back_from_the_terminal``.)

The tag is checked against a second implementation of the formula written in hub/cases/eventtag.py's
docstring: HMAC-SHA256 under SHA-256("shegong/event-tag/v1" 0x00 case private key), of what a terminal
keeps of the event (case id, version, status, microseconds since 1970, note) joined by 0x1F.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from edge.night.ledger import Ledger
from edge.night.steps import run_night
from edge.store.cases import NewCase
from hub.cases.states import Action
from hub.people.roles import Principal, Role
from hub.web.services import Services
from protocol import sealed, topics
from protocol.cases import CaseEvent, CaseStatus
from protocol.envelope import utcnow
from protocol.reconcile import ReconcileRequest, ReconcileRequestBody, case_line
from tests.support import CASE_KEY, applicant, wait_for

CLERK = Principal(
    user_id=1, username="clerk", display_name="李经办", role=Role.CLERK, departments=frozenset({"minzheng"})
)


def _by_hand(event: CaseEvent) -> str:
    key = hashlib.sha256(b"shegong/event-tag/v1\x00" + bytes(sealed.private_key(CASE_KEY))).digest()
    micros = round((event.at - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000)
    facts = "\x1f".join([str(event.case_id), str(event.version), event.status.value, str(micros), event.note])
    return hmac.new(key, facts.encode(), hashlib.sha256).hexdigest()


def test_a_terminal_cannot_restore_an_event_the_hub_never_sent(hub_factory, edge_factory):
    hub = hub_factory()
    edge = edge_factory()
    case_id = str(edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1))).case_id)
    edge.start_sync()
    wait_for(lambda: edge.cases.get(case_id)["version"] == 1, what="the submitted event at the terminal")

    (kept,) = Ledger(edge.engine, edge.settings.committee_code).events_after([case_line(case_id, 0)])
    assert kept.tag == _by_hand(kept), "the terminal keeps the hub's tag of the event it got"

    forged = CaseEvent(
        event_id=kept.event_id + 1,
        case_id=kept.case_id,
        version=2,
        status=CaseStatus.COMPLETED,
        at=utcnow(),
        note="已办结",
    )
    borrowed = forged.model_copy(update={"version": 3, "tag": kept.tag})  # a real tag on other facts
    terminal = edge.settings.terminal_id
    body = ReconcileRequestBody(first_day=utcnow().date(), last_day=utcnow().date(), events=[forged, borrowed])
    hub.handler.handle(
        topics.up(terminal, topics.Up.RECONCILE), ReconcileRequest(terminal=terminal, body=body).encode()
    )

    with hub.engine.connect() as conn:
        assert conn.execute(text("SELECT version, status FROM cases")).one() == (1, "submitted")
        assert conn.execute(text("SELECT max(version) FROM case_events")).scalar() == 1
        refused = conn.execute(text("SELECT data FROM audit WHERE action = 'reconcile.events_refused'")).scalars()
        assert [json.loads(d) for d in refused] == [{"events": 2}]
        assert conn.execute(text("SELECT count(*) FROM audit WHERE action = 'reconcile.events_restored'")).scalar() == 0


def test_a_case_whose_events_the_hub_refused_is_not_confirmed_nor_purged(hub_factory, edge_factory):
    """The hub accepted a case (version 2) and the terminal holds it completed at version 3, an event with
    no tag (stored before tags existed). The hub, restored from an older backup, is back at version 1. The
    night sends both events back: the hub restores the accepted one and refuses the other, so it holds
    version 2 where the terminal holds 3. The two sides do not agree on the case: it must stay
    unconfirmed — also when an earlier night had confirmed it — and retention must keep the terminal's copy,
    the only one of the completion, however old."""
    hub = hub_factory()
    edge = edge_factory(retention_days=1)
    case_id = str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(2))).case_id)
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="the case acked")
    Services.from_runtime(hub).workflow.act(CLERK, case_id, Action.ACCEPT, 1)
    wait_for(lambda: edge.cases.get(case_id)["version"] == 2, what="the accepted event at the terminal")
    assert run_night(edge).ok  # both sides hold version 2: confirmed
    with edge.engine.connect() as conn:
        assert conn.execute(text("SELECT reconciled_at FROM cases")).scalar() is not None
    (_, accepted) = Ledger(edge.engine, edge.settings.committee_code).events_after([case_line(case_id, 0)])
    untagged = CaseEvent(
        event_id=accepted.event_id + 1, case_id=accepted.case_id, version=3, status=CaseStatus.COMPLETED, at=utcnow()
    )
    edge.cases.apply_events([untagged])
    with hub.engine.begin() as conn:  # the older backup restored
        conn.execute(text("DELETE FROM case_events WHERE version > 1"))
        conn.execute(text("UPDATE cases SET version = 1, status = 'submitted'"))

    night = run_night(edge)
    assert night.ok, night.as_json()
    assert {s.name: s.counts for s in night.steps}["reconcile"]["events_resent"] == 2
    with hub.engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM cases")).scalar() == 2, "the genuine one restored, not the other"
    with edge.engine.connect() as conn:
        confirmed = conn.execute(text("SELECT reconciled_at FROM cases WHERE case_id = :c"), {"c": case_id}).scalar()
    assert confirmed is None, "the hub does not hold what the terminal holds: not confirmed"
    kept = edge.retention.purge(now=utcnow() + timedelta(hours=36))  # past the day's window, the night still fresh
    assert kept.cases == kept.held == 0
    assert edge.cases.get(case_id)["version"] == 3, "the only copy of the completion stays"
