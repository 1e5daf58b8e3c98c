"""Helpers for the hub's back-office tests: cases arrive through the real ingest handler (routing and
due dates as in production), and one user per role."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine

from hub.calendar.duedates import DueDates
from hub.calendar.service import CalendarService
from hub.cases.returncalls import RETURN_CALL_DAYS
from hub.cases.routing import CatalogueRouter
from hub.catalogue.in_force import CatalogueInForce
from hub.catalogue.store import CatalogueStore
from hub.ingest.handler import Handler
from hub.ingest.metrics import IngestMetrics
from hub.people.roles import Principal
from hub.people.service import Users
from protocol import sealed, topics
from protocol.cases import CaseBatch, CaseBatchBody, CaseSubmission
from protocol.envelope import utcnow
from tests.support import CASE_KEY, applicant, register_terminal, seal

_RECEIPTS = itertools.count(1)

PASSWORDS = {
    "manager": "manager-pass-1",
    "clerk_mz": "clerk-mz-pass-1",
    "clerk_rs": "clerk-rs-pass-1",
    "auditor": "auditor-pass-1",
    "operator": "operator-pass-1",
}


def handler(engine: Engine, calendar: CalendarService | None = None) -> Handler:
    """The ingest handler as the runtime wires it: routing and due dates by the catalogue in force (the
    seed until a version is published) and the calendar in the database (``calendar``: its provider)."""
    in_force = CatalogueInForce(CatalogueStore(engine))
    calendar = calendar or CalendarService(engine)
    due_dates = DueDates(calendar, in_force.item, in_force.item_as_promised)
    return Handler(
        engine,
        CatalogueRouter(in_force.current),
        IngestMetrics(),
        promise=due_dates.promise,
        return_call_due=lambda at: due_dates.after_working_days(at, RETURN_CALL_DAYS),
        case_key=sealed.private_key(CASE_KEY),
        calendar=calendar,
    )


def ingest(
    engine: Engine,
    items: Sequence[str],
    terminal: str = "T1",
    at: datetime | None = None,
    start: int = 0,
    agent: str | None = None,
    notify_phone: str | None = None,
    receipts: Sequence[str] = (),
    materials: Sequence[str] = ("身份证",),
    created: datetime | None = None,
    sent: datetime | None = None,
    form: dict[str, str] | None = None,
    item_hash: str | None = None,
) -> list[str]:
    """Submit one case per item code from ``terminal`` (registered to JW001 first, as at provisioning)
        through ingest; returns their case ids. Receipt numbers are ``receipts`` where given, else unique in the
        test process, as a terminal's own are. ``materials``: those ticked as received (the default is no
    catalogue's name for one, so it has no English). ``created``: when the terminal accepted them, and
    ``sent``: its clock when it sent them (both ``at`` unless given: a terminal online, its clock right);
    ``item_hash``: the content hash of the item as the terminal accepted them under it (None: an older terminal)."""
    at = at or utcnow()
    created, sent = created or at, sent or at
    register_terminal(engine, terminal, "JW001")
    cases = [
        CaseSubmission(
            case_id=uuid.uuid4(),
            receipt_no=receipts[i] if i < len(receipts) else f"JW001-{created:%Y%m%d}-{next(_RECEIPTS):06d}",
            query_code="ABC234",
            item_code=item,
            committee="JW001",
            created_at=created,
            applicant=applicant(start + i),
            form=form or {"phone": "13800000000"},
            materials=list(materials),
            agent=agent,
            notify_phone=notify_phone,
            item_hash=item_hash,
        )
        for i, item in enumerate(items)
    ]
    body = CaseBatchBody(cases=[seal(c) for c in cases])
    batch = CaseBatch(terminal=terminal, seq=start + 1, sent_at=sent, body=body)
    handler(engine).handle(topics.up(terminal, topics.Up.CASES), batch.encode(), at)
    return [str(c.case_id) for c in cases]


def add_users(users: Users) -> dict[str, Principal]:
    """manager, clerk_mz (民政), clerk_rs (人社), auditor, operator."""
    return {
        "manager": users.add("manager", PASSWORDS["manager"], "manager", display_name="王主任"),
        "clerk_mz": users.add("clerk_mz", PASSWORDS["clerk_mz"], "clerk", ["MZ"], display_name="李经办"),
        "clerk_rs": users.add("clerk_rs", PASSWORDS["clerk_rs"], "clerk", ["RS"], display_name="张经办"),
        "auditor": users.add("auditor", PASSWORDS["auditor"], "auditor", display_name="赵监察"),
        "operator": users.add("operator", PASSWORDS["operator"], "operator", display_name="钱运维"),
    }
