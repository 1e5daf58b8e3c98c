"""What a resident typed into a form reaches a clerk's case page with every ID number masked: an ID-number
field (生育登记's 配偶公民身份号码) whatever was typed into it, and a number inside any other value however
it is grouped. A terminal older than the ID-number field type sends what was typed: the page showed
``310104 19921011 2663`` whole. The ID numbers here are GB 11643's published sample."""

from __future__ import annotations

from hub.calendar.service import CalendarService
from hub.cases.queries import CaseQueries
from hub.db.engine import open_engine
from hub.people.service import Users
from protocol.catalogue import load_seed
from tests.unit.hub.helpers import add_users, ingest


def test_the_case_page_masks_every_id_number_a_resident_typed(hub_db_url):
    engine = open_engine(hub_db_url)
    try:
        catalogue = load_seed()
        queries = CaseQueries(engine, lambda: catalogue, CalendarService(engine), catalogue.get)
        manager = add_users(Users(engine))["manager"]
        typed = {
            "phone": "13800000000",
            "spouse_name": "王强",
            "spouse_id": "110105 19491231 002x",  # as an older terminal sent it, grouped
            "note": "配偶证件 110105-1949-1231-002X",
        }
        (case_id,) = ingest(engine, ["WJ-001"], form=typed)
        shown = dict(queries.detail(manager, case_id).form)
        assert shown["配偶公民身份号码"] == "110105********002X"
        values = " ".join(shown.values())
        assert "19491231" not in values and "1949-1231" not in values and "1949 1231" not in values
        assert "配偶证件 110105********002X" in values and shown["配偶姓名"] == "王强"

        (short,) = ingest(engine, ["WJ-001"], start=1, form={**typed, "spouse_id": "12345"})
        assert dict(queries.detail(manager, short).form)["配偶公民身份号码"] == "*****"  # whatever it is
    finally:
        engine.dispose()
