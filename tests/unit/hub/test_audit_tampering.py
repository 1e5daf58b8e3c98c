"""The audit chain catches tampering done with plain SQL: an edited field, a deleted entry in the middle,
two entries swapped, the newest entries deleted (tail truncation, caught by the anchor moved with every
append), and an anchor rewritten to match a truncated chain (caught by an anchor kept elsewhere).

Each test writes a real chain through :func:`hub.audit.chain.append`, tampers with the database the way
someone with SQL access would, and expects :func:`verify` — and ``shegong hub audit verify`` — to name
the first entry that no longer holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from hub import cli
from hub import settings as hub_settings
from hub.audit.chain import Anchor, AuditRecord, anchor, append, bind_key_file, verify
from hub.audit.keyed import key_path
from hub.db.engine import open_engine
from hub.db.models import AuditEntry, table
from protocol.auditchain import entry_hash, walk

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
AUDIT = table(AuditEntry)


@pytest.fixture
def engine(hub_db_url):
    e = open_engine(hub_db_url)
    bind_key_file(e, key_path(hub_settings.load()))  # as every hub process: entries sealed as appended
    with e.begin() as conn:  # three batches, ten entries: ids 1..10
        for batch in ((1, 2, 3), (4, 5, 6, 7), (8, 9, 10)):
            append(
                conn,
                [
                    AuditRecord(T0 + timedelta(minutes=n), "user:clerk1", "case.accept", f"case-{n}", {"version": n})
                    for n in batch
                ],
            )
    yield e
    e.dispose()


def _verify(engine, expected=None):
    with engine.connect() as conn:
        return verify(conn, batch=3, expected=expected)


def _sql(engine, sql, **params):
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def test_an_untouched_chain_verifies_and_its_anchor_counts_every_entry(engine):
    assert _verify(engine) == (10, None)
    with engine.connect() as conn:
        a = anchor(conn)
    assert (a.entries, a.last_id) == (10, 10)
    assert Anchor.parse(str(a)) == a


def test_an_edited_field_is_named(engine):
    _sql(engine, "UPDATE audit SET data = :d WHERE id = 5", d='{"version": 99}')
    checked, broken = _verify(engine)
    assert checked == 4 and broken.entry_id == 5 and "edited" in broken.problem


def test_a_deleted_middle_entry_is_named_by_the_one_after_it(engine):
    _sql(engine, "DELETE FROM audit WHERE id = 5")
    checked, broken = _verify(engine)
    assert checked == 4 and broken.entry_id == 6 and "removed or reordered" in broken.problem


def test_two_swapped_entries_are_caught_at_the_first(engine):
    cols = "at, actor, action, subject, data, prev_hash, hash"
    with engine.begin() as conn:
        a = conn.execute(text(f"SELECT {cols} FROM audit WHERE id = 4")).mappings().one()
        b = conn.execute(text(f"SELECT {cols} FROM audit WHERE id = 7")).mappings().one()
        sets = ", ".join(f"{c} = :{c}" for c in ("at", "actor", "action", "subject", "data", "prev_hash"))
        conn.execute(text("UPDATE audit SET hash = 'moving' WHERE id = 7"))  # hash is unique: make room
        conn.execute(text(f"UPDATE audit SET {sets}, hash = :hash WHERE id = 4"), dict(b))
        conn.execute(text(f"UPDATE audit SET {sets}, hash = :hash WHERE id = 7"), dict(a))
    checked, broken = _verify(engine)
    assert checked == 3 and broken.entry_id == 4


def test_a_deleted_tail_is_caught_by_the_anchor(engine):
    _sql(engine, "DELETE FROM audit WHERE id >= 9")
    checked, broken = _verify(engine)
    assert checked == 8
    assert broken.entry_id == 10 and "newest entries were removed" in broken.problem


def test_a_tail_deleted_with_its_anchor_rewritten_is_caught_by_an_anchor_kept_elsewhere(engine):
    with engine.connect() as conn:
        kept = anchor(conn)  # what an operator copied off the machine (shegong hub audit anchor)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit WHERE id >= 9"))
        head = conn.execute(text("SELECT hash FROM audit WHERE id = 8")).scalar_one()
        conn.execute(text("UPDATE audit_anchor SET entries = 8, last_id = 8, head_hash = :h"), {"h": head})
    assert _verify(engine) == (8, None)  # consistent on its own…
    checked, broken = _verify(engine, expected=kept)
    assert broken is not None and broken.entry_id == 10  # …but not with the anchor kept elsewhere


def test_a_middle_entry_removed_and_the_rest_relinked_is_caught_by_the_anchor_kept_elsewhere(engine):
    """Invariants review: nothing failed when the walk stopped checking where the chain ends against an
    anchor's count and head, so long as the anchor's last entry was still there. Entry 5 is deleted and
    entries 6-10 linked again with their hashes recomputed, the stored anchor rewritten to match: the
    unkeyed chain holds on its own, but entry 10 is now the 9th, with another head, than the anchor an
    operator kept says."""
    with engine.connect() as conn:
        kept = anchor(conn)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit WHERE id = 5"))
        prev = conn.execute(text("SELECT hash FROM audit WHERE id = 4")).scalar_one()
        for entry_id, at, actor, action, subject, data in conn.execute(
            text("SELECT id, at, actor, action, subject, data FROM audit WHERE id > 4 ORDER BY id")
        ).all():
            at = datetime.fromisoformat(at) if isinstance(at, str) else at
            prev_of, prev = (
                prev,
                entry_hash(prev, at if at.tzinfo else at.replace(tzinfo=UTC), actor, action, subject, data),
            )
            conn.execute(
                text("UPDATE audit SET prev_hash = :p, hash = :h WHERE id = :i"),
                {"p": prev_of, "h": prev, "i": entry_id},
            )
        conn.execute(text("UPDATE audit_anchor SET entries = 9, head_hash = :h"), {"h": prev})
    with engine.connect() as conn:
        rows = conn.execute(select(AUDIT).order_by(AUDIT.c.id)).all()
        stored = anchor(conn)
    assert walk(rows, [stored]) == (9, None)  # unkeyed and on its own, the rewrite holds
    checked, broken = walk(rows, [kept])
    assert checked == 9 and broken is not None and broken.entry_id == 10
    assert "does not end where its anchor says" in broken.problem


def test_appending_after_verification_keeps_the_chain_and_the_anchor_in_step(engine):
    with engine.begin() as conn:
        append(conn, [AuditRecord(T0, "user:m", "calendar.set", "2026-05-06", {"kind": "off"})])
    assert _verify(engine) == (11, None)


@pytest.mark.parametrize(
    ("sql", "entry"),
    [
        ("UPDATE audit SET actor = 'user:someone-else' WHERE id = 3", 3),
        ("DELETE FROM audit WHERE id = 6", 7),
        ("DELETE FROM audit WHERE id = 10", 10),
    ],
)
def test_the_cli_names_the_first_broken_entry(engine, hub_db_url, monkeypatch, capsys, sql, entry):
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    assert cli.main(["audit", "verify"]) == 0
    assert "intact: 10 entries" in capsys.readouterr().out
    _sql(engine, sql)
    with pytest.raises(cli.AuditBroken, match=f"broken at entry {entry}:"):
        cli.main(["audit", "verify"])
