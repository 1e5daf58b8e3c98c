"""The kiosk in English shows the catalogue's own English: item page, visit page, form, confirmation, paper.

A resident taps a card, presses the English toggle and opens 敬老卡挂失 (MZ-003): its description, the
verdict (who may apply), materials and steps are in English, and its Chinese description is gone. A verdict
that turns on a fact names it in English; staff checking conditions read the questions in English. The
application form labels its fields and choices in English while the value it sends stays the stored Chinese
option; the confirmation page reads back in English; the checklist printed (GB18030 on the printer) is
English too.
An item without English, as an older hub publishes it, shows its Chinese in English mode.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from edge.devices.escpos import Receipt
from edge.devices.escpos_decode import EscPosDecoder, TextLine
from edge.kiosk.app import create_app
from edge.kiosk.i18n import translator
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings, KioskSettings
from protocol.catalogue import Catalogue, load_seed
from tests.support import STAFF_ID, STAFF_PIN, holder_at_kiosk, staff_pins

SEED = load_seed()
MZ_003 = SEED.item("MZ-003")  # 敬老卡挂失: immediate, at the committee; zhang-wei (over 65, Shanghai) may apply


class PaperPrinter:
    """Keeps what the kiosk prints."""

    def __init__(self) -> None:
        self.printed: list[Receipt] = []

    def print_receipt(self, receipt: Receipt) -> None:
        self.printed.append(receipt)

    def lines(self) -> list[str]:
        items = EscPosDecoder().feed(self.printed[-1].to_bytes())
        return [i.text for i in items if isinstance(i, TextLine) and i.text.strip()]


@pytest.fixture
def printer() -> PaperPrinter:
    return PaperPrinter()


@pytest.fixture
def client(tmp_path: Path, printer: PaperPrinter) -> Iterator[TestClient[Any]]:
    """A kiosk on the seed catalogue, a card holder's session, the page in English."""
    runtime = EdgeRuntime(EdgeSettings(data_dir=tmp_path, min_free_disk_mb=0))
    config = KioskSettings(idle_timeout_s=600, warn_before_s=20, staff_pins=staff_pins())
    app = create_app(runtime, printer, config=config, catalogue=SEED)
    with TestClient(app) as c:
        holder_at_kiosk(c, "zhang-wei")
        switch(c, "en")
        yield c
    runtime.close()


def switch(client: TestClient[Any], lang: str) -> None:
    response = client.post("/lang", data={"lang": lang, "next": "/services"}, headers=_token(client))
    assert response.status_code == 200
    assert f'<html lang="{"en" if lang == "en" else "zh-CN"}">' in response.text


def _token(client: TestClient[Any]) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken", "")}


