"""A form field for another person's ID number (生育登记's 配偶公民身份号码) is checked like a card's and never
shown whole.

It was a free-text field: the kiosk took "12345" or "测试内容", showed a real number in full on the confirm
page, and the hub's case page showed it whole whenever the resident had typed it with spaces or dashes.
The valid number below is GB 11643's own published sample (11010519491231002X), typed as people do.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from edge.kiosk.app import create_app
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings, KioskSettings
from protocol.catalogue import FieldType, load_seed
from protocol.idnumber import mask_ids
from tests.support import holder_at_kiosk, staff_pins, unseal

SEED = load_seed()
SAMPLE = "11010519491231002X"  # GB 11643-1999's example
ERROR = "公民身份号码不对，请核对 18 位号码（最后一位可能是 X）"


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[tuple[TestClient[Any], EdgeRuntime]]:
    """李娜 (a woman of 34) at the kiosk: she may apply for 生育登记 (WJ-001)."""
    runtime = EdgeRuntime(EdgeSettings(data_dir=tmp_path, min_free_disk_mb=0))
    config = KioskSettings(idle_timeout_s=600, warn_before_s=20, staff_pins=staff_pins())
    app = create_app(runtime, None, config=config, catalogue=SEED)  # no devices: the form's checks
    with TestClient(app) as c:
        holder_at_kiosk(c, "li-na")
        yield c, runtime
    runtime.close()


def _apply(client: TestClient[Any], spouse_id: str) -> Any:
    form = {
        "field_phone": "13800000000",
        "field_spouse_name": "王强",
        "field_spouse_id": spouse_id,
        "field_child_order": SEED.item("WJ-001").form[-1].options[0],
    }
    headers = {"x-csrftoken": client.cookies.get("csrftoken", "")}
    return client.post("/item/WJ-001/apply", data=form, headers=headers, follow_redirects=False)


def test_the_seed_asks_for_the_spouses_id_number_as_one():
    fields = {f.key: f.type for f in SEED.item("WJ-001").form}
    assert fields["spouse_id"] is FieldType.ID_NUMBER


@pytest.mark.parametrize(
    "typed",
    ["12345", "测试内容", "11010519491231002Y", "110105194912310021", "110105194913310020"],
    ids=["short", "words", "bad-character", "wrong-check", "no-such-day"],
)
def test_a_number_that_cannot_be_one_is_refused_beside_the_field(kiosk, typed):
    client, _ = kiosk
    page = _apply(client, typed)
    assert page.status_code == 200 and ERROR in html.unescape(page.text)


def test_a_number_typed_in_groups_is_kept_whole_and_shown_masked(kiosk):
    client, runtime = kiosk
    sent = _apply(client, "110105 1949-1231 002x")
    assert sent.status_code in (302, 303), html.unescape(sent.text)[-2000:]
    page = html.unescape(client.get("/item/WJ-001/confirm").text)
    assert "110105********002X" in page and SAMPLE not in page and "19491231" not in page
    headers = {"x-csrftoken": client.cookies.get("csrftoken", "")}
    assert client.post("/item/WJ-001/submit", headers=headers, follow_redirects=False).status_code in (302, 303)
    (queued,) = runtime.outbox.pending("cases", 0, 10)
    assert unseal(queued.payload).form["spouse_id"] == SAMPLE  # for the centre: the number as on the card


def test_the_form_offers_the_keypad_with_x_and_no_system_keyboard(kiosk):
    client, _ = kiosk
    page = client.get("/item/WJ-001/apply").text
    field = page.split('id="field_spouse_id"', 1)[1].split(">", 1)[0]
    assert 'inputmode="none"' in field
    keypad = page.split('id="keypad-field_spouse_id"', 1)[1].split("</div>", 1)[0]
    assert 'data-key="X"' in keypad and 'data-key="0"' in keypad


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (SAMPLE, "110105********002X"),
        ("110105 19491231 002x", "110105********002X"),
        ("110105-1949-1231-002X", "110105********002X"),
        ("配偶 1101 0519 4912 3100 2X 已核", "配偶 110105********002X 已核"),
        ("电话 13800138000", "电话 13800138000"),  # a phone number is not one
        ("6222021001122334455", "6222021001122334455"),  # 19 digits: a bank card, not an ID number
    ],
)
def test_an_id_number_in_any_text_is_masked_however_grouped(text, shown):
    assert mask_ids(text) == shown
