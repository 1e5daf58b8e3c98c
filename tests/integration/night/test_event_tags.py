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
from datetime import UTC, datetime

from sqlalchemy import text

from edge.night.ledger import Ledger
from edge.store.cases import NewCase
from protocol import sealed, topics
from protocol.cases import CaseEvent, CaseStatus
from protocol.envelope import utcnow
from protocol.reconcile import ReconcileRequest, ReconcileRequestBody, case_line
from tests.support import CASE_KEY, applicant, wait_for


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
