"""The console's overview of a terminal with three cases queued and no terminal service running: the outbox
depth and the oldest receipt, each check's state with its reason, Chinese first and English on ``l``."""

from __future__ import annotations

import pytest
from rich.text import Text

from edge.console.panes.overview import Overview
from tests.integration.console.conftest import console_app

pytestmark = pytest.mark.anyio


def rows(app) -> dict[str, list[str]]:
    table = app.query_one(Overview)
    return {str(key.value): [str(c) if isinstance(c, Text) else c for c in table.get_row(key)] for key in table.rows}


async def test_overview_shows_the_queued_cases_and_says_what_is_wrong_in_chinese(settings, store):
    app = console_app(settings, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        r = rows(app)
        assert r["outbox"][1:3] == ["正常", "3"]
        assert "JW001-20260302-0001" in r["outbox"][3] and "4m05s" in r["outbox"][3]
        assert r["terminal"][1:] == ["故障", "-", "终端服务未运行，无法连接控制通道"]
        assert r["parked"][1:3] == ["正常", "0"]
        assert r["disk"][2] == "5,120 MB"
        assert r["tls"][1] == "注意"  # no broker_tls_ca: a demo link
        head = str(app.query_one("#head").render())
        assert "T-0001" in head and "JW001 潍坊一居委" in head and f"库 {_schema_head()}" in head


async def test_l_switches_every_word_to_english_and_back(settings, store):
    app = console_app(settings, store)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("l")
        await app.workers.wait_for_complete()
        await pilot.pause()
        r = rows(app)
        assert r["terminal"][0] == "Terminal" and r["terminal"][1] == "FAIL"
        assert r["outbox"][1:3] == ["OK", "3"]
        await pilot.press("l")
        await pilot.pause()
        assert rows(app)["terminal"][0] == "终端进程"


async def test_digits_switch_tabs(settings, store):
    app = console_app(settings, store)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, pane in zip(
            "2345671", ("sync", "catalogue", "audit", "settings", "network", "logs", "overview"), strict=True
        ):
            await pilot.press(key)
            await pilot.pause()
            assert app.query_one("TabbedContent").active == pane


async def test_digits_switch_tabs_with_a_button_focused_and_type_in_a_field(settings, store):
    """A technician who pressed 校验审计链 (the button keeps the focus) then 1 stayed on the audit pane: the
    focus went to the next button there and the tabs followed it back. In a text field a digit is typed."""
    app = console_app(settings, store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        app.query_one("#do-verify").focus()
        await pilot.pause()
        await pilot.press("1")
        await pilot.pause()
        assert app.query_one("TabbedContent").active == "overview"
        await pilot.press("5")
        app.query_one("#pin-staff").focus()
        await pilot.press("w", "0", "1")
        await pilot.pause()
        assert app.query_one("#pin-staff").value == "w01" and app.query_one("TabbedContent").active == "settings"


def _schema_head() -> str:
    """The newest edge migration, as alembic reads the migration files (not the store's own constant)."""
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import edge.store

    config = Config()
    config.set_main_option("script_location", str(Path(edge.store.__file__).with_name("migrations")))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head
