"""The hub trusts its own register, not what a sealed case says: a case is taken only from a registered
terminal, for the committee it is registered to, under a receipt number of that committee that no other
case holds (the hub gives one of its own where another case holds the printed one). Each refusal goes back
to the terminal as a rejection with its reason (the terminal parks the case, see
tests/integration/test_bad_input.py) and is a dead letter at the hub.

Cases go through the real ingest handler on SQLite and PostgreSQL; the register is set through the
command line, as at provisioning.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hub import cli
from hub.calendar.duedates import DueDates
from hub.calendar.service import CalendarService
from hub.cases.queries import CaseQueries
from hub.cases.states import Action
from hub.cases.workflow import Workflow
from hub.db.engine import open_engine
from hub.notices.outbox import Notices
from hub.people.service import Users
from hub.portal.service import Portal
from hub.portal.token import TokenSeal
from hub.settings import PortalSettings
from hub.web.record_pdf import record_pdf
from kernel.db import MigrationRefused
from protocol import sealed, topics
from protocol.cases import Ack, CaseBatch, CaseBatchBody, CaseSubmission
from protocol.catalogue import load_seed
from protocol.envelope import utcnow
from tests.support import CASE_KEY, applicant, first_hub_number, seal
from tests.unit.hub.helpers import add_users, handler


@pytest.fixture
def engine(hub_db_url, monkeypatch):
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    e = open_engine(hub_db_url)
    yield e
    e.dispose()


_COLUMNS = (
    "case_id, terminal_id, committee, receipt_no, query_code, item_code, department, status, version, id_number, "
    "applicant_name, created_at, sent_at, received_at, updated_at, payload"
)


def _case(
    receipt: str, committee: str = "JW001", query_code: str = "ABCDEF", notify_phone: str | None = None
) -> CaseSubmission:
    return CaseSubmission(
        case_id=uuid.uuid4(),
        receipt_no=receipt,
        query_code=query_code,
        item_code="MZ-001",
        committee=committee,
        created_at=utcnow(),
        applicant=applicant(1),
        notify_phone=notify_phone,
    )


def _send(engine, terminal: str, *cases: CaseSubmission) -> Ack:
    batch = CaseBatch(terminal=terminal, body=CaseBatchBody(cases=[seal(c) for c in cases]))
    replies = handler(engine).handle(topics.up(terminal, topics.Up.CASES), batch.encode())
    return Ack.model_validate_json(replies[0][1])


def _verdicts(ack: Ack, *cases: CaseSubmission) -> list[str]:
    reasons = {r.item_id: r.reason.value for r in ack.body.rejected}
    return ["acked" if c.case_id in ack.body.acked else reasons.get(c.case_id, "?") for c in cases]


def _count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_a_case_from_a_terminal_not_in_the_register_is_refused(engine):
    case = _case("JW001-20261127-0001")
    assert _verdicts(_send(engine, "T1", case), case) == ["unregistered_terminal"]
    assert _count(engine, "SELECT count(*) FROM cases") == 0
    assert cli.main(["terminal", "register", "T1", "--committee", "JW001"]) == 0
    assert _verdicts(_send(engine, "T1", case), case) == ["acked"], "registered, the terminal's case is taken"


def test_a_case_naming_another_committee_than_the_register_is_refused(engine):
    assert cli.main(["terminal", "register", "T1", "--committee", "JW001"]) == 0
    other = _case("JW002-20261127-0001", committee="JW002")  # what a terminal moved or tampered with says
    borrowed = _case("JW002-20261127-0002", committee="JW001")  # its own committee, another's receipt number
    mine = _case("JW001-20261127-0003")
    ack = _send(engine, "T1", other, borrowed, mine)
    assert _verdicts(ack, other, borrowed, mine) == ["committee_mismatch", "committee_mismatch", "acked"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT committee, receipt_no FROM cases")).all() == [("JW001", mine.receipt_no)]
        reasons = conn.execute(text("SELECT reason FROM dead_letters ORDER BY id")).scalars().all()
    assert reasons == ["committee_mismatch", "committee_mismatch"]


def test_a_receipt_number_names_one_case_of_its_committee(engine, tmp_path):
    """A second case under a number the committee's cases hold (a terminal that forgot its last cases after a
    power cut gave their numbers again; two terminals sharing a series) is not merged with the first, nor
    refused — refused, it was parked at the terminal and staff had to take the application again. The hub
    takes it under a number of its own (``9nnnnn`` drawn from its case id, tests.support.first_hub_number),
    and the printed number still finds it."""
    for terminal in ("K1", "K2"):
        assert cli.main(["terminal", "register", terminal, "--committee", "JW001"]) == 0
    first = _case("JW001-20261127-0001")
    assert _verdicts(_send(engine, "K1", first), first) == ["acked"]
    assert _verdicts(_send(engine, "K1", first), first) == ["acked"], "the same case again is a no-op, acked"
    taken = _case("JW001-20261127-0001", query_code="TAKEN2", notify_phone="13900000000")  # the same number
    twin_a, twin_b = _case("JW001-20261127-0002"), _case("JW001-20261127-0002")  # twice in one batch
    ack = _send(engine, "K2", taken, twin_a, twin_b)
    assert _verdicts(ack, taken, twin_a, twin_b) == ["acked"] * 3
    hub_taken = first_hub_number(taken.case_id, "JW001-20261127-0001")
    hub_twin = first_hub_number(twin_b.case_id, "JW001-20261127-0002")
    assert ack.body.renumbered == {taken.case_id: hub_taken, twin_b.case_id: hub_twin}
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT case_id, receipt_no, printed_receipt_no FROM cases")).all()
    assert sorted(rows) == sorted(
        [
            (str(first.case_id), "JW001-20261127-0001", None),
            (str(taken.case_id), hub_taken, "JW001-20261127-0001"),
            (str(twin_a.case_id), "JW001-20261127-0002", None),
            (str(twin_b.case_id), hub_twin, "JW001-20261127-0002"),
        ]
    )
    again = _send(engine, "K2", taken)  # its ack lost: sent again, acked again, its number told again
    assert _verdicts(again, taken) == ["acked"] and again.body.renumbered == {taken.case_id: hub_taken}
    assert _count(engine, "SELECT count(*) FROM cases") == 4
    assert _count(engine, "SELECT count(*) FROM dead_letters") == 0
    received = _count(engine, "SELECT count(*) FROM audit WHERE action = 'cases.received' AND data LIKE '%renumbered%'")
    assert received == 1, "the batch's audit entry names the printed number of each case taken so"
    with engine.begin() as conn:  # a hub restored from a backup taken before it: the case is gone
        for table in ("case_events", "cases"):
            conn.execute(text(f"DELETE FROM {table} WHERE case_id = :c"), {"c": str(taken.case_id)})
    restored = _send(engine, "K2", taken)  # its terminal sends it again (the night finds it missing)
    assert restored.body.renumbered == {taken.case_id: hub_taken}, "the number its SMS named is its own again"

    # The resident's receipt finds the case on the portal, and a clerk's search finds it by either number.
    portal = Portal.build(engine, load_seed, load_seed().get, TokenSeal(sealed.private_key(CASE_KEY)), PortalSettings())
    found = portal.lookup.find("198.51.100.7", "JW001-20261127-0001", applicant(1).id_number, "TAKEN2")
    assert (found.receipt_no, found.centre_receipt_no) == ("JW001-20261127-0001", hub_taken), "hers, then ours"
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(record_pdf(found, "https://hub.test/portal/verify?t=x", utcnow()))
    printed = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "回执号" in printed and "JW001-20261127-0001" in printed
    assert "中心受理编号" in printed and hub_taken in printed
    queries = CaseQueries(engine, load_seed, CalendarService(engine), load_seed().get)
    manager = add_users(Users(engine, lambda: {d.code: d.name for d in load_seed().departments}))["manager"]
    for typed in ("JW001-20261127-0001", hub_taken, hub_taken[-6:]):
        assert str(taken.case_id) in {c.case_id for c in queries.queue(manager, receipt=typed).items}, typed
    assert queries.detail(manager, str(taken.case_id)).printed_receipt_no == "JW001-20261127-0001"  # 回执原号
    assert queries.detail(manager, str(first.case_id)).printed_receipt_no is None
    # Her SMS names the number on her receipt, which the portal and the window find.
    departments = lambda: {d.code: d.name for d in load_seed().departments}  # noqa: E731
    flow = Workflow(
        engine,
        DueDates(CalendarService(engine), load_seed().get),
        departments,
        notices=Notices(load_seed().get).enqueue,
    )
    flow.act(manager, str(taken.case_id), Action.ACCEPT, 1)
    with engine.connect() as conn:
        (sms,) = conn.execute(text("SELECT text FROM sms_outbox")).scalars()
    assert "JW001-20261127-0001" in sms and hub_taken not in sms
    # the audit page's 案件 search by the printed number: both cases' histories, not only the first's
    assert sorted(queries.case_ids_of("JW001-20261127-0001")) == sorted([str(first.case_id), str(taken.case_id)])

    with pytest.raises(IntegrityError), engine.begin() as conn:  # the database holds the line too
        conn.execute(
            text(
                f"INSERT INTO cases ({_COLUMNS}) SELECT :id, {_COLUMNS.split(', ', 1)[1]} FROM cases "
                "WHERE receipt_no = 'JW001-20261127-0001'"
            ),
            {"id": str(uuid.uuid4())},
        )


def test_the_register_is_kept_from_the_command_line_and_audited(engine, capsys):
    assert cli.main(["terminal", "register", "JW001-K1", "--committee", "JW001"]) == 0
    assert cli.main(["terminal", "register", "JW001-K2", "--committee", "JW001"]) == 0
    out = capsys.readouterr()
    assert "JW001-K1 serve(s) JW001 too" in out.err, "a second terminal of a committee is pointed out"
    assert cli.main(["terminal", "register", "JW001-K2", "--committee", "JW002"]) == 0
    assert cli.main(["terminal", "list"]) == 0
    listed = [line.split("\t")[:2] for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert listed == [["JW001-K1", "JW001"], ["JW001-K2", "JW002"]]
    assert cli.main(["terminal", "remove", "JW001-K1"]) == 0
    with engine.connect() as conn:
        audit = conn.execute(text("SELECT action, subject FROM audit ORDER BY id")).all()
    assert audit == [
        ("terminal.registered", "JW001-K1"),
        ("terminal.registered", "JW001-K2"),
        ("terminal.registered", "JW001-K2"),
        ("terminal.unregistered", "JW001-K1"),
    ]
    from shegong.cli import main as shegong

    assert shegong(["hub", "terminal", "register", "T1", "--committee", "JW-001"]) == 2  # a message, not a trace
    assert shegong(["hub", "terminal", "remove", "nobody"]) == 2


def test_a_committee_is_named_where_its_terminal_is_registered_and_the_pages_get_the_name(engine, capsys):
    from hub.ingest.committees import CommitteeNames

    args = ["terminal", "register", "JW001-K1", "--committee", "JW001", "--committee-name", " 南京东路第一居委会 "]
    assert cli.main(args) == 0
    assert cli.main(["terminal", "register", "JW002-K1", "--committee", "JW002"]) == 0
    assert cli.main(["terminal", "list"]) == 0
    listed = [line.split("\t") for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert [(row[0], row[5]) for row in listed] == [("JW001-K1", "南京东路第一居委会"), ("JW002-K1", "")]
    names = CommitteeNames(engine)
    assert names.label("JW001") == "南京东路第一居委会" and names.label("JW002") == "JW002"  # the code, unnamed
    assert names.by_terminal() == {"JW001-K1": "南京东路第一居委会", "JW002-K1": "JW002"}
    assert cli.main(args[:-1] + ["南京东路一居"]) == 0  # renamed
    assert names.label("JW001") == "南京东路一居"
    with engine.connect() as conn:
        named = conn.execute(text("SELECT subject FROM audit WHERE action = 'committee.named'")).scalars().all()
    assert named == ["JW001", "JW001"]


@pytest.mark.empty_db
def test_the_upgrade_registers_each_terminal_to_the_one_committee_its_cases_named(hub_db_url):
    from hub.db.engine import migrate

    engine = open_engine(hub_db_url, upgrade=False)
    try:
        migrate(engine, "h0011")
        cols = (
            "case_id, terminal_id, committee, receipt_no, query_code, item_code, department, status, version, "
            "id_number, applicant_name, created_at, sent_at, received_at, updated_at, payload"
        )
        at = utcnow().replace(microsecond=0)
        at = at if engine.dialect.name != "sqlite" else at.replace(tzinfo=None)
        with engine.begin() as conn:
            for terminal, committee, n in [
                ("K1", "JW001", 1),
                ("K1", "JW001", 2),
                ("K9", "JW001", 3),
                ("K9", "JW002", 4),
            ]:
                conn.execute(
                    text(
                        f"INSERT INTO cases ({cols}) VALUES (:id, :t, :c, :r, 'ABCDEF', 'MZ-001', 'MZ', 'submitted', "
                        "1, 'x', 'x', :at, :at, :at, :at, '{}')"
                    ),
                    {
                        "id": str(uuid.uuid4()),
                        "t": terminal,
                        "c": committee,
                        "r": f"{committee}-20261127-{n:04d}",
                        "at": at,
                    },
                )
        migrate(engine)
        with engine.connect() as conn:
            register = conn.execute(text("SELECT terminal_id, committee FROM terminal_register")).all()
        assert register == [("K1", "JW001")], "K9's cases named two committees: the operator decides"
    finally:
        engine.dispose()


@pytest.mark.empty_db
def test_the_upgrade_stops_on_receipt_numbers_held_twice_and_says_which(hub_db_url):
    from hub.db.engine import migrate

    engine = open_engine(hub_db_url, upgrade=False)
    try:
        migrate(engine, "h0011")
        at = utcnow().replace(microsecond=0)
        at = at if engine.dialect.name != "sqlite" else at.replace(tzinfo=None)
        with engine.begin() as conn:
            for _ in range(2):
                conn.execute(
                    text(
                        "INSERT INTO cases (case_id, terminal_id, committee, receipt_no, query_code, item_code, "
                        "department, status, version, id_number, applicant_name, created_at, sent_at, received_at, "
                        "updated_at, payload) VALUES (:id, 'K1', 'JW001', 'JW001-20261127-0001', 'ABCDEF', 'MZ-001', "
                        "'MZ', 'submitted', 1, 'x', 'x', :at, :at, :at, :at, '{}')"
                    ),
                    {"id": str(uuid.uuid4()), "at": at},
                )
        with pytest.raises(MigrationRefused, match="JW001-20261127-0001"):  # one line, a user error
            migrate(engine)
    finally:
        engine.dispose()


def test_a_receipt_series_is_one_digit_and_each_terminal_of_a_committee_holds_its_own(engine, capsys):
    from shegong.cli import main as shegong

    assert cli.main(["terminal", "register", "K1", "--committee", "JW001", "--series", "1"]) == 0
    assert cli.main(["terminal", "register", "K2", "--committee", "JW001", "--series", "2"]) == 0
    assert "serve(s) JW001 too" not in capsys.readouterr().err, "with a series each, nothing collides"
    assert shegong(["hub", "terminal", "register", "K3", "--committee", "JW001", "--series", "1"]) == 2  # K1's
    assert shegong(["hub", "terminal", "register", "K3", "--committee", "JW001", "--series", "10"]) == 2  # 2 digits
    assert cli.main(["terminal", "register", "K3", "--committee", "JW002", "--series", "1"]) == 0  # another committee
    assert "held by terminal K1" in capsys.readouterr().err
    assert cli.main(["terminal", "list"]) == 0
    listed = [line.split("\t")[:3] for line in capsys.readouterr().out.splitlines() if "\t" in line]
    assert listed == [["K1", "JW001", "1"], ["K2", "JW001", "2"], ["K3", "JW002", "1"]]
    with pytest.raises(IntegrityError), engine.begin() as conn:  # the database holds the line too
        conn.execute(text("UPDATE terminal_register SET receipt_series = 1 WHERE terminal_id = 'K2'"))
    assert cli.main(["terminal", "register", "K2", "--committee", "JW001"]) == 0, "registered again: keeps it"
    assert cli.main(["terminal", "list"]) == 0
    assert "K2\tJW001\t2\t" in capsys.readouterr().out
