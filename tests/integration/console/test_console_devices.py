"""The Devices tab against the device simulators on real ptys: ports present or not, the reader's SAM
self-test, a tapped card shown masked (never the whole ID number or name), printer status and a test slip the
simulated printer decodes, one scan; each audited without the resident. While a running kiosk holds the
devices (a real ``shegong edge run``), the same tests go through its control socket to its device service,
and the terminal records them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from edge.console.store import ConsoleStore
from edge.control import ControlClient, TerminalNotRunning, socket_path
from edge.devices.sim.idreader import IdReaderSim
from edge.devices.sim.printer import PrinterSim
from edge.devices.sim.scanner import ScannerSim
from tests.integration.console.conftest import console_app, queue_cases, terminal_settings, this_technician
from tests.integration.console.test_console_actions import console_entries, press, screen_text
from tests.support import wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
SHEGONG = Path(sys.executable).with_name("shegong")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sims(tmp_path):
    with (
        IdReaderSim(tmp_path / "reader") as reader,
        PrinterSim(tmp_path / "printer") as printer,
        ScannerSim(tmp_path / "scanner") as scanner,
    ):
        yield reader, printer, scanner


@pytest.fixture
def bench(tmp_path, sims):
    reader, printer, scanner = sims
    s = terminal_settings(
        tmp_path / "edge",
        devices={
            "reader": reader.path,
            "printer": printer.path,
            "scanner": scanner.path,
            "sscard_lib": str(tmp_path / "no-such-lib.so"),
        },
    )
    queue_cases(s, 1)
    store = ConsoleStore(s)
    yield s, store
    store.close()


def result(app) -> str:
    return str(app.query_one("#device-result", Static).render())


async def test_ports_and_their_presence(bench):
    settings, store = bench
    app = console_app(settings, store)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("8")
        await pilot.pause()
        table = app.query_one("#ports", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
    assert [(r[0], r[2]) for r in rows] == [
        ("身份证读卡器", "在"),
        ("社保卡读卡器", "不在"),
        ("凭条打印机", "在"),
        ("扫码器", "在"),
    ]


async def test_self_test_tap_printer_slip_and_scan(bench, sims):
    settings, store = bench
    reader, printer, scanner = sims
    person = reader.place("zhang-wei")
    app = console_app(settings, store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("8")
        await press(app, pilot, "do-self_test")
        assert result(app) == "读卡器安全模块自检通过"
        await press(app, pilot, "do-tap")
        shown = result(app)
        assert "帧错误 0 次" in shown and "读到 居民身份证：" in shown  # the card's kind and sex in words
        assert f"（{'男' if int(person.id_number[16]) % 2 else '女'}）" in shown  # GB 11643: odd 17th digit, male
        assert person.id_number[:6] in shown and person.id_number[-4:] in shown
        assert person.id_number not in shown and person.name not in shown and f"{person.name[0]}*" in shown
        await press(app, pilot, "do-printer")
        assert result(app) == "打印机状态：正常"
        await press(app, pilot, "do-slip")
        assert "测试单已打印" in result(app)
        slip = printer.wait_for_receipt()
        assert "打印测试" in slip.text and "终端：T-0001" in slip.text
        app.query_one("#do-scan").focus()
        await pilot.press("enter")
        while "请在" not in result(app):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        scanner.scan(f"JW001-20260302-0001 {person.id_number}")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "扫到：JW001-20260302-0001" in result(app) and person.id_number not in result(app)
        assert person.id_number not in screen_text(app)
    entries = console_entries(settings)
    assert [a for _, a, _ in entries] == [
        "console.device_self_test",
        "console.device_tap",
        "console.device_printer_status",
        "console.device_test_slip",
        "console.device_scan",
    ]
    assert all(d["ok"] for _, _, d in entries)
    assert person.id_number[-4:] not in str(entries) and person.name not in str(entries)


async def test_a_failed_sam_is_told_and_audited(bench, sims):
    settings, store = bench
    sims[0].set_sam_failed()
    app = console_app(settings, store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("8")
        await press(app, pilot, "do-self_test")
    [(_, action, data)] = console_entries(settings)
    assert action == "console.device_self_test" and data["ok"] is False


@pytest.fixture
def kiosk_terminal(tmp_path, bench, sims, broker):
    """``shegong edge run`` with its kiosk: the device service holds the simulators' ptys."""
    settings, store = bench
    reader, printer, scanner = sims
    env = {
        **os.environ,
        "SHEGONG_EDGE_CONFIG": str(tmp_path / "none.toml"),
        "SHEGONG_DATA_DIR": str(settings.data_dir),
        "SHEGONG_TERMINAL_ID": settings.terminal_id,
        "SHEGONG_COMMITTEE_CODE": settings.committee_code,
        "SHEGONG_BROKER_PORT": str(broker.port),
        "SHEGONG_HUB_PUBLIC_KEY": settings.hub_public_key,
        "SHEGONG_KIOSK_PORT": str(free_port()),
        "SHEGONG_DEVICES_READER": str(reader.path),
        "SHEGONG_DEVICES_PRINTER": str(printer.path),
        "SHEGONG_DEVICES_SCANNER": str(scanner.path),
        "SHEGONG_DEVICES_SSCARD_LIB": "",
    }
    proc = subprocess.Popen([str(SHEGONG), "edge", "run"], env=env, stderr=subprocess.PIPE, text=True)
    client = ControlClient(socket_path(settings.runtime_dir))

    def held() -> dict | None:
        try:
            status = client.request("status")
        except TerminalNotRunning:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return None
        ok = status["devices_held"] and status["devices"].get("reader") == "ok"
        return status if ok and status["devices"].get("printer") == "ok" else None

    try:
        wait_for(held, timeout=60, what="the running kiosk holding the devices, reader and printer ok")
        yield settings, store, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


