"""A case of an item the catalogue in force withdrew is still promised a time, and can be late.

A terminal takes a new catalogue version within seconds when it is online, but one offline for days goes
on accepting cases of an item the centre withdrew since, and prints that item's promised date on the
resident's receipt. The hub gave such a case no due date at all: it could never be late, and no board or
report saw it (a review of the hub's numbers). It is now promised as the last published version that
listed the item promised; a code no version ever listed still gets none. The expected dates are counted
by hand; the items' promised days are the seed's (protocol/seed/catalogue.json: GA-003 3 working days,
statutory 15).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy import select

from hub.cases.routing import UNROUTED
from hub.catalogue.store import CatalogueStore
from hub.db.engine import open_engine
from hub.db.models import CaseRow, table
from tests.unit.hub.helpers import ingest


def _local_10am(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=2, tzinfo=UTC)


def _publish(store: CatalogueStore, change) -> None:
    data = json.loads(store.export())
    change(data["items"])
    store.import_catalogue(json.dumps(data), "cli:op")
    store.publish("cli:op")


def _row(engine, case_id: str):
    t = table(CaseRow)
    with engine.connect() as conn:
        return conn.execute(select(t).where(t.c.case_id == case_id)).mappings().one()


def test_a_case_of_a_withdrawn_item_is_promised_as_the_last_version_listing_it(hub_db_url):
    engine = open_engine(hub_db_url)
    try:
        store = CatalogueStore(engine)
        store.bootstrap()  # version 1: the seed, GA-003 promised in 3 working days
        ga003 = next(i for i in json.loads(store.export())["items"] if i["code"] == "GA-003")
        _publish(store, lambda items: items.__setitem__(slice(None), [i for i in items if i["code"] != "GA-003"]))
        assert "GA-003" not in {i["code"] for i in json.loads(store.export())["items"]}  # version 2 withdrew it

        # A terminal still on version 1 accepted it on Monday 14 December 2026.
        withdrawn, never = ingest(engine, ["GA-003", "ZZ-999"], at=_local_10am("2026-12-14"))
        case = _row(engine, withdrawn)
        assert case["promised_days"] == 3 and case["statutory_days"] == 15
        assert case["due_date"] == date(2026, 12, 17)  # Tue 15, Wed 16, Thu 17
        assert case["department"] == UNROUTED  # no department claims it now: the centre's window routes it
        # A code no version ever listed has nothing to be promised by.
        assert _row(engine, never)["due_date"] is None

        # Listed again with 10 days: the version in force promises, not an older one.
        _publish(store, lambda items: items.append({**ga003, "promised_days": 10}))
        (again,) = ingest(engine, ["GA-003"], at=_local_10am("2026-12-14"), start=2)
        assert _row(engine, again)["promised_days"] == 10
    finally:
        engine.dispose()


def test_a_case_of_a_withdrawn_item_keeps_its_name_its_form_labels_and_its_masks(hub_db_url):
    """The back office read an item's name, form labels and which fields are phone numbers from the
    catalogue in force: a case of a withdrawn item showed its bare code, raw form keys, and its phone number
    in full to the auditor, who may oversee cases but not call residents (a catalogue manager's review).
    They now come from the last version listing it (the seed's MZ-004: 社区老年助餐服务登记, its form's
    ``phone`` field labelled 联系电话)."""
    from hub.calendar.service import CalendarService
    from hub.cases.queries import CaseQueries
    from hub.catalogue.in_force import CatalogueInForce
    from hub.people.service import Users
    from tests.unit.hub.helpers import add_users

    engine = open_engine(hub_db_url)
    try:
        store = CatalogueStore(engine)
        store.bootstrap()
        _publish(store, lambda items: items.__setitem__(slice(None), [i for i in items if i["code"] != "MZ-004"]))
        form = {"name": "张三", "phone": "13912345678"}
        (case_id,) = ingest(engine, ["MZ-004"], at=_local_10am("2026-12-14"), form=form)
        in_force = CatalogueInForce(store)
        queries = CaseQueries(engine, in_force.current, CalendarService(engine), in_force.item)
        people = add_users(Users(engine, lambda: {d.code: d.name for d in in_force.current().departments}))
        seen = queries.detail(people["auditor"], case_id)
        assert seen.case.item_name == "社区老年助餐服务登记"
        labels = dict(seen.form)
        assert "联系电话" in labels and "phone" not in labels
        assert labels["联系电话"] != "13912345678" and labels["联系电话"].endswith("5678"), labels
        assert queries.item_name("MZ-004") == "社区老年助餐服务登记"
    finally:
        engine.dispose()
