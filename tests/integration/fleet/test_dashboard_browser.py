"""The operators' dashboard in headless Chromium: terminals of the subdistrict in their real states
(healthy, out of paper, silent, gone, backlogged, clock off, behind on the catalogue), problems first,
sortable columns, and one page per terminal with its alerts and history.

The pages are served by uvicorn from the fleet router (with the hub app's services and templates) over a
running hub (on SQLite and PostgreSQL); the screenshot is kept as docs/screenshots/fleet-dashboard.png.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import uvicorn
from litestar import Litestar
from sqlalchemy import select

from harness.broker import free_port
from hub.db.models import TerminalRow, table
from hub.settings import WebSettings
from hub.web.app import static_router
from hub.web.pages.fleet import fleet_router
from hub.web.services import Operations, Services, dependencies
from hub.web.templating import template_config
from protocol.envelope import utcnow
from tests.integration.fleet.conftest import alerts, fleet_state
from tests.support import keep_screenshot, wait_for

pytestmark = pytest.mark.browser
_terms = table(TerminalRow)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(runtime: Any) -> str:
        port = free_port()
        provided = dependencies(
            Services.from_runtime(runtime), Operations.from_runtime(runtime), WebSettings(secret="x" * 64)
        )
        app = Litestar(
            route_handlers=[fleet_router(), static_router()], dependencies=provided, template_config=template_config()
        )
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_for(lambda: server.started, what="uvicorn started")
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(5)


def test_the_dashboard_puts_problems_first_sorts_and_shows_each_terminals_history(
    fleet_hub, sims, edge_factory, browser, serve
):
    hub = fleet_hub(heartbeat_s=1.5, offline_alert_s=600)
    edges = [edge_factory(f"JW00{n}-01", heartbeat_s=0.3) for n in (1, 2)]
    for e in edges:
        e.start_sync()
    healthy = [sims(f"JW01{n}-01").connect() for n in range(4)]
    paper = sims("JW021-01").connect()
    clock = sims("JW022-01", clock_offset_s=-400).connect()
    backlog = sims("JW023-01").connect()
    silent = sims("JW024-01").connect()
    gone = sims("JW025-01").connect()
    behind = sims("JW026-01").connect()
    gone.beat(outbox_depth=2)
    gone.goodbye()
    silent.beat()

    store = hub.catalogue.store
    store.start_draft("test")
    store.update_item(store.draft().items[0].code, {"description": "材料清单已更新。"}, "test")
    version = hub.catalogue.publish("user:operator", "更新材料清单").version
    wait_for(lambda: all(e.catalogue.version == version for e in edges), what="real terminals updated")

    def beat_all() -> None:
        for s in healthy:
            s.catalogue_version = version
            s.beat()
        paper.catalogue_version = clock.catalogue_version = backlog.catalogue_version = version
        paper.beat(printer="paper_out")
        clock.beat()
        backlog.beat(outbox_depth=37, oldest_unsent_at=utcnow() - timedelta(hours=2))
        behind.beat()  # still on version 1

    beat_all()
    wait_for(lambda: fleet_state(hub, "JW024-01") == "silent", timeout=10, what="one terminal silent")
    beat_all()
    wait_for(lambda: alerts(hub, "JW026-01", "catalogue_behind"), what="catalogue behind alert")
    mark = utcnow()
    beat_all()
    beating = {s.terminal for s in [*healthy, paper, clock, backlog, behind]}

    def ingested() -> bool:
        with hub.engine.connect() as conn:
            seen = dict(conn.execute(select(_terms.c.terminal_id, _terms.c.last_seen_at)).all())
        return all(seen[t] >= mark for t in beating)

    wait_for(ingested, what="the last heartbeats committed")

    url = serve(hub)
    page = browser.new_context(viewport={"width": 1400, "height": 820}, locale="zh-CN").new_page()
    page.set_default_timeout(8000)
    page.goto(f"{url}/fleet/")
    rows = page.locator("#terminals tbody tr")
    assert rows.count() == 12
    order = [rows.nth(i).get_attribute("data-terminal") for i in range(rows.count())]
    assert order[0] == "JW025-01" and order[1] == "JW024-01", f"offline then silent first: {order}"
    assert set(order[-6:]) == {f"JW01{n}-01" for n in range(4)} | {"JW001-01", "JW002-01"}  # healthy last
    assert page.locator("[data-state=offline]").inner_text() == "1"
    assert page.locator("[data-state=silent]").inner_text() == "1"
    assert "打印机缺纸" in rows.nth(order.index("JW021-01")).inner_text()
    assert "目录版本落后" in rows.nth(order.index("JW026-01")).inner_text()
    assert f"服务目录 v{version}" in page.locator("#rollout").inner_text()
    keep_screenshot(page, "fleet-dashboard", "fleet", full_page=True)

    page.get_by_role("link", name="待上传").click()  # ascending, then descending
    page.get_by_role("link", name="待上传").click()
    page.wait_for_url("**sort=outbox&dir=desc")
    assert page.locator("#terminals tbody tr").first.get_attribute("data-terminal") == "JW023-01"

    page.get_by_role("link", name="JW021-01").click()
    page.wait_for_url("**/fleet/terminals/JW021-01")
    assert "打印机缺纸" in page.locator("#alerts").inner_text()
    assert "未解除" in page.locator("#alerts").inner_text()
    assert "上线" in page.locator("#links").inner_text()
    assert page.locator("#heartbeats tbody tr").count() >= 2
    # Issue 11: "时钟偏差 0 秒（终端比中心慢）" gave a direction to no offset at all.
    assert page.locator("#clock-offset").inner_text() == "与中心一致（相差不到 1 秒）"
    keep_screenshot(page, "fleet-terminal", "fleet", full_page=True)
    page.goto(f"{url}/fleet/terminals/JW022-01")  # its clock 400 s behind: 6⅔ minutes, one direction, no sign
    assert page.locator("#clock-offset").inner_text() == "7 分钟（终端比中心慢）"

    paper.beat(printer="ok")  # the roll is changed: the alert clears, and the history keeps it
    wait_for(lambda: alerts(hub, "JW021-01", "printer_paper")[0].cleared_at is not None, what="paper alert cleared")
    page.goto(f"{url}/fleet/alerts?all=1")
    text = page.locator("#alerts").inner_text()
    assert "JW021-01" in text and "打印机缺纸" in text
