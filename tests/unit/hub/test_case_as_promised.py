"""A case is promised and finished by the item its terminal accepted it under, not by the version in force
when it reaches the hub.

A terminal offline for days goes on accepting cases under the catalogue it holds, and prints that item's
promised date on the receipt; the centre may publish another version meanwhile. The hub promised every
case by the version in force on arrival: a receipt saying three working days became ten at the hub, and 电子
监察 saw the case late a week after the resident was told (a catalogue manager's review). A case now names
the content hash of its item (``CaseSubmission.item_hash``), and the hub promises by that item when it
published it. The expected figures are the seed's (protocol/seed/catalogue.json: GA-003 3 working days,
statutory 15; MZ-004 finished on the spot), the dates counted by hand.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

from hub.catalogue.store import CatalogueStore
from hub.db.engine import open_engine
from tests.unit.hub.helpers import ingest
from tests.unit.hub.test_withdrawn_item import _local_10am, _publish, _row


def _change(code: str, **changes):
    """What :func:`_publish` does to the items: ``code``'s fields set to ``changes``."""
    return lambda items: next(i for i in items if i["code"] == code).update(changes)


def test_a_case_accepted_under_an_earlier_version_keeps_its_receipts_promise(hub_db_url):
    engine = open_engine(hub_db_url)
    try:
        store = CatalogueStore(engine)
        store.bootstrap()  # version 1: the seed
        terminal_held = {code: store.get().get(code).content_hash() for code in ("GA-003", "MZ-004")}
        _publish(store, _change("GA-003", promised_days=10, statutory_days=20))  # version 2
        _publish(
            store, _change("MZ-004", done_on_spot=False, item_class="promised", promised_days=5, statutory_days=5)
        )  # v3

        # A terminal still on version 1 accepted both on Monday 14 December 2026; they arrive under version 3.
        monday = _local_10am("2026-12-14")
        (ga003,) = ingest(engine, ["GA-003"], at=monday, item_hash=terminal_held["GA-003"])
        case = _row(engine, ga003)
        assert (case["promised_days"], case["statutory_days"]) == (3, 15)
        assert case["due_date"] == date(2026, 12, 17)  # Tue 15, Wed 16, Thu 17: as the receipt said
        (mz004,) = ingest(engine, ["MZ-004"], at=monday, start=1, item_hash=terminal_held["MZ-004"])
        assert _row(engine, mz004)["status"] == "completed", "finished on the spot at the committee, as it was"

        # A terminal that names no item (older software), or content this hub never published: version 3.
        (old,) = ingest(engine, ["GA-003"], at=monday, start=2)
        unknown = "sha256:" + hashlib.sha256(b"an item no version listed").hexdigest()
        (forged,) = ingest(engine, ["GA-003"], at=monday, start=3, item_hash=unknown)
        for case_id in (old, forged):
            case = _row(engine, case_id)
            assert (case["promised_days"], case["statutory_days"]) == (10, 20), case_id
        (now,) = ingest(engine, ["MZ-004"], at=monday, start=4)
        assert _row(engine, now)["status"] != "completed" and _row(engine, now)["promised_days"] == 5
    finally:
        engine.dispose()


def test_only_an_item_published_lately_is_taken_and_a_made_up_hash_asks_the_database_nothing(hub_db_url):
    """The item a case names must be one a version of this hub listed while in force within the last 30 days
    (PROMISE_WINDOW) before the case was accepted: a terminal cannot pick a promise the centre gave up long
    ago, nor one of a draft or of another item. One CatalogueInForce across publications, as a worker keeps
    it; what it reads from the database is counted."""
    from sqlalchemy import event

    from hub.catalogue.in_force import CatalogueInForce

    engine = open_engine(hub_db_url)
    try:
        store = CatalogueStore(engine)
        store.bootstrap()
        in_force = CatalogueInForce(store, check_s=0)
        v1 = store.get().get("GA-003")
        _publish(store, _change("GA-003", promised_days=10, statutory_days=20))
        published_at = datetime.now(UTC)
        store.update_item("GA-003", {"promised_days": 1}, "user:colleague")  # a draft no terminal was given
        draft_hash = store.draft().get("GA-003").content_hash()
        other = store.get().get("GA-002").content_hash()

        def days(item_hash, at):
            return in_force.item_as_promised("GA-003", item_hash, at).promised_days

        assert days(v1.content_hash(), published_at) == 3, "accepted offline under version 1"
        assert days(v1.content_hash(), published_at + timedelta(days=29)) == 3, "offline four weeks"
        assert days(v1.content_hash(), published_at + timedelta(days=31)) == 10, "out of force a month: in force"
        assert days(v1.content_hash(), published_at - timedelta(days=400)) == 10, "before version 1 was published"
        assert (
            days(draft_hash, published_at) == 10 and days(other, published_at) == 10 and days(None, published_at) == 10
        )

        asked: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *a: asked.append(a[2]))
        for n in range(200):
            assert days("sha256:" + hashlib.sha256(str(n).encode()).hexdigest(), published_at) == 10
        assert days(v1.content_hash(), published_at) == 3
        assert not [q for q in asked if "catalogue_items" in q], "hashes no version listed cost no query"
    finally:
        engine.dispose()
