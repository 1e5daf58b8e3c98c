"""Case batches committed together (one statement per table for a group of messages) are checked against
each other before anything is written: a case sent again within the same group is stored once and acked
in both answers, a receipt number taken earlier in the group is refused, and a case finished on the spot
keeps its second event and its work row. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from hub.db.engine import open_engine
from hub.ingest.handler import Events, Incoming
from protocol import topics
from protocol.cases import Ack, CaseBatch, CaseBatchBody, CaseSubmission, SealedCase
from protocol.envelope import utcnow
from tests.support import applicant, first_hub_number, register_terminal, seal
from tests.unit.hub.helpers import handler

UP = topics.up("T1", topics.Up.CASES)


@pytest.fixture
def engine(hub_db_url):
    e = open_engine(hub_db_url)
    register_terminal(e, "T1", "JW001")
    yield e
    e.dispose()


def _case(n: int, item: str = "MZ-001", receipt: str | None = None, committee: str = "JW001") -> CaseSubmission:
    return CaseSubmission(
        case_id=uuid.uuid4(),
        receipt_no=receipt or f"{committee}-20261204-{n:06d}",
        query_code="ABC234",
        item_code=item,
        committee=committee,
        created_at=utcnow() - timedelta(minutes=5),
        applicant=applicant(n),
    )


def _batch(seq: int, sealed: list[SealedCase]) -> CaseBatch:
    return CaseBatch(terminal="T1", seq=seq, sent_at=utcnow(), body=CaseBatchBody(cases=sealed))


def test_batches_of_one_group_are_checked_against_each_other(engine):
    c1, c2, c3 = _case(1), _case(2), _case(3)
    on_spot = _case(4, item="MZ-004")  # an item done on the spot (当场办结) in the seed catalogue
    c5 = _case(5, receipt=c3.receipt_no)  # another case under a receipt number c3 took in this group
    s2 = seal(c2)
    first = _batch(1, [seal(c1), s2])
    again = _batch(2, [s2, seal(c3), seal(on_spot)])  # c2 again: its ack was not seen yet
    clash = _batch(3, [seal(c5)])
    at = utcnow()
    replies = handler(engine).handle_many([Incoming(UP, b.encode(), at) for b in (first, again, clash)])

    answers = [Ack.model_validate_json(r[1]) for r in replies if not isinstance(r, Events)]
    acks = {a.body.in_reply_to: a.body for a in answers}
    assert set(acks[first.id].acked) == {c1.case_id, c2.case_id}
    assert set(acks[again.id].acked) == {c2.case_id, c3.case_id, on_spot.case_id}
    # taken under a number of the hub's: c3 took the printed one earlier in the group
    assert acks[clash.id].acked == [c5.case_id] and acks[clash.id].rejected == []
    assert acks[clash.id].renumbered == {c5.case_id: first_hub_number(c5.case_id, c3.receipt_no)}
    assert not acks[first.id].renumbered and not acks[again.id].renumbered

    events = [r for r in replies if isinstance(r, Events)]
    sent = [(str(e.case_id), e.version) for r in events for e in r.events]
    assert sorted(sent) == sorted(
        [(str(c.case_id), 1) for c in (c1, c2, c3, on_spot, c5)] + [(str(on_spot.case_id), 2)]
    )  # c2's events once, with the batch that stored it
    ids = [e.event_id for r in events for e in r.events]
    assert len(set(ids)) == len(ids)

    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT case_id, status FROM cases")).all())
        versions = sorted(conn.execute(text("SELECT case_id, version FROM case_events")).all())
        work = conn.execute(text("SELECT case_id, outcome FROM case_work")).all()
        received = conn.execute(text("SELECT count(*) FROM audit WHERE action = 'cases.received'")).scalar()
    assert stored == {
        str(c1.case_id): "submitted",
        str(c2.case_id): "submitted",
        str(c3.case_id): "submitted",
        str(on_spot.case_id): "completed",
        str(c5.case_id): "submitted",
    }
    assert versions == sorted([(str(c.case_id), 1) for c in (c1, c2, c3, on_spot, c5)] + [(str(on_spot.case_id), 2)])
    assert work == [(str(on_spot.case_id), "completed")]
    assert received == 3  # one entry per batch that brought new cases


def test_the_drivers_own_errors_reach_the_worker_as_sqlalchemys(engine):
    """The group's rows go through the driver's cursor; its errors are raised as SQLAlchemy's classes, by
    which the worker tells a database it cannot use (wait, keep everything) from a bad message (set aside)."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    from hub.db.models import RatingRow, table
    from hub.ingest.handler import _insert_rows

    ratings = table(RatingRow)
    row = {"rating_id": str(uuid.uuid4()), "terminal_id": "T1", "level": None}  # level may not be null
    with pytest.raises(IntegrityError), engine.begin() as conn:
        _insert_rows(conn, ratings, [row])
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # the server ends the session: as a restart would
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        else:  # SQLite refuses every write: as a full disk would
            conn.exec_driver_sql("PRAGMA query_only = ON")
        with pytest.raises(OperationalError):
            _insert_rows(conn, ratings, [{**row, "level": 5}])


