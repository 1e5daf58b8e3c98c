"""Dead letters stay within bounds whatever arrives: a prefix and a SHA-256 per letter (never the opened
inside of a sealed case), the newest few per terminal with every one counted, and a purge by age.

Messages go through the real ingest handler on SQLite and PostgreSQL; the expected hashes come from
hashlib over the bytes the test sent, the expected counts from the test's own tally.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from hub import cli
from hub.cases.routing import Router
from hub.db.engine import migrate, open_engine
from hub.ingest.handler import Handler, Incoming
from hub.ingest.metrics import IngestMetrics
from protocol import sealed, topics
from protocol.cases import Ack, CaseBatch, CaseBatchBody, CaseSubmission
from protocol.envelope import utcnow
from tests.support import CASE_KEY, applicant, register_terminal, seal, submission

UP = topics.up("T1", topics.Up.CASES)


@pytest.fixture
def engine(hub_db_url):
    e = open_engine(hub_db_url)
    yield e
    e.dispose()


def _handler(engine, per_terminal: int = 1000, prefix: int = 2048) -> Handler:
    return Handler(
        engine,
        Router({"MZ-001": "MZ"}),
        IngestMetrics(),
        case_key=sealed.private_key(CASE_KEY),
        dead_letter_prefix_bytes=prefix,
        dead_letters_per_terminal=per_terminal,
    )


def _rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).all()]


def _case(n: int, id_number: str | None = None, name: str = "王小明") -> CaseSubmission:
    """The plain case :func:`tests.support.submission` makes, with this applicant and a phone in its form."""
    case = submission(n)
    a = case.applicant.model_copy(update={"name": name, **({"id_number": id_number} if id_number else {})})
    return case.model_copy(update={"applicant": a, "form": {"phone": "13912345678"}})


def test_a_dead_letter_keeps_a_prefix_and_the_hash_of_all_that_arrived(engine):
    handler = _handler(engine, prefix=1024)
    big = b'{"v": 1, "pad": "' + b"x" * 100_000 + b'"}'
    handler.handle(UP, big)
    size, digest, payload = _rows(engine, "SELECT size, sha256, payload FROM dead_letters")[0]
    assert size == len(big)
    assert digest == hashlib.sha256(big).hexdigest()
    assert bytes(payload) == big[:1024]


def test_a_case_refused_after_opening_is_kept_sealed_never_opened(engine):
    register_terminal(engine, "T1")
    body = "31010119550312002"  # a check digit that does not fit: refused after the case was opened
    wrong = body + ("0" if applicant(2).id_number[-1] != "0" else "1")
    case = _case(2, id_number=wrong, name="李秀英")
    box = seal(case)
    replies = _handler(engine).handle(UP, CaseBatch(terminal="T1", body=CaseBatchBody(cases=[box])).encode())
    ack = Ack.model_validate_json(replies[0][1])
    assert [r.reason.value for r in ack.body.rejected] == ["invalid_id_number"]
    (payload, detail) = _rows(engine, "SELECT payload, detail FROM dead_letters")[0]
    stored = bytes(payload)
    assert json.loads(stored) == json.loads(box.model_dump_json()), "the case as it travelled: sealed"
    for secret in (wrong, "李秀英", "13912345678"):
        assert secret.encode() not in stored and secret not in detail


def test_each_terminal_keeps_its_newest_letters_and_every_one_is_counted(engine):
    handler = _handler(engine, per_terminal=5)
    other = topics.up("T2", topics.Up.CASES)
    at = utcnow()
    handler.handle_many([Incoming(UP, f"bad {n}".encode(), at + timedelta(seconds=n)) for n in range(8)])
    handler.handle_many([Incoming(UP, f"bad {n}".encode(), at + timedelta(seconds=n)) for n in range(8, 12)])
    # over the rate: the last of four, three dropped on arrival before it (the worker) and never kept as rows
    handler.handle_many([Incoming(UP, b"over", at + timedelta(seconds=20), limited=True, also=3)])
    handler.handle(other, b"{nope", at)
    kept = _rows(engine, "SELECT payload FROM dead_letters WHERE terminal_id = 'T1' ORDER BY id")
    assert [bytes(p) for (p,) in kept] == [b"bad 8", b"bad 9", b"bad 10", b"bad 11", b"over"]
    counts = _rows(engine, "SELECT terminal_id, reason, count, dropped FROM dead_letter_counts ORDER BY 1, 2")
    # T1: 12 malformed (8 of them dropped to keep 5 rows) and 4 rate-limited (3 never kept); T2 untouched by T1's bound.
    assert counts == [("T1", "malformed_json", 12, 8), ("T1", "rate_limited", 4, 3), ("T2", "malformed_json", 1, 0)]
    assert _rows(engine, "SELECT terminal_id FROM terminals ORDER BY 1") == [("T1",), ("T2",)], (
        "a terminal sending only refused messages is on the fleet's list too"
    )


def test_old_dead_letters_are_purged_and_their_counts_stay(engine, hub_db_url, monkeypatch, capsys):
    handler = _handler(engine)
    handler.handle(UP, b"old", utcnow() - timedelta(days=40))
    handler.handle(UP, b"new", utcnow() - timedelta(days=1))
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    assert cli.main(["dead-letters", "purge", "--older-than", "30"]) == 0
    assert "1 dead letter(s)" in capsys.readouterr().out
    assert [bytes(p) for (p,) in _rows(engine, "SELECT payload FROM dead_letters")] == [b"new"]
    assert _rows(engine, "SELECT count FROM dead_letter_counts") == [(2,)]
    assert cli.main(["dead-letters", "counts"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 2


@pytest.mark.empty_db
def test_the_upgrade_trims_old_dead_letters_and_drops_opened_cases_from_them(hub_db_url):
    engine = open_engine(hub_db_url, upgrade=False)
    try:
        migrate(engine, "h0011")
        at = utcnow().replace(microsecond=0)
        at = at if engine.dialect.name != "sqlite" else at.replace(tzinfo=None)
        rows = [
            ("invalid_id_number", b'{"applicant": {"id_number": "310101195503120021", "name": "x"}}'),
            ("oversized", b"y" * 60_000),
        ]
        with engine.begin() as conn:
            for reason, payload in rows:
                conn.execute(
                    text(
                        "INSERT INTO dead_letters (received_at, topic, terminal_id, reason, detail, size, payload) "
                        "VALUES (:at, 't', 'T1', :r, '', :n, :p)"
                    ),
                    {"at": at, "r": reason, "n": len(payload), "p": payload},
                )
        migrate(engine)
        got = _rows(engine, "SELECT reason, payload, sha256 FROM dead_letters ORDER BY id")
        assert [(r, bytes(p)) for r, p, _ in got] == [("invalid_id_number", b""), ("oversized", b"y" * 4096)]
        assert [d for _, _, d in got] == [None, None], "the hash of what arrived is unknown for old rows"
        assert _rows(engine, "SELECT terminal_id, reason, count FROM dead_letter_counts ORDER BY 2") == [
            ("T1", "invalid_id_number", 1),
            ("T1", "oversized", 1),
        ]
    finally:
        engine.dispose()
