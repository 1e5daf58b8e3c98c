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


def test_the_auditor_sees_a_phone_number_of_an_older_form_masked(hub_db_url):
    """The auditor (电子监察) oversees cases without calling residents: phone fields are masked for them, by
    the form of the version in force. A case from a terminal on an older form, whose phone field has another
    key, showed the number whole. A value typed as a phone number is now masked for them by its look; a clerk
    who acts on the case still sees it."""
    engine = open_engine(hub_db_url)
    try:
        catalogue = load_seed()
        queries = CaseQueries(engine, lambda: catalogue, CalendarService(engine), catalogue.get)
        people = add_users(Users(engine))
        typed = {
            "phone": "13800000000",
            "contact_tel": "139 0013 8000",
            "landline": "021-6234 5678",
            "note": "联系人李四 13912345678，或 (021)62345678-801、+86 137-0000-1111",
            "lane": "123弄",
            "when": "2026-12-05",
            "account": "6222021001115678",  # a bank card's 16 digits: not a phone number
        }
        (case_id,) = ingest(engine, ["MZ-001"], form=typed)
        shown = dict(queries.detail(people["auditor"], case_id).form)
        assert shown["contact_tel"] == "139****8000" and shown["landline"] == "021****5678"
        assert shown["note"] == "联系人李四 139****5678，或 021****5678-801、137****1111"
        assert "13800000000" not in shown.values() and shown["lane"] == "123弄" and shown["when"] == "2026-12-05"
        assert shown["account"] == "6222021001115678"
        clerk = dict(queries.detail(people["clerk_mz"], case_id).form)
        assert clerk["contact_tel"] == "139 0013 8000"
    finally:
        engine.dispose()
