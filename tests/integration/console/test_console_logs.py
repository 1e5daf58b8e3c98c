"""The terminal's log, as the console reads it: the log file a real ``shegong edge run`` writes (rotating, in
its data folder, private, ID numbers masked), and journald's lines of its unit where there is a journal —
here a journal file written by ``systemd-journal-remote`` from the very lines the terminal wrote to stderr,
as journald keeps a unit's stderr (no running journald needed), read back through ``journalctl --file``."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from edge.console.store import ConsoleStore
from edge.control import ControlClient, TerminalNotRunning, socket_path
from tests.integration.console.conftest import console_app, terminal_settings
from tests.integration.console.test_console_actions import screen_text
from tests.support import CASE_PUBLIC_KEY, applicant, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
SHEGONG = Path(sys.executable).with_name("shegong")
JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")


@pytest.fixture
def ran(tmp_path, broker):
    """A terminal service that came online on a real Mosquitto and was stopped: its settings and stderr."""
    settings = terminal_settings(tmp_path / "edge", broker_port=broker.port)
    env = {
        **os.environ,
        "SHEGONG_EDGE_CONFIG": str(tmp_path / "none.toml"),
        "SHEGONG_DATA_DIR": str(settings.data_dir),
        "SHEGONG_TERMINAL_ID": settings.terminal_id,
        "SHEGONG_BROKER_PORT": str(broker.port),
        "SHEGONG_HUB_PUBLIC_KEY": CASE_PUBLIC_KEY,
        "SHEGONG_LOG_LEVEL": "INFO",
    }
    proc = subprocess.Popen([str(SHEGONG), "edge", "run", "--no-kiosk"], env=env, stderr=subprocess.PIPE, text=True)
    client = ControlClient(socket_path(settings.runtime_dir))

    def online() -> bool:
        try:
            return client.request("status")["link"] == "online"
        except TerminalNotRunning:
            return False

    try:
        wait_for(online, timeout=30, what="the terminal online")
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    return settings, err.splitlines()


async def test_the_running_terminal_writes_a_private_log_file_the_console_shows(ran):
    settings, stderr = ran
    log = settings.data_dir / "log" / "edge.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    written = log.read_text(encoding="utf-8").splitlines()
    assert any(" INFO edge.sync.agent: online as T-0001" in line for line in written)
    assert [x for x in stderr if " edge." in x] == [x for x in written if " edge." in x], "the same lines"
    store = ConsoleStore(settings)
    app = console_app(settings, store)  # no log_file given: the settings' own (data_dir/log/edge.log)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("7")
            await pilot.pause()
            table = app.query_one("#log-lines", DataTable)
            rows = [table.get_row_at(i) for i in range(table.row_count)]
    finally:
        store.close()
    assert ("INFO", "edge.sync.agent") in {(r[1], r[2]) for r in rows}
    assert any(r[2] == "edge.control" and r[3].startswith("control socket at ") for r in rows)


def journal_entry(n: int, message: str, unit: str, priority: int = 6) -> str:
    """One entry in journald's export format, as journald keeps a line a unit wrote to stderr."""
    fields = {
        "__REALTIME_TIMESTAMP": str(int(time.time() * 1e6) + n),
        "__MONOTONIC_TIMESTAMP": str(1_000_000 + n),
        "_BOOT_ID": "0123456789abcdef0123456789abcdef",
        "_SYSTEMD_UNIT": unit,
        "SYSLOG_IDENTIFIER": "shegong",
        "PRIORITY": str(priority),
        "MESSAGE": message,
    }
    return "".join(f"{k}={v}\n" for k, v in fields.items()) + "\n"


@pytest.mark.skipif(not JOURNAL_REMOTE.exists() or not shutil.which("journalctl"), reason="scripts/system-deps.sh")
async def test_the_console_reads_the_units_lines_from_the_journal_and_masks_id_numbers(ran, tmp_path):
    settings, stderr = ran
    number = applicant(3).id_number
    entries = [journal_entry(i, line, "shegong-edge.service") for i, line in enumerate(stderr)]
    entries.append(journal_entry(len(entries), f"lookup by {number} refused", "shegong-edge.service", 3))
    entries.append(journal_entry(len(entries), "another unit's line", "cron.service"))
    journal = tmp_path / "edge.journal"
    subprocess.run(
        [str(JOURNAL_REMOTE), f"--output={journal}", "-"], input="".join(entries).encode(), check=True, timeout=30
    )
    settings.log_path.unlink()  # only the journal can show these lines now
    store = ConsoleStore(settings)
    app = console_app(settings, store, journal_file=journal)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("7")
            await pilot.pause()
            table = app.query_one("#log-lines", DataTable)
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            shown = screen_text(app)
    finally:
        store.close()
    assert any(r[1:3] == ["INFO", "edge.sync.agent"] and r[3].startswith("online as T-0001") for r in rows)
    refused = [r for r in rows if r[3].startswith("lookup by")]
    assert refused and refused[0][1:3] == ["ERROR", "shegong"], "a line without our format: journald's priority"
    assert number not in refused[0][3] and number[:6] in refused[0][3] and number not in shown
    assert not any("another unit" in r[3] for r in rows)
