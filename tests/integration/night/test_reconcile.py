"""Nightly reconciliation over a real Mosquitto, with the hub on SQLite and PostgreSQL.

A terminal accepts cases and a rating; the hub commits them and acks. Then the hub loses some of them, as
after a restore of an older backup (rows deleted straight from its database), and a case's later event
never reached the terminal. The terminal's night sends a digest per day on ``up/reconcile``; the hub says
which days differ; the terminal lists those days; the hub answers with what it lacks and the events the
terminal lacks. The lost cases come back from the terminal's sealed copy through the outbox, once each;
the terminal catches up on the event; a case the hub holds that the terminal never sent is reported.
Retention purges nothing the hub has not confirmed.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import text

from edge.night.steps import run_night
from edge.store.cases import NewCase
from protocol import topics
from protocol.envelope import utcnow
from protocol.ratings import RatingLevel
from protocol.reconcile import DayItems, NightReport, NightReportBody, ReconcileRequest, ReconcileRequestBody
from tests.support import applicant, assert_exactly_once, hub_count, wait_for


def _delete(engine, table: str, column: str, ids: list[str]) -> None:
    with engine.begin() as conn:
        for i in ids:
            conn.execute(text(f"DELETE FROM {table} WHERE {column} = :i"), {"i": i})


def _steps(result) -> dict[str, object]:
    return {s.name: s for s in result.steps}


def test_cases_the_hub_lost_come_back_from_the_terminal_once(hub_factory, edge_factory):
    hub = hub_factory()
    edge = edge_factory()
    ids = [str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n))).case_id) for n in range(6)]
    rating = edge.ratings.rate(RatingLevel.SATISFIED, case_id=ids[0])
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="cases and rating acked")
    wait_for(lambda: edge.cases.get(ids[-1])["version"] == 1, what="submitted events applied")

    # The first night confirms everything: nothing differs.
    first = run_night(edge)
    assert first.ok, first.as_json()
    rec = _steps(first)["reconcile"].counts
    assert rec["days_differ"] == 0 and rec["confirmed"] == 7 and rec["resent_cases"] == 0

    # The hub loses three cases and the rating (an older backup restored), and moves one case on with an
    # event the terminal never got; a case from this terminal appears that the terminal never sent.
    lost = ids[:3]
    _delete(hub.engine, "case_events", "case_id", lost)
    _delete(hub.engine, "case_work", "case_id", lost)
    _delete(hub.engine, "cases", "case_id", lost)
    _delete(hub.engine, "ratings", "rating_id", [str(rating.rating_id)])
    moved = ids[4]
    now = utcnow()
    with hub.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO case_events(case_id, terminal_id, version, status, at, actor, note, department,"
                " published_at) VALUES (:c, 'T1', 2, 'accepted', :at, 'clerk', '', 'minzheng', :at)"
            ),
            {"c": moved, "at": now.replace(tzinfo=None) if hub.engine.dialect.name == "sqlite" else now},
        )
        conn.execute(text("UPDATE cases SET version = 2, status = 'accepted' WHERE case_id = :c"), {"c": moved})
        stranger = str(uuid.uuid4())
        conn.execute(
            text(
                "INSERT INTO cases(case_id, terminal_id, committee, receipt_no, query_code, item_code, department,"
                " status, version, id_number, applicant_name, created_at, sent_at, received_at, updated_at, payload)"
                " SELECT :s, terminal_id, committee, 'JW001-20990101-9999', query_code, item_code, department,"
                " status, version, id_number, applicant_name, created_at, sent_at, received_at, updated_at, payload"
                " FROM cases WHERE case_id = :c"
            ),
            {"s": stranger, "c": moved},
        )
    assert hub_count(hub.engine, "SELECT count(*) FROM cases") == 4

    second = run_night(edge)
    assert second.ok, second.as_json()
    rec = _steps(second)["reconcile"].counts
    assert rec["days_differ"] >= 1
    assert rec["resent_cases"] == 3 and rec["resent_ratings"] == 1
    assert rec["events_applied"] >= 1 and rec["unknown_at_terminal"] == 1
    assert edge.cases.get(moved)["status"] == "accepted", "the event the terminal lacked was applied"
    # Confirmed on the first night, lost by the hub since: no longer confirmed, so nothing of them is purged
    # before the hub holds them again (a night whose reconciliation fails still runs retention).
    with edge.engine.connect() as conn:
        doubted = conn.execute(
            text("SELECT count(*) FROM cases WHERE reconciled_at IS NULL AND case_id IN (:a, :b, :c)"),
            dict(zip("abc", lost, strict=True)),
        ).scalar()
        rating_doubted = conn.execute(text("SELECT reconciled_at IS NULL FROM ratings")).scalar()
    assert doubted == 3 and rating_doubted

    # The sync agent sends the lost cases again; the hub has every case once, and the rating.

    wait_for(lambda: hub_count(hub.engine, "SELECT count(*) FROM cases") == 7, what="lost cases back at the hub")
    wait_for(lambda: edge.outbox.stats().depth == 0, what="resent items acked")
    with hub.engine.begin() as conn:
        conn.execute(text("DELETE FROM cases WHERE case_id = :s"), {"s": stranger})
    assert_exactly_once(hub.engine, ids, lost=lost)
    assert hub_count(hub.engine, "SELECT count(*) FROM ratings") == 1

    # The third night finds nothing to repair, and the hub shows the terminal's nightly result.
    third = run_night(edge)
    assert third.ok, third.as_json()
    rec = _steps(third)["reconcile"].counts
    assert rec["days_differ"] == 0 and rec["resent_cases"] == 0

    def night_result():
        # closed at once: on SQLite every transaction is BEGIN IMMEDIATE, and a connection left open holds the
        # write lock until it is garbage-collected (45 s of the hub's shutdown waited on it)
        with hub.engine.connect() as conn:
            return conn.execute(text("SELECT ok, steps FROM night_results WHERE terminal_id = 'T1'")).first()

    row = wait_for(night_result, what="nightly result at the hub")
    assert row[0] in (True, 1)
    assert [s["name"] for s in json.loads(row[1])] == [
        "backup",
        "catalogue",
        "reconcile",
        "clock",
        "audit",
        "retention",
    ]


def test_retention_keeps_what_the_hub_never_confirmed(hub_factory, edge_factory):
    """Acked, closed and old is not enough: until a night confirms it, the sealed copy stays."""
    hub_factory()
    edge = edge_factory(retention_days=1)
    case = edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(7)))
    case_id = str(case.case_id)
    edge.outbox.acked([case_id], at=utcnow() - timedelta(days=3))
    with edge.engine.begin() as conn:
        conn.execute(
            text("UPDATE cases SET status = 'completed', status_at = :t WHERE case_id = :c"),
            {"t": (utcnow() - timedelta(days=3)).replace(tzinfo=None), "c": case_id},
        )
        conn.execute(text("DELETE FROM outbox"))
    assert edge.retention.purge().cases == 0, "unreconciled: kept"
    assert edge.cases.get(case_id) is not None


def test_a_reconciliation_line_not_of_the_protocols_form_is_dead_lettered(hub_factory, edge_factory):
    """Round 2's lines are ``c:<case id>:<version>`` or ``r:<rating id>``. One that is not (36 dashes for
    an id, a version in words) is malformed input: the hub refuses the message as such and records it,
    instead of failing inside the reconciliation with nothing recorded and no answer."""
    hub = hub_factory()
    edge_factory()
    today = utcnow().date()
    good = f"c:{uuid.uuid4()}:1"
    for bad in ("c:" + "-" * 36 + ":1", f"c:{uuid.uuid4()}:one", f"x:{uuid.uuid4()}"):
        payload = json.loads(
            ReconcileRequest(
                terminal="T1",
                body=ReconcileRequestBody(first_day=today, last_day=today, items=[DayItems(day=today, items=[good])]),
            ).encode()
        )
        payload["body"]["items"][0]["items"] = [good, bad]
        hub.handler.handle(topics.up("T1", topics.Up.RECONCILE), json.dumps(payload).encode())
    with hub.engine.connect() as conn:
        reasons = conn.execute(text("SELECT reason FROM dead_letters WHERE terminal_id = 'T1'")).scalars().all()
    assert len(reasons) == 3 and "processing_failed" not in reasons, reasons


def test_a_night_report_arriving_late_does_not_hide_a_newer_one(hub_factory, edge_factory):
    """QoS 1 may deliver last night's report again, or late, after tonight's: the fleet page keeps showing
    the newest night the terminal ran, not the one that arrived last."""
    hub = hub_factory()
    edge_factory()
    now = utcnow()

    def report(started: datetime, ok: bool) -> None:
        body = NightReportBody(started_at=started, seconds=1.0, ok=ok, steps=[])
        hub.handler.handle(topics.up("T1", topics.Up.RECONCILE), NightReport(terminal="T1", body=body).encode())

    report(now, ok=True)
    report(now - timedelta(days=1), ok=False)  # the night before, failed, delivered again
    with hub.engine.connect() as conn:
        ok = conn.execute(text("SELECT ok FROM night_results WHERE terminal_id = 'T1'")).scalar()
    assert ok in (True, 1), "the newest night's result is shown"

    report(now + timedelta(days=365), ok=True)  # the terminal's clock a year ahead, then set right
    report(utcnow(), ok=False)
    with hub.engine.connect() as conn:
        ok = conn.execute(text("SELECT ok FROM night_results WHERE terminal_id = 'T1'")).scalar()
    assert ok in (False, 0), "a result from a clock ahead does not hide the nights after it"


def test_items_stamped_by_a_clock_that_ran_ahead_are_confirmed_too(hub_factory, edge_factory):
    """Year-end review: a terminal whose clock ran days ahead (then set right) stamped a case and a rating
    on days after today; the night compared up to today only, so they were never confirmed, and an
    unconfirmed item is never purged. The window now runs on to the newest unconfirmed day."""
    hub_factory()
    edge = edge_factory()
    ahead = utcnow() + timedelta(days=3)
    case = edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)), now=ahead)
    today = edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(2)))
    rating = edge.ratings.rate(RatingLevel.SATISFIED, now=ahead)
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="cases and rating acked")
    night = run_night(edge)
    assert night.ok, night.as_json()
    assert _steps(night)["reconcile"].counts["confirmed"] == 3
    with edge.engine.connect() as conn:
        unconfirmed = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM cases WHERE reconciled_at IS NULL)"
                " + (SELECT count(*) FROM ratings WHERE reconciled_at IS NULL)"
            )
        ).scalar()
    assert unconfirmed == 0, (case.receipt_no, today.receipt_no, rating.rating_id)


def test_a_parked_case_does_not_stretch_the_window_over_days_retention_purged(hub_factory, edge_factory):
    """Night review: a case the hub refused stays parked and never confirmed, and the window stretched back
    to its day for good. The days in it whose confirmed cases retention had purged then differed, and the
    hub reported those cases, every night, as cases it holds that the terminal never listed — the warning
    that tells of a case truly lost at the terminal, drowned."""
    hub_factory()
    edge = edge_factory(retention_days=30)
    now = utcnow()
    parked = edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)), now=now - timedelta(days=40))
    edge.outbox.park([str(parked.case_id)], "duplicate_receipt: receipt … belongs to another case")
    old = [
        str(
            edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n)), now=now - timedelta(days=35)).case_id
        )
        for n in (2, 3)
    ]
    edge.start_sync()
    wait_for(lambda: all(edge.cases.get(c)["hub_acked_at"] for c in old), what="the two cases at the hub")
    assert _steps(run_night(edge))["reconcile"].counts["unknown_at_terminal"] == 0
    with edge.engine.begin() as conn:  # closed 35 days ago: past the window, and confirmed by that night
        for case_id in old:
            conn.execute(
                text("UPDATE cases SET status = 'completed', status_at = :t, hub_acked_at = :t WHERE case_id = :c"),
                {"t": (now - timedelta(days=35)).replace(tzinfo=None), "c": case_id},
            )
    assert edge.retention.purge().cases == 2
    night = run_night(edge)
    assert night.ok, night.as_json()
    assert _steps(night)["reconcile"].counts["unknown_at_terminal"] == 0