async def test_while_the_kiosk_holds_the_devices_the_tests_run_through_the_terminal(kiosk_terminal, sims):
    settings, store, proc = kiosk_terminal
    reader, printer, scanner = sims
    finds = reader.commands["FIND_CARD"]
    app = console_app(settings, store)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("8")
        await pilot.pause()
        table = app.query_one("#ports", DataTable)
        assert table.get_row_at(0)[3] == "正常 (帧错误 0 次)" and table.get_row_at(2)[3] == "正常"
        await press(app, pilot, "do-self_test")
        assert result(app) == "读卡器安全模块自检通过"
        app.query_one("#do-tap").focus()
        await pilot.press("enter")
        while "请在" not in result(app):
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the request reaches the terminal, which waits for the next card
        person = reader.place("zhang-wei")
        while "读到" not in result(app):
            await asyncio.sleep(0.05)
        await app.workers.wait_for_complete()
        shown = result(app)
        assert person.id_number[:6] in shown and person.id_number[-4:] in shown and "帧错误 0 次" in shown
        assert person.id_number not in shown and person.name not in shown and f"{person.name[0]}*" in shown
        await press(app, pilot, "do-printer")
        assert result(app) == "打印机状态：正常"
        await press(app, pilot, "do-slip")
        assert "测试单已打印" in result(app)
        slip = printer.wait_for_receipt()
        assert "打印测试" in slip.text and "终端：T-0001" in slip.text
        app.query_one("#do-scan").focus()
        await pilot.press("enter")
        while "请在" not in result(app):
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        scanner.scan(f"JW001-20260302-0001 {person.id_number}")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "扫到：JW001-20260302-0001" in result(app) and person.id_number not in result(app)
        assert person.id_number not in screen_text(app)
    assert proc.poll() is None, "the terminal runs on"
    assert reader.commands["FIND_CARD"] > finds, "the kiosk's own polling carried on around the tests"
    entries = console_entries(settings)  # written by the running terminal, under the technician's name
    me, mine = this_technician()  # the kernel's name for the console's process, whatever a request says
    assert [(a, act) for a, act, _ in entries] == [
        (me, "console.device_self_test"),
        (me, "console.device_tap"),
        (me, "console.device_printer_status"),
        (me, "console.device_test_slip"),
        (me, "console.device_scan"),
    ]
    assert [d for _, _, d in entries] == [
        {"ok": True, "bad_frames": 0, **mine},
        {"ok": True, "card_type": "id_card", "bad_frames": 0, **mine},
        {"ok": True, "state": "ok", **mine},
        {"ok": True, "state": "ok", **mine},
        {"ok": True, "scanned": True, **mine},
    ]
    assert person.id_number[-4:] not in str(entries) and person.name not in str(entries)


async def test_a_failed_sam_while_the_kiosk_runs_is_told_and_recorded_by_the_terminal(kiosk_terminal, sims):
    settings, store, _proc = kiosk_terminal
    sims[0].set_sam_failed()
    app = console_app(settings, store)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("8")
        await press(app, pilot, "do-self_test")
        assert result(app) == "" and "自检失败" in " ".join(n.message for n in app._notifications)
    [(actor, action, data)] = console_entries(settings)
    me, mine = this_technician()
    assert (actor, action, data) == (me, "console.device_self_test", {"ok": False, "error": "SamFailed", **mine})