def test_a_deadlock_in_a_hook_fails_the_group_for_a_retry_other_failures_stay_with_the_hook(engine):
    """A hook's own failure is rolled back alone (the message's work stands), but a deadlock is the
    server's verdict on the whole transaction's order: it reaches the worker, which tries the group again."""
    from psycopg.errors import DeadlockDetected
    from sqlalchemy.exc import DBAPIError

    from protocol.envelope import MessageType
    from protocol.state import Birth, BirthBody

    h = handler(engine)
    fail: list[Exception] = []

    def hook(conn, message, at):
        raise fail[0]

    h.hooks[MessageType.BIRTH] = [hook]
    birth = Birth(terminal="T1", body=BirthBody(bd_seq=1)).encode()
    topic = topics.state("T1")
    fail.append(ValueError("a hook's own bug"))
    h.handle(topic, birth)  # swallowed, logged
    fail[0] = DBAPIError.instance("UPDATE fleet_terminals …", None, DeadlockDetected(), Exception)
    with pytest.raises(DBAPIError) as raised:
        h.handle(topic, birth)
    assert raised.value.orig.sqlstate == "40P01"


def test_gaps_in_a_terminals_sequence_are_counted_across_the_batches_of_a_group_and_a_birth_restarts_it(engine):
    """Worked by hand: batches 1, 2, 5 (a gap: 3 and 4 never came), then in the next group 7 (a gap), a birth
    with seq 1 (a new session: the sequence starts again), 2 (none) and 4 (a gap): three gaps, last seq 4."""
    from protocol.state import Birth, BirthBody

    h = handler(engine)

    def batches(*seqs: int) -> list[Incoming]:
        return [Incoming(UP, _batch(seq, [seal(_case(seq))]).encode(), utcnow()) for seq in seqs]

    def stored() -> tuple[int, int]:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT last_seq, seq_gaps FROM terminals WHERE terminal_id = 'T1'")).one()
        return row[0], row[1]

    h.handle_many(batches(1, 2, 5))
    assert stored() == (5, 1) and h.metrics.seq_gaps._value.get() == 1

    birth = Birth(terminal="T1", seq=1, body=BirthBody(bd_seq=1))
    h.handle_many([*batches(7), Incoming(topics.state("T1"), birth.encode(), utcnow()), *batches(2, 4)])
    assert stored() == (4, 3) and h.metrics.seq_gaps._value.get() == 3


