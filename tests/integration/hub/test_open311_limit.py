"""A partner's POSTs over its request limit (``[open311] partner_requests`` per ``partner_window_s``), on a
real hub (SQLite and PostgreSQL, real Mosquitto) through its web app: here 2 an hour. The third request
within the hour is refused in the GeoReport v2 error format with HTTP 429 and a Retry-After, in JSON and in
XML; nothing of it is stored; another partner is not held back; the refusals are counted on the partner
(shown by ``shegong hub partner list``) and logged once, not once each; when the hour has passed for the
first request, the partner may post again. Parallel POSTs cannot pass the limit together."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select, text, update

from hub import cli
from hub.db.models import PartnerRequestRow, table
from hub.open311.partners import Partners
from hub.settings import HubSettings, Open311Settings
from tests.support import id_number

PER_HOUR = 2
_requests = table(PartnerRequestRow)


@pytest.fixture
def hub_settings(hub_settings: HubSettings, hub_db_url: str) -> HubSettings:  # hub_db_url: both databases
    limit = Open311Settings(partner_requests=PER_HOUR, partner_window_s=3600)
    return hub_settings.model_copy(update={"open311": limit})


def _form(key: str, n: int) -> dict[str, str]:
    return {
        "api_key": key,
        "service_code": "RS-004",
        "last_name": "陈",
        "first_name": "建国",
        "attribute[id_number]": id_number("310105", "19600101", f"{n:03d}"),
        "attribute[phone]": "13700001111",
        "attribute[lost_date]": "2026-11-30",
    }


def _post(client: TestClient[Any], fmt: str, key: str, n: int) -> Any:
    return client.post(f"/open311/v2/requests.{fmt}", data=_form(key, n))


def test_a_partner_over_its_limit_is_refused_with_429_counted_and_let_in_again_after_the_window(
    hub: Any,
    client: TestClient[Any],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    hub_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    partners = Partners(hub.engine)
    hotline, key = partners.add("hotline-12345")
    _, other_key = partners.add("district-app")
    for n in range(PER_HOUR):
        made = _post(client, "json", key, n)
        assert made.status_code == 201, made.text

    with caplog.at_level(logging.WARNING, logger="hub.open311.service"):
        refused = _post(client, "json", key, 10)
        refused_xml = _post(client, "xml", key, 11)
    assert refused.status_code == 429
    [error] = refused.json()
    assert error["code"] == 429 and "每 3600 秒最多 2 件" in error["description"]
    assert "too many requests" in error["description"]
    assert 3500 < int(refused.headers["retry-after"]) <= 3600  # the first request leaves the hour in about 1 h

    assert refused_xml.status_code == 429 and refused_xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(refused_xml.text)
    assert root.tag == "errors" and root.findtext("error/code") == "429"
    assert 3500 < int(refused_xml.headers["retry-after"]) <= 3600

    warned = [r for r in caplog.records if "over its limit" in r.getMessage()]
    assert len(warned) == 1 and "hotline-12345" in warned[0].getMessage()

    with hub.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM open311_requests WHERE partner_id = :p"), {"p": hotline.partner_id}
        ).scalar_one()
        cases = conn.execute(text("SELECT count(*) FROM cases WHERE committee = 'OPEN311'")).scalar_one()
    assert stored == PER_HOUR and cases == PER_HOUR  # nothing of the refused ones

    assert _post(client, "json", other_key, 20).status_code == 201  # the limit is per partner

    counted = {p.name: p for p in partners.list()}
    assert counted["hotline-12345"].refused == 2 and counted["hotline-12345"].last_refused_at is not None
    assert counted["district-app"].refused == 0
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    capsys.readouterr()
    assert cli.main(["partner", "list"]) == 0
    printed = capsys.readouterr().out
    assert "hotline-12345" in printed and "refused 2 over its limit" in printed

    with hub.engine.begin() as conn:  # the first request made an hour and a second ago
        mine = _requests.c.partner_id == hotline.partner_id
        first = conn.execute(select(func.min(_requests.c.created_at)).where(mine)).scalar_one()
        conn.execute(
            update(_requests)
            .where(mine, _requests.c.created_at == first)
            .values(created_at=first - timedelta(hours=1, seconds=1))
        )
    again = _post(client, "xml", key, 30)
    assert again.status_code == 201, again.text
    assert _post(client, "json", key, 31).status_code == 429  # two in the hour again


def test_parallel_posts_of_one_partner_cannot_pass_its_limit_together(hub: Any, web: str) -> None:
    _, key = Partners(hub.engine).add("hotline-12345")

    def post(n: int) -> int:
        return httpx.post(f"{web}/open311/v2/requests.json", data=_form(key, 40 + n), timeout=30).status_code

    with ThreadPoolExecutor(6) as pool:
        answers = sorted(pool.map(post, range(6)))
    assert answers == [201] * PER_HOUR + [429] * (6 - PER_HOUR)
