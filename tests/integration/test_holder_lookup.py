"""Holder lookups end to end (DESIGN §6, issue 10 §4): a stolen terminal must not let a thief test an
ID number against what it stores. Real Mosquitto, a hub on SQLite and PostgreSQL, terminals on SQLite.

- A terminal learns its lookup key from the hub on connect; it is in memory only: no file in its data
  folder holds it (in any encoding) and no device key lies beside the database any more. Expected keys
  come from the documented derivation, worked out here from the tests' hub case key.
- A terminal restarted during an outage has no key: it still accepts cases (holder key left empty),
  cannot list a holder's history (``LookupUnavailable``), and fills the holder key from the hub's ack
  once the link is back.
- A terminal upgraded from the device-key scheme: the migration clears the old holder keys and deletes
  ``device.key``; on connect the terminal asks for its acked cases' holder keys and finds them again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
from pathlib import Path

import pytest

from edge.store.cases import LookupUnavailable, NewCase
from tests.support import CASE_KEY, applicant, wait_for

pytestmark = pytest.mark.timeout(90)


def lookup_key(terminal: str) -> bytes:
    master = hashlib.sha256(b"shegong/holder-lookup/v1\x00" + base64.urlsafe_b64decode(CASE_KEY)).digest()
    return hmac.new(master, terminal.encode(), hashlib.sha256).digest()


def holder_key(terminal: str, id_number: str) -> str:
    return hmac.new(lookup_key(terminal), id_number.encode(), hashlib.sha256).hexdigest()


def stored_holder_keys(edge) -> dict[str, str]:
    with sqlite3.connect(edge.settings.db_path) as conn:
        return dict(conn.execute("SELECT case_id, holder_key FROM cases"))


def test_the_lookup_key_comes_from_the_hub_and_never_reaches_the_disk(hub_factory, edge_factory):
    hub_factory()
    edge = edge_factory("T1")
    with pytest.raises(LookupUnavailable):
        edge.cases.cases_of(applicant(1).id_number)
    edge.start_sync()
    wait_for(lambda: edge.cases.lookup_known, what="the lookup key from the hub")
    case = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(2)))
    assert stored_holder_keys(edge)[str(case.case_id)] == holder_key("T1", applicant(1).id_number)
    assert [c["case_id"] for c in edge.cases.cases_of(applicant(1).id_number)] == [str(case.case_id)]
    wait_for(lambda: edge.outbox.stats().depth == 0, what="both cases acked")

    key = lookup_key("T1")
    forms = [key, key.hex().encode(), base64.urlsafe_b64encode(key), base64.b64encode(key)]
    files = [p for p in Path(edge.settings.data_dir).rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"edge.db"} and not any(
        p.name.endswith(".key") and p.name != "audit.key" for p in files
    )
    for path in files:
        content = path.read_bytes()
        assert not any(form in content for form in forms), f"the lookup key is in {path.name}"

    other = edge_factory("T2")
    other.start_sync()
    wait_for(lambda: other.cases.lookup_known, what="T2's lookup key")
    mine = other.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))  # the same resident
    assert stored_holder_keys(other)[str(mine.case_id)] == holder_key("T2", applicant(1).id_number)
    assert holder_key("T2", applicant(1).id_number) != holder_key("T1", applicant(1).id_number)


def test_a_case_accepted_without_the_key_gets_its_holder_key_with_the_ack(hub_factory, edge_factory):
    edge = edge_factory("T1")  # restarted during an outage: no hub heard from since
    case = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
    assert stored_holder_keys(edge) == {str(case.case_id): ""}
    with pytest.raises(LookupUnavailable):
        edge.cases.cases_of(applicant(1).id_number)
    assert [c["case_id"] for c in edge.cases.cases_by_id([str(case.case_id)])] == [str(case.case_id)]

    hub_factory()
    edge.start_sync()
    want = holder_key("T1", applicant(1).id_number)
    wait_for(lambda: stored_holder_keys(edge)[str(case.case_id)] == want, what="the holder key from the ack")
    assert [c["case_id"] for c in edge.cases.cases_of(applicant(1).id_number)] == [str(case.case_id)]


def test_an_upgraded_terminal_drops_its_device_key_and_gets_its_holder_keys_from_the_hub(
    hub_factory, edge_factory, tmp_path
):
    hub_factory()
    edge = edge_factory("T1")
    edge.start_sync()
    cases = [edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(n))) for n in (1, 2)]
    wait_for(lambda: edge.outbox.stats().depth == 0, what="both cases acked")
    edge.close()

    # The same terminal as the release before: holder keys under a device key kept beside the database.
    device_key = bytes(range(32, 64))
    (edge.settings.data_dir / "device.key").write_bytes(device_key)
    with sqlite3.connect(edge.settings.db_path) as conn:
        for case in cases:
            old = hmac.new(device_key, case.applicant.id_number.encode(), hashlib.sha256).hexdigest()
            conn.execute("UPDATE cases SET holder_key = ? WHERE case_id = ?", (old, str(case.case_id)))
        conn.execute("DELETE FROM meta WHERE key = 'lookup_key_id'")
        # The rest of that release's schema (e0013 dropped these columns), and its revision.
        conn.execute("ALTER TABLE ratings ADD COLUMN reason VARCHAR NOT NULL DEFAULT ''")
        conn.execute("ALTER TABLE case_events ADD COLUMN department VARCHAR NOT NULL DEFAULT ''")
        conn.execute("ALTER TABLE cases DROP COLUMN reconciled_at")  # e0015 added these
        conn.execute("ALTER TABLE ratings DROP COLUMN reconciled_at")
        conn.execute("DROP TABLE hub_anchors")
        conn.execute("ALTER TABLE audit_entries DROP COLUMN sig")  # e0016 added it
        conn.execute("ALTER TABLE case_events DROP COLUMN tag")  # e0017 added it
        conn.execute("DROP TABLE work_calendar")  # e0018 added it
        conn.execute("ALTER TABLE cases DROP COLUMN due_date")  # e0019 added it
        conn.execute("UPDATE alembic_version SET version_num = 'e0011'")

    upgraded = edge_factory("T1")  # migrates to head
    assert not (upgraded.settings.data_dir / "device.key").exists()
    assert set(stored_holder_keys(upgraded).values()) == {""}
    upgraded.start_sync()
    want = {str(c.case_id): holder_key("T1", c.applicant.id_number) for c in cases}
    wait_for(lambda: stored_holder_keys(upgraded) == want, what="holder keys asked for and given again")
    for case in cases:
        assert [c["case_id"] for c in upgraded.cases.cases_of(case.applicant.id_number)] == [str(case.case_id)]