def test_hooks_run_without_savepoints_and_a_failing_one_is_rolled_back_alone_when_the_group_is_done_again(engine):
    """A group whose hooks all succeed takes no savepoint (two round trips per message and hook). When one
    fails, the group is done again with each hook in a savepoint: that hook's write is gone, the other
    hook's write, both births and the case batch between them stand; each message is counted once."""
    from sqlalchemy import event, update

    from hub.db.models import TerminalRow, table
    from protocol.envelope import MessageType
    from protocol.state import Birth, BirthBody

    terms = table(TerminalRow)
    h = handler(engine)
    savepoints: list[str] = []
    event.listen(engine, "savepoint", lambda conn, name: savepoints.append(name))
    broken: set[str] = set()

    def hook(conn, message, at):
        conn.execute(update(terms).where(terms.c.terminal_id == message.terminal).values(app_version="by-hook"))
        if message.terminal in broken:
            raise ValueError("a hook's own bug")
        return []

    h.hooks[MessageType.BIRTH] = [hook]

    def group(bd_seq: int, case: int) -> list[Incoming]:
        births = {t: Birth(terminal=t, body=BirthBody(bd_seq=bd_seq, app_version="1.0")) for t in ("T1", "T2")}
        return [
            Incoming(topics.state("T1"), births["T1"].encode(), utcnow()),
            Incoming(UP, _batch(case, [seal(_case(case))]).encode(), utcnow()),
            Incoming(topics.state("T2"), births["T2"].encode(), utcnow()),
        ]

    def stored() -> dict[str, tuple[str, int]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT terminal_id, app_version, bd_seq FROM terminals")).all()
        return {t: (version, bd_seq) for t, version, bd_seq in rows}

    h.handle_many(group(1, 1))
    assert savepoints == []
    assert stored() == {"T1": ("by-hook", 1), "T2": ("by-hook", 1)}

    broken.add("T1")
    h.handle_many(group(2, 2))
    assert len(savepoints) == 2  # the second time round: one per hook run
    assert stored() == {"T1": ("1.0", 2), "T2": ("by-hook", 2)}
    # counted once committed: the given-up first pass counts nothing (two groups, two births each)
    assert h.metrics.messages.labels(MessageType.BIRTH.value)._value.get() == 4
    assert h.metrics.messages.labels(MessageType.CASE_BATCH.value)._value.get() == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar() == 2


def test_births_of_one_group_are_written_together_each_with_what_its_own_terminal_missed(engine):
    """A fleet reconnecting at once: the births of a group are one write, yet each is answered as if alone.
    Worked by hand: T1 stored cases a and b, T2 case c, T3 case e; then one group brings T2's case d, T1's
    birth with a's event as its watermark, T2's birth with none, and T3's birth (none either) older than its
    session on record. T1 missed b alone; T2 missed c and d (d came before its birth in the group); T3's
    birth changes nothing and is answered with nothing. Each live birth is one link event in the fleet's
    history; the same births read again (retained messages: sent to every worker that subscribes again) add
    none and are answered with nothing — a chaos review saw each worker restart resend every terminal all its
    events since its birth, and raise clock alerts from the births' old stamps. A birth the hub asked for
    (REBIRTH: the same session, a later message number) is answered again."""
    from hub.fleet.registry import Fleet
    from hub.settings import FleetSettings
    from protocol.state import Birth, BirthBody

    register_terminal(engine, "T2", "JW002")
    register_terminal(engine, "T3", "JW003")
    h = handler(engine)
    Fleet(engine, FleetSettings()).attach(h)

    def batch(terminal: str, *cases: CaseSubmission) -> Incoming:
        body = CaseBatchBody(cases=[seal(c) for c in cases])
        message = CaseBatch(terminal=terminal, seq=1, sent_at=utcnow(), body=body)
        return Incoming(topics.up(terminal, topics.Up.CASES), message.encode(), utcnow())

    def birth(terminal: str, bd_seq: int, watermark: int = 0, seq: int = 0) -> Incoming:
        body = BirthBody(bd_seq=bd_seq, events_watermark=watermark)
        return Incoming(topics.state(terminal), Birth(terminal=terminal, seq=seq, body=body).encode(), utcnow())

    a, b = _case(1), _case(2)
    c, d = _case(3, committee="JW002"), _case(4, committee="JW002")
    h.handle_many([batch("T1", a, b), batch("T2", c), batch("T3", _case(5, committee="JW003")), birth("T3", 5, 10**9)])
    with engine.connect() as conn:
        a_event = conn.execute(text("SELECT id FROM case_events WHERE case_id = :c"), {"c": str(a.case_id)}).scalar()

    group = [batch("T2", d), birth("T1", 1, a_event), birth("T2", 1), birth("T3", 4)]
    replies = h.handle_many(group)
    events = [r for r in replies if isinstance(r, Events)]
    # d's own first event goes out with its batch; the births' replies are the rest
    assert [e.case_id for e in events[0].events] == [d.case_id]
    assert {r.terminal: [e.case_id for e in r.events] for r in events[1:]} == {
        "T1": [b.case_id],
        "T2": [c.case_id, d.case_id],
    }

    def links() -> list[tuple[str, str, int]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT terminal_id, kind, bd_seq FROM fleet_link_events ORDER BY id"))
            return [tuple(r) for r in rows]

    def sessions() -> dict[str, int]:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT terminal_id, bd_seq FROM terminals")).all())

    assert sorted(links()) == [("T1", "birth", 1), ("T2", "birth", 1), ("T3", "birth", 5)]
    assert sessions() == {"T1": 1, "T2": 1, "T3": 5}
    again = h.handle_many(group[1:])  # the retained births read again
    assert [r for r in again if isinstance(r, Events)] == [], "nothing sent again"
    assert sorted(links()) == [("T1", "birth", 1), ("T2", "birth", 1), ("T3", "birth", 5)]
    assert sessions() == {"T1": 1, "T2": 1, "T3": 5}
    rebirth = [r for r in h.handle_many([birth("T1", 1, a_event, seq=7)]) if isinstance(r, Events)]
    assert [(r.terminal, [e.case_id for e in r.events]) for r in rebirth] == [("T1", [b.case_id])]


def test_catalogue_reports_of_one_group_are_kept_together_each_as_its_terminal_said(engine):
    """A rollout brings every terminal's report within seconds: a group's reports are one read and one write,
    yet each fleet row ends as its own report says. Worked by hand, four terminals born on version 1: T1
    fails to apply version 2 (its row keeps 1 and since when, and says why), T2 applies 2 (2, since the
    report), T3 reports 1 again (nothing changes), T4 fails to apply 3 but runs 2 now (2, since the report,
    and why). Then T1 applies its version 1 again: the error is gone, the version and since when stay; then
    it applies 2."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from hub.db.models import FleetTerminalRow, table
    from hub.fleet.registry import Fleet
    from hub.settings import FleetSettings
    from protocol.catalogue_sync import CatalogueReport, CatalogueReportBody, ReportStatus
    from protocol.state import Birth, BirthBody

    h = handler(engine)
    Fleet(engine, FleetSettings()).attach(h)
    born, first, then, later = (datetime(2026, 12, 4, 9, m, tzinfo=UTC) for m in (0, 1, 2, 3))

    def birth(terminal: str) -> Incoming:
        message = Birth(terminal=terminal, body=BirthBody(bd_seq=1, catalogue_version=1))
        return Incoming(topics.state(terminal), message.encode(), born)

    def report(terminal: str, at: datetime, version: int, failed: int = 0) -> Incoming:
        status = ReportStatus.FAILED if failed else ReportStatus.APPLIED
        error = "bad item" if failed else ""
        body = CatalogueReportBody(version=version, status=status, failed_version=failed, error=error, applied_at=at)
        message = CatalogueReport(terminal=terminal, body=body)
        return Incoming(topics.up(terminal, topics.Up.CATALOGUE), message.encode(), at)

    def rows() -> dict[str, tuple[int, datetime, str]]:
        fleet = table(FleetTerminalRow)
        q = select(
            fleet.c.terminal_id, fleet.c.catalogue_version, fleet.c.catalogue_version_at, fleet.c.catalogue_error
        )
        with engine.connect() as conn:
            return {t: (v, at, e) for t, v, at, e in conn.execute(q)}

    h.handle_many([birth(t) for t in ("T1", "T2", "T3", "T4")])
    h.handle_many(
        [report("T1", first, 1, failed=2), report("T2", first, 2), report("T3", first, 1), report("T4", first, 2, 3)]
    )
    others = {"T2": (2, first, ""), "T3": (1, born, ""), "T4": (2, first, "v3: bad item")}
    assert rows() == {"T1": (1, born, "v2: bad item"), **others}
    h.handle_many([report("T1", then, 1)])
    assert rows() == {"T1": (1, born, ""), **others}
    h.handle_many([report("T1", later, 2)])
    assert rows() == {"T1": (2, later, ""), **others}
