"""SVG snapshots of the console's screens at 80×24, Chinese and English: a terminal with three cases queued
at a fixed time and no terminal service running, the host's disk and memory fixed. What would differ from run
to run is fixed or masked: the settings show the terminal's data folder as provisioned (/var/lib/shegong), the
log lines have fixed times, the network diagnosis's milliseconds are masked. A change to what a technician
sees shows as a failing snapshot (``pytest --snapshot-update`` accepts it after review)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from textual.widgets import Button, Static

from tests.integration.console.conftest import console_app
from tests.support import applicant

SHOWN = ["overview-zh", "overview-en", "sync-zh", "audit-zh", "catalogue-zh"]
MORE = ["settings-zh", "network-zh", "logs-zh", "devices-zh", "devices-en"]


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _on(*keys: str):
    async def run_before(pilot) -> None:
        await _settle(pilot)
        for key in keys:
            await pilot.press(key)
            await _settle(pilot)

    return run_before


@pytest.mark.parametrize(
    "keys",
    [(), ("l",), ("2",), ("4",), ("3",)],
    ids=SHOWN,
)
def test_main_screens_at_80x24(snap_compare, settings, store, keys):
    assert snap_compare(console_app(settings, store), terminal_size=(80, 24), run_before=_on(*keys))


def provisioned(settings):
    """The settings as shown: the data folder where provisioning puts it, not the test's temporary one, and
    fixed hub keys (the tests' own are made afresh each session, or each test)."""
    key = base64.urlsafe_b64encode(hashlib.sha256(b"the hub's public case key").digest()).decode()
    audit_key = hashlib.sha256(b"the hub's public audit key").hexdigest()
    return settings.model_copy(
        update={"data_dir": Path("/var/lib/shegong"), "hub_public_key": key, "hub_audit_public_key": audit_key}
    )


def log_file(folder: Path) -> Path:
    number = applicant(7).id_number
    log = folder / "edge.log"
    log.write_text(
        "2026-03-02 09:30:00,001 INFO edge.sync.agent: sync agent for T-0001 starting, broker 127.0.0.1:1883\n"
        "2026-03-02 09:30:00,412 INFO edge.control: control socket at /run/shegong/control.sock\n"
        "2026-03-02 09:30:01,020 WARNING edge.sync.agent: link lost: connection refused; retry in 0.5 s\n"
        "2026-03-02 09:30:31,877 INFO edge.sync.agent: online as T-0001 (bd_seq 4)\n"
        f"2026-03-02 09:31:02,003 ERROR edge.kiosk.app: lookup failed for {number}\n"
        "2026-03-02 09:31:40,551 INFO edge.devices.service: reader reader: starting → ok\n",
        encoding="utf-8",
    )
    return log


def _diagnosed(pilot_keys: tuple[str, ...]):
    async def run_before(pilot) -> None:
        await _on(*pilot_keys)(pilot)
        app = pilot.app
        app.query_one("#do-diagnose", Button).focus()
        await pilot.press("enter")
        await _settle(pilot)
        result = app.query_one("#net-result", Static)
        result.update(re.sub(r"\d+ ms", "·· ms", str(result.render())))  # times differ run to run
        app.query_one("#do-diagnose", Button).focus()
        await _settle(pilot)
        app.clear_notifications()
        await _settle(pilot)

    return run_before


KEYS = {"settings-zh": ("5",), "logs-zh": ("7",), "devices-zh": ("8",), "devices-en": ("l", "8")}


@pytest.mark.parametrize("name", list(KEYS))
def test_more_screens_at_80x24(snap_compare, settings, store, tmp_path, name):
    app = console_app(provisioned(settings), store, log_file=log_file(tmp_path))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_on(*KEYS[name]))


def test_network_screen_at_80x24(snap_compare, settings, store):
    """The diagnosis of a broker nobody listens on (port 9 on loopback): resolved, TCP refused."""
    shown = provisioned(settings).model_copy(update={"broker_port": 9})
    assert snap_compare(console_app(shown, store), terminal_size=(80, 24), run_before=_diagnosed(("6",)))


def _snapshot(test: str, name: str) -> Path:
    return Path(__file__).parent / "__snapshots__" / "test_console_snapshots" / f"{test}[{name}].svg"


@pytest.mark.parametrize("name", SHOWN + MORE)
def test_the_screens_in_the_docs_are_the_snapshots(name):
    root = Path(__file__).resolve().parents[3]
    if name in SHOWN:
        snapshot = _snapshot("test_main_screens_at_80x24", name)
    elif name == "network-zh":
        snapshot = (
            Path(__file__).parent / "__snapshots__" / "test_console_snapshots" / "test_network_screen_at_80x24.svg"
        )
    else:
        snapshot = _snapshot("test_more_screens_at_80x24", name)
    assert (root / "docs" / "screenshots" / f"console-{name}.svg").read_bytes() == snapshot.read_bytes()
