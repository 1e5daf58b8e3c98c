"""An audit trail the centre cannot quietly rewrite: seals with a key outside the database, and the hub's
signed daily anchors witnessed by the terminals — over a real Mosquitto, the hub on SQLite and PostgreSQL.

The hub's night seals its chain and signs the day's anchor; the running hub publishes it retained; the
terminal keeps it and, in its own night, sends it back with its audit segment. Then someone with the
database rewrites the hub's chain whole (an entry edited, every hash after it and the anchor recomputed —
what passes ``audit verify``). Without the key file the seals catch it; with the key file (seals and the
day's anchor made again) the terminal's copy of that day's anchor still catches it, and the command names
the day.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from edge.night.steps import run_night as edge_night
from edge.store.cases import NewCase
from hub.audit.chain import _entries, anchor, verify
from hub.audit.keyed import AuditKey, key_path
from hub.db.models import AuditDayAnchorRow, AuditEntry
from hub.night.cli import AuditDisagrees, verify_keyed
from hub.night.steps import run_night as hub_night
from protocol.auditchain import GENESIS, entry_hash, walk
from protocol.envelope import utcnow
from protocol.reconcile import day_of
from protocol.witness import anchor_text
from shegong import cli
from tests.support import applicant, wait_for


def _rewrite(engine, key: AuditKey | None, day_anchor: bool = True) -> None:
    """Edit the first entry's details and recompute the chain and its anchor, as an attacker with the
    database (and, given ``key``, the key file) would: seals and, unless told not to, the day's signed
    anchor too."""
    with engine.begin() as conn:
        rows = conn.execute(
            select(
                AuditEntry.id, AuditEntry.at, AuditEntry.actor, AuditEntry.action, AuditEntry.subject, AuditEntry.data
            ).order_by(AuditEntry.id)
        ).all()
        prev = GENESIS
        for i, (entry_id, at, actor, action, subject, data) in enumerate(rows):
            if i == 0:
                data = '{"edited":true}' if data == "{}" else data.replace("{", '{"edited":true,', 1)
            h = entry_hash(prev, at, actor, action, subject, data)
            conn.execute(
                text("UPDATE audit SET data = :d, prev_hash = :p, hash = :h, mac = :m WHERE id = :i"),
                {"d": data, "p": prev, "h": h, "m": key.mac(h) if key else None, "i": entry_id},
            )
            prev = h
        conn.execute(text("UPDATE audit_anchor SET head_hash = :h WHERE id = 1"), {"h": prev})
        if key is not None and day_anchor:
            day, entries, last_id, at = conn.execute(
                select(
                    AuditDayAnchorRow.day, AuditDayAnchorRow.entries, AuditDayAnchorRow.last_id, AuditDayAnchorRow.at
                )
            ).one()
            conn.execute(
                text("UPDATE audit_day_anchors SET head_hash = :h, signature = :s"),
                {"h": prev, "s": key.sign(anchor_text(day, entries, last_id, prev, at))},
            )


@pytest.fixture
def night_hub(hub_factory, tmp_path: Path):
    # The audit key beside the case key, as `shegong hub keys init` makes it (tests.support.write_case_key).
    return hub_factory(backup_dir=str(tmp_path / "backups"), archive_dir=str(tmp_path / "archive"))


def test_a_hub_chain_rewritten_whole_is_caught_by_seals_and_by_the_terminals_witness(
    night_hub, edge_factory, broker, monkeypatch, capsys
):
    hub = night_hub
    edge = edge_factory()
    edge.start_sync()
    for n in range(3):
        edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(n)))
    wait_for(lambda: edge.outbox.stats().depth == 0, what="cases acked")

    # Every process that appended an entry had the key file, so each was sealed as it was appended; the
    # night checks them all (none since an earlier anchor) and seals nothing.
    with hub.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit WHERE mac IS NULL")).scalar() == 0
        entries = conn.execute(text("SELECT count(*) FROM audit")).scalar()
    night = hub_night(hub.engine, hub.settings, utcnow())
    assert night.ok, night.as_json()
    assert {s.name: s.counts for s in night.steps}["anchor"] == {"checked": entries, "entries": entries}
    wait_for(lambda: edge.witness.anchors(), what="the hub's signed anchor kept at the terminal")
    terminal_night = edge_night(edge)
    assert terminal_night.ok, terminal_night.as_json()
    assert {s.name: s.counts for s in terminal_night.steps}["audit"]["anchors"] == 1
    assert "witnessed anchors agree" in verify_keyed(hub.engine, hub.settings)

    # Without the key file: every hash recomputed passes the plain walk, but not the seals.
    _rewrite(hub.engine, key=None)
    with hub.engine.connect() as conn:
        assert walk(_entries(conn, 5000), [anchor(conn)])[1] is None, "the unkeyed chain walk is fooled"
        assert "not sealed" in str(verify(conn)[1]), "the walk with the hub's key file is not"
    with pytest.raises(AuditDisagrees, match="seal was removed"):
        verify_keyed(hub.engine, hub.settings)

    # With the key file, seals made again but the day's signed anchor left: the chain no longer passes
    # through the head the terminal witnessed (invariants review: nothing failed without this check).
    _rewrite(hub.engine, key=AuditKey.load(key_path(hub.settings)), day_anchor=False)
    with pytest.raises(AuditDisagrees, match="no longer passes through the witnessed head"):
        verify_keyed(hub.engine, hub.settings)

    # With the key file: seals and the day's anchor made again; the terminal's copy of the day disagrees.
    _rewrite(hub.engine, key=AuditKey.load(key_path(hub.settings)))
    today = day_of(utcnow()).isoformat()
    with pytest.raises(AuditDisagrees, match=today):
        verify_keyed(hub.engine, hub.settings)
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub.settings.database_url)
    monkeypatch.setenv("SHEGONG_HUB_BROKER_PORT", str(broker.port))
    for how in (["--stored"], ["--timeout", "10"]):  # the copies stored at the hub, and the terminal asked live
        capsys.readouterr()
        assert cli.main(["hub", "audit", "verify", "--witnesses", *how]) == 2
        err = capsys.readouterr().err
        assert today in err and "terminal T1" in err


def test_a_terminal_audit_segment_that_does_not_follow_is_not_stored(night_hub, edge_factory):
    """The hub keeps each terminal's chain as it arrived: an entry edited at the terminal afterwards no
    longer matches the hub's copy, and the hub says how far the copy holds."""
    hub = night_hub
    edge = edge_factory()
    edge.start_sync()
    edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
    wait_for(lambda: edge.outbox.stats().depth == 0, what="case acked")
    first = edge_night(edge)
    assert first.ok, first.as_json()
    with hub.engine.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM terminal_audit_segments WHERE terminal_id = 'T1'")).scalar()
    with edge.engine.connect() as conn:
        assert held == conn.execute(text("SELECT count(*) FROM audit_entries")).scalar()


