"""The kiosk's application form reads a phone number as people type it (protocol.typed.typed_phone): the
contact number grouped with spaces and parentheses, or a landline with its dash, is kept as its digits and
read back so on the confirmation; the SMS number written for abroad (``+86 138-0013-8000``) is the mobile it
is; a number that is none gets the form's own Chinese message. 档案查询 (DA-001) on the seed catalogue, for
zhang-wei's card, in Chinese; the expected digits are written out by hand."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from edge.kiosk.app import create_app
from edge.kiosk.i18n import translator
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings, KioskSettings
from protocol.catalogue import load_seed
from tests.support import holder_at_kiosk

ZH = translator("zh")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient[Any]]:
    runtime = EdgeRuntime(EdgeSettings(data_dir=tmp_path, min_free_disk_mb=0))
    app = create_app(runtime, None, config=KioskSettings(idle_timeout_s=600, warn_before_s=20), catalogue=load_seed())
    with TestClient(app) as c:
        holder_at_kiosk(c, "zhang-wei")
        yield c
    runtime.close()


def _apply(client: TestClient[Any], phone: str, notify: str = "") -> Any:
    form = {"field_phone": phone, "field_purpose": "办理继承", "notify_phone": notify}
    if notify:
        form["notify_consent"] = "yes"
    headers = {"x-csrftoken": client.cookies.get("csrftoken", "")}
    return client.post("/item/DA-001/apply", data=form, headers=headers, follow_redirects=False)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("(021) 6234 5678", "02162345678"),
        ("021-12345678", "02112345678"),
        ("１３８ ００１３ ８０００", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
    ],
)
def test_a_contact_number_typed_grouped_is_kept_as_its_digits(client, typed, stored):
    sent = _apply(client, typed)
    assert sent.status_code in (302, 303) and sent.headers["location"] == "/item/DA-001/confirm", sent.text
    page = html.unescape(client.get("/item/DA-001/confirm").text)
    assert f"<dd>{stored}</dd>" in page


def test_the_sms_number_written_for_abroad_is_the_mobile_it_is(client):
    sent = _apply(client, "13800138000", notify="+86 139-1234-0000")
    assert sent.status_code in (302, 303), sent.text
    page = client.get("/item/DA-001/confirm").text
    assert 'id="confirm-sms">139****0000<' in page


def test_a_number_that_is_none_gets_the_forms_own_message(client):
    for wrong in ("138-0013-800", "+86 021 6234 5678"):  # ten digits; a landline behind a mobile's prefix
        refused = _apply(client, wrong)
        assert refused.status_code == 200 and ZH("form.bad_phone") in html.unescape(refused.text), wrong
    landline_for_sms = _apply(client, "13800138000", notify="(021) 6234 5678")
    assert ZH("form.bad_mobile") in html.unescape(landline_for_sms.text)