def text(client: TestClient[Any], path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return html.unescape(response.text)


def test_the_item_page_in_english_shows_the_items_english_and_no_chinese_description(client):
    page = text(client, "/item/MZ-003")
    assert MZ_003.description_en in page and MZ_003.description not in page
    assert f"Eligible (who may apply: {MZ_003.eligibility_reason_en})" in page and MZ_003.eligibility_reason not in page
    assert "Resident ID card (original x1) (not needed: read from the e-licence)" in page
    for m in MZ_003.materials:
        assert m.name_en in page and m.name not in page
    for s in MZ_003.steps:
        assert f"{s.title_en}</strong>: {s.detail_en}" in page and s.detail not in page

    switch(client, "zh")
    page = text(client, "/item/MZ-003")
    assert MZ_003.description in page and MZ_003.description_en not in page
    assert f"符合条件：{MZ_003.eligibility_reason}" in page and "Eligible" not in page
    assert "居民身份证（原件 1 份）" in page and "Resident ID card" not in page
    assert f"{MZ_003.steps[0].title}</strong>：{MZ_003.steps[0].detail}" in page


def test_the_visit_page_in_english_lists_the_materials_in_english(client):
    item = SEED.item("MZ-001")  # decided at the centre: the kiosk suggests a visit
    page = text(client, "/item/MZ-001/book")
    assert item.name_en in page
    for m in item.materials:
        assert m.name_en in page and m.name not in page


def test_the_form_and_its_confirmation_in_english_send_the_stored_options(client):
    page = text(client, "/item/MZ-003/apply")
    for label in ("Name", "ID number", "Phone number", "Date lost", "New card"):
        assert label in page
    assert "是否补卡" not in page and "联系电话" not in page
    assert 'value="同时申请补卡"> Apply for a new card now</label>' in page

    form = {"field_phone": "13800000000", "field_reissue": "同时申请补卡"}
    sent = client.post("/item/MZ-003/apply", data=form, headers=_token(client), follow_redirects=False)
    assert sent.status_code in (302, 303) and sent.headers["location"] == "/item/MZ-003/confirm"
    page = text(client, "/item/MZ-003/confirm")
    assert "<dt>New card</dt><dd>Apply for a new card now</dd>" in page
    assert "<dt>Phone number</dt><dd>13800000000</dd>" in page
    assert "同时申请补卡" not in page and "是否补卡" not in page


def test_the_printed_checklist_in_english_names_the_item_and_materials_in_english(client, printer):
    assert client.post("/item/MZ-003/print", headers=_token(client)).status_code == 200
    lines = printer.lines()
    assert f"Service: {MZ_003.name_en}" in lines
    assert "□ Resident ID card (original x1) (not needed: read from the e-licence)" in lines
    assert not [line for line in lines if MZ_003.name in line or MZ_003.materials[0].name in line]


def test_an_item_without_english_shows_its_chinese_in_english_mode(client):
    bare = MZ_003.model_copy(
        update={
            "description_en": "",
            "eligibility_reason_en": "",
            "steps": [s.model_copy(update={"title_en": "", "detail_en": ""}) for s in MZ_003.steps],
            "materials": [m.model_copy(update={"name_en": ""}) for m in MZ_003.materials],
        }
    )
    older = Catalogue(
        version=SEED.version + 1,
        departments=SEED.departments,
        items=[bare if i.code == "MZ-003" else i for i in SEED.items],
    )
    client.app.state.kiosk.catalogue = lambda: older
    page = text(client, "/item/MZ-003")
    assert MZ_003.description in page and f"Eligible (who may apply: {MZ_003.eligibility_reason})" in page
    assert MZ_003.materials[0].name in page and f"{MZ_003.steps[0].title}</strong>: " in page
    assert MZ_003.name_en in page  # required, so always there


def test_a_verdict_in_english_names_the_deciding_fact_and_what_staff_must_check(client):
    page = text(client, "/item/GA-004")  # for people from other provinces; zhang-wei is from Shanghai
    assert "Not eligible: your household registration is in Shanghai (who may apply: " in page
    assert "不符合条件" not in page and "户籍" not in page
    page = text(client, "/item/RS-001")  # he is 72: past the statutory retirement age
    assert "Not eligible: you have reached the statutory retirement age (who may apply: " in page
    page = text(client, "/item/YB-003")
    assert "Staff need to check: Are you in Shanghai's basic medical insurance? (who may apply: " in page
    assert "需工作人员核实" not in page


def test_staff_read_the_questions_in_english_and_the_answer_turns_the_verdict(client):
    login = client.post("/staff", data={"staff_id": STAFF_ID, "pin": STAFF_PIN}, headers=_token(client))
    assert login.status_code == 200
    page = text(client, "/item/YB-006/checks")  # 高龄老人医疗护理 for zhang-wei (72): his insurance, care level
    assert "<legend>Are you in Shanghai's employee basic medical insurance?</legend>" in page
    assert "What is your care level in the elderly care needs assessment? (level)</label>" in page
    assert 'value="true"> Yes</label>' in page and 'value="false"> No</label>' in page
    assert not [q for q in ("是否参加本市职工基本医疗保险", "照护统一需求评估", "（级）") if q in page]

    answers = {"check_has_employee_insurance": "true", "check_care_level": "1"}
    sent = client.post("/item/YB-006/checks", data=answers, headers=_token(client), follow_redirects=False)
    assert sent.status_code in (302, 303)
    page = text(client, "/item/YB-006")
    assert "Not eligible: your care level is under 2 (who may apply: " in page

    switch(client, "zh")
    assert "不符合条件：照护等级低于2级（申请条件：" in text(client, "/item/YB-006")
    page = text(client, "/item/YB-006/checks")
    assert "<legend>是否参加本市职工基本医疗保险</legend>" in page and "老年照护统一需求评估等级（级）</label>" in page


def test_pick_chooses_english_only_in_english_and_only_when_there_is_some():
    assert translator("en").pick("敬老卡挂失", "Report a lost senior card") == "Report a lost senior card"
    assert translator("en").pick("敬老卡挂失", "") == "敬老卡挂失"
    assert translator("zh").pick("敬老卡挂失", "Report a lost senior card") == "敬老卡挂失"