def test_a_hub_night_run_twice_in_a_day_leaves_its_witnesses_in_agreement(night_hub, edge_factory):
    """An operator runs ``shegong hub nightly`` again the same morning (a step had failed). The terminal
    kept the day's first signed anchor and keeps the first of each day (the hub's history does not change).
    The hub's chain has not been touched, so ``audit verify --witnesses`` must find its witnesses agree —
    not report the day as rewritten because the second run signed another anchor of it."""
    hub = night_hub
    edge = edge_factory()
    edge.start_sync()
    edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
    wait_for(lambda: edge.outbox.stats().depth == 0, what="case acked")
    assert hub_night(hub.engine, hub.settings, utcnow()).ok
    (first,) = wait_for(lambda: edge.witness.anchors(), what="the day's anchor kept at the terminal")

    edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(2)))  # the chain grows in between
    wait_for(lambda: edge.outbox.stats().depth == 0, what="case acked")
    assert hub_night(hub.engine, hub.settings, utcnow()).ok
    terminal_night = edge_night(edge)
    assert terminal_night.ok, terminal_night.as_json()
    assert edge.witness.anchors() == [first]
    assert "witnessed anchors agree" in verify_keyed(hub.engine, hub.settings)


def test_a_segment_sent_again_after_a_lost_answer_is_taken(night_hub, edge_factory):
    """The hub stored a terminal's segment but its answer never arrived (the night timed out), so the
    terminal still counts from where it was and sends the same entries again with newer ones. They follow
    what the hub holds: the hub takes the new ones, and the terminal's night does not report a break."""
    hub = night_hub
    edge = edge_factory()
    edge.start_sync()
    edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
    wait_for(lambda: edge.outbox.stats().depth == 0, what="case acked")
    assert edge_night(edge).ok
    with edge.engine.begin() as conn:  # the hub's answer lost: the terminal's count as before the night
        conn.execute(text("UPDATE meta SET value = 0 WHERE key = 'audit_sent_id'"))
    edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(2)))
    wait_for(lambda: edge.outbox.stats().depth == 0, what="case acked")

    night = edge_night(edge)
    assert night.ok, night.as_json()
    with edge.engine.connect() as conn:
        entries = conn.execute(text("SELECT count(*) FROM audit_entries")).scalar()
    with hub.engine.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM terminal_audit_segments WHERE terminal_id = 'T1'")).scalar()
    assert held == entries, "the hub holds the whole chain, once"
