"""Outbox sequence numbers only go up: after the hub acked and cleared every queued item, the next one
gets a number above all that came before, across a restart too.

The sync agent reads "items after the last one I sent"; SQLite gives a plain integer primary key the
number 1 again when the table is empty, so a case accepted after a full drain would sit unsent until
the link dropped and came back.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from edge.store.cases import NewCase
from edge.store.db import migrate
from kernel.db import make_engine
from tests.support import applicant, assert_exactly_once, wait_for


def _submit(edge, n: int, start: int = 0) -> list[str]:
    return [
        str(edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(start + i))).case_id) for i in range(n)
    ]


def test_a_case_accepted_after_a_full_drain_is_sent_without_a_reconnect(hub_factory, edge_factory):
    hub = hub_factory()
    edge = edge_factory()
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    accepted = _submit(edge, 3)
    wait_for(lambda: edge.outbox.stats().depth == 0, what="first cases acked")
    connects = edge.agent.stats["connects"]

    accepted += _submit(edge, 1, start=10)  # the outbox is empty now
    wait_for(lambda: edge.outbox.stats().depth == 0, timeout=8, what="the later case acked on the same link")
    assert edge.agent.stats["connects"] == connects
    assert_exactly_once(hub.engine, accepted)


def _seqs(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]


def test_the_next_seq_after_every_item_was_acked_and_a_restart_is_higher(tmp_path: Path):
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge")
    rt = EdgeRuntime(settings)
    try:
        ids = _submit(rt, 3)
        first = _seqs(settings.db_path)
        assert len(first) == 3
        assert rt.outbox.acked(ids) == 3  # the hub committed them: their outbox rows are deleted
    finally:
        rt.close()
    assert _seqs(settings.db_path) == []

    rt = EdgeRuntime(settings)  # a restart
    try:
        _submit(rt, 1, start=10)
    finally:
        rt.close()
    (after,) = _seqs(settings.db_path)
    assert after > max(first), f"seq {after} handed out again (earlier: {first})"


def test_a_terminal_upgraded_from_e0013_keeps_its_queue_and_never_reuses_a_seq(tmp_path: Path):
    db = tmp_path / "edge.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine, "e0013")
    engine.dispose()
    settings = EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path)
    with sqlite3.connect(db) as conn:  # the release before: a queue of three, two of them acked since
        for n in (1, 2, 3):
            conn.execute(
                "INSERT INTO outbox(seq, item_id, channel, payload, created_at, attempts)"
                " VALUES (?, ?, 'cases', '{}', '2026-01-01 08:00:00', 0)",
                (n, f"item-{n}"),
            )
        conn.execute("DELETE FROM outbox WHERE seq < 3")

    rt = EdgeRuntime(settings)  # migrates to head
    try:
        assert [p.item_id for p in rt.outbox.pending("cases", 0, 10)] == ["item-3"]
        rt.outbox.acked(["item-3"])
        _submit(rt, 1)
    finally:
        rt.close()
    (after,) = _seqs(db)
    assert after == 4, "the highest seq held at the upgrade stays used"
