"""A catalogue version comes into force while a resident is half-way through an application.

Zhang Wei fills in 婚姻登记档案查询 (DA-001) on the seed catalogue, choosing 办理继承 as the purpose, and
reaches the confirmation screen. Then the hub's next version is applied on the terminal (as the sync agent
does, without a restart): the purpose 办理继承 is no longer offered and the registration year becomes
required. What she answered was checked against a form that is no longer in force, so neither the
confirmation nor the submit may take it: she is sent back to the form, told why, with what she typed still
there, and nothing is stored until the form in force is filled in. The words expected are the message
catalogue's own, looked up by key; the form's changes are made by hand below."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from edge.kiosk.app import create_app
from edge.kiosk.i18n import translator
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings, KioskSettings
from protocol.catalogue import load_seed
from tests.support import holder_at_kiosk

ZH = translator("zh")


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[tuple[TestClient[Any], EdgeRuntime]]:
    runtime = EdgeRuntime(EdgeSettings(data_dir=tmp_path, min_free_disk_mb=0))
    app = create_app(runtime, None, config=KioskSettings(idle_timeout_s=600, warn_before_s=20))  # the store's
    with TestClient(app) as c:
        holder_at_kiosk(c, "zhang-wei")
        yield c, runtime
    runtime.close()


def _next_version() -> Any:
    seed = load_seed()
    data = seed.model_dump(mode="json")
    data["version"] = 2
    for item in data["items"]:
        if item["code"] == "DA-001":
            for f in item["form"]:
                if f["key"] == "purpose":
                    f["options"], f["options_en"] = ["办理房产", "出国（境）", "其他"], ["Property", "Abroad", "Other"]
                if f["key"] == "reg_year":
                    f["required"] = True
    return type(seed).model_validate_json(json.dumps(data))


def _post(client: TestClient[Any], path: str, form: dict[str, str]) -> Any:
    headers = {"x-csrftoken": client.cookies.get("csrftoken", "")}
    return client.post(path, data=form, headers=headers, follow_redirects=False)


def _cases(runtime: EdgeRuntime) -> int:
    with runtime.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM cases")).scalar_one()


def test_answers_to_a_form_no_longer_in_force_are_not_submitted(kiosk):
    client, runtime = kiosk
    sent = _post(client, "/item/DA-001/apply", {"field_phone": "13800138000", "field_purpose": "办理继承"})
    assert sent.headers["location"] == "/item/DA-001/confirm", sent.text
    assert client.get("/item/DA-001/confirm", follow_redirects=False).status_code == 200

    runtime.catalogue.apply(_next_version())

    confirm = client.get("/item/DA-001/confirm", follow_redirects=False)
    assert confirm.status_code in (302, 303) and confirm.headers["location"] == "/item/DA-001/apply"
    submit = _post(client, "/item/DA-001/submit", {})
    assert submit.status_code in (302, 303) and submit.headers["location"] == "/item/DA-001/apply"
    assert _cases(runtime) == 0, "nothing stored from answers to the old form"

    form = html.unescape(client.get("/item/DA-001/apply").text)
    assert ZH("form.changed") in form
    assert 'value="13800138000"' in form, "what she typed is still there"
    assert "办理继承" not in form

    sent = _post(
        client, "/item/DA-001/apply", {"field_phone": "13800138000", "field_purpose": "其他", "field_reg_year": "1998"}
    )
    assert sent.headers["location"] == "/item/DA-001/confirm", sent.text
    assert _post(client, "/item/DA-001/submit", {}).headers["location"].startswith("/receipt/")
    assert _cases(runtime) == 1
