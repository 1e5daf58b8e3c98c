"""The console sits on top of the edge and nothing of the edge's core leans on it: the contract holds, and
breaks on a copy where the outbox imports the console; the terminal's control socket loads no Textual; every
word the console shows comes from the message catalogue, in both languages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.console.app import PANES
from edge.console.checks import HostFigures, Level, Readings, judge
from edge.console.devices import DEVICES
from edge.console.netdiag import Step
from edge.console.store import StoreFacts
from edge.kiosk.i18n import catalogue
from edge.settings import EdgeSettings
from edge.store.outbox import OutboxStats

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "edge" / "console"
CONTRACT = "the edge's core never imports its maintenance console"


def test_the_core_contract_breaks_when_the_outbox_imports_the_console(tmp_path):
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (dev extra)")
    for name in ("edge", "protocol", "hub", "provisioning", "shegong", "pyproject.toml"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    kept = subprocess.run([lint], cwd=tmp_path, capture_output=True, text=True).stdout
    assert f"{CONTRACT} KEPT" in kept
    with (tmp_path / "edge" / "store" / "outbox.py").open("a") as f:
        f.write("\nimport edge.console.app  # noqa: E402,F401\n")
    broken = subprocess.run([lint], cwd=tmp_path, capture_output=True, text=True).stdout
    assert f"{CONTRACT} BROKEN" in broken


def test_the_control_socket_loads_no_textual():
    code = "import sys, json, edge.control; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )
    assert not [m for m in loaded if m == "textual" or m.startswith("textual.")]


def test_no_chinese_literal_in_the_console_code():
    han = re.compile(r"[\u4e00-\u9fff]")
    offenders = [str(p.relative_to(ROOT)) for p in CONSOLE.rglob("*.py") if han.search(p.read_text("utf-8"))]
    assert offenders == []


def situations() -> list[Readings]:
    """Readings that between them take every branch of the overview's checks."""
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    base = EdgeSettings(terminal_id="T1", data_dir=Path("/nonexistent"))
    tls_on = base.model_copy(update={"broker_tls_ca": Path("/ca.pem")})
    out = []
    for depth, age in ((0, 0), (3, 60), (3, 1200), (3, 7200), (100_000, 0)):
        store = StoreFacts(
            "e0013" if depth else "e0001",
            OutboxStats(depth, now - timedelta(seconds=age) if depth else None, depth % 2),
            "JW001-20260302-0001" if depth else None,
            {"items_refused": "x"} if depth else {},
            now - timedelta(seconds=age) if age else None,
            1,
            10,
            [2026],
            now if depth else None,
        )
        for status in (
            None,
            {"uptime_s": 90, "link": "online", "hub_online": True, "round_trip_s": 0.1, "hub_clock_offset_s": 0.5},
            {"uptime_s": 90, "link": "online", "hub_online": False, "round_trip_s": 2.0, "hub_clock_offset_s": 9.0},
            {"uptime_s": 90, "link": "connecting", "round_trip_s": 9.0, "hub_clock_offset_s": -90.0},
            {"uptime_s": 90, "link": "offline", "last_ack_at": now.isoformat()},
        ):
            for tls, settings in (
                (None, base),
                (None, tls_on),
                (Step("tls", False, 1, "refused"), tls_on),
                (Step("tls", True, 1, "TLSv1.3"), tls_on),
                (Step("tls", True, 1, "TLSv1.3", now - timedelta(days=1)), tls_on),
                (Step("tls", True, 1, "TLSv1.3", now + timedelta(days=10)), tls_on),
                (Step("tls", True, 1, "TLSv1.3", now + timedelta(days=300)), tls_on),
            ):
                for disk, mem in ((100.0, 2.0), (300.0, 10.0), (5000.0, 60.0)):
                    out.append(Readings(settings, store, status, HostFigures(disk, 10_000.0, mem), tls, now))
    return out


def test_every_console_key_is_in_both_catalogues():
    code = "\n".join(p.read_text("utf-8") for p in CONSOLE.rglob("*.py"))
    literal = set(re.findall(r"""["'](console\.[a-z_]+(?:\.[a-z_]+)*)["']""", code))
    checks = [c for r in situations() for c in judge(r)]
    made = {f"console.why.{c.why}" for c in checks} | {f"console.check.{c.key}" for c in checks}
    made |= {f"console.level.{level.value}" for level in Level}
    made |= {f"console.tab.{p}" for p in PANES} | {f"console.devices.{d}" for d in DEVICES}
    made |= {f"console.keys.{k}" for k in ("lang", "refresh", "quit")}
    assert len(literal) > 40 and len({c.why for c in checks}) >= 34
    for lang in ("zh", "en"):
        assert sorted((literal | made) - set(catalogue(lang))) == [], lang
        texts = catalogue(lang)
        for c in checks:  # each reason fills in with the fields its check gives
            texts[f"console.why.{c.why}"].format(**c.fields)


def test_the_clock_row_says_slow_or_fast_as_the_fleet_page_does():
    """A terminal 5 minutes slow: the console said +300.0 s, the fleet page -300 s and 终端比中心慢."""
    from types import SimpleNamespace

    from edge.console.checks import _clock

    slow = _clock(SimpleNamespace(status={"hub_clock_offset_s": 300.0}))  # the hub's clock minus ours
    fast = _clock(SimpleNamespace(status={"hub_clock_offset_s": -300.0}))
    assert (slow.value, slow.why) == ("-300.0 s", "clock_red_slow") and "慢" in catalogue("zh")[
        "console.why.clock_red_slow"
    ]
    assert (fast.value, fast.why) == ("+300.0 s", "clock_red_fast") and "快" in catalogue("zh")[
        "console.why.clock_red_fast"
    ]


@pytest.mark.parametrize(
    ("reader", "printer", "level", "why"),
    [
        ("ok", "paper_out", "red", "devices_fault"),
        ("no_device", "ok", "red", "devices_fault"),
        ("ok", "paper_low", "amber", "devices_paper_low"),
        ("ok", "ok", "green", "devices_ok"),
    ],
)
def test_the_overview_has_the_devices_the_fleet_page_alerts_on(reader, printer, level, why):
    """Printer out of paper or reader unplugged: the fleet page said 打印机缺纸 / 读卡器故障 while the console's
    overview said 正常 everywhere and 告警 0."""
    from types import SimpleNamespace

    from edge.console.checks import _devices
    from hub.fleet.assess import AlertKind, _device_problems

    status = {"devices_held": True, "devices": {"reader": reader, "printer": printer}}
    row = _devices(SimpleNamespace(status=status))
    assert (row.level.value, row.why) == (level, why)
    alerted = _device_problems({"reader": reader, "printer": printer})
    assert bool(alerted) == (level == "red"), alerted  # the fleet page alerts exactly when the console is red
    assert set(alerted) <= {AlertKind.PRINTER_PAPER, AlertKind.PRINTER_FAULT, AlertKind.READER_FAULT}


def test_the_overview_names_states_and_alarms_in_words_not_codes():
    """A Chinese overview said 在线 as ``online``, the devices as ``ok / paper_out`` and the faulting one as
    ``printer paper_out``, the alarms as ``storage_full, clock_skew``."""
    from types import SimpleNamespace

    from edge.console.checks import _alarms, _devices, _link
    from edge.console.panes.overview import said
    from edge.kiosk.i18n import translator

    zh, en = translator("zh"), translator("en")
    devices = _devices(
        SimpleNamespace(status={"devices_held": True, "devices": {"reader": "ok", "printer": "paper_out"}})
    )
    assert said(zh, devices) == ("正常 / 缺纸", "设备故障，居民无法办理：凭条打印机（见“设备”页）")
    assert said(en, devices)[0] == "ok / out of paper"
    both = _devices(
        SimpleNamespace(status={"devices_held": True, "devices": {"reader": "no_device", "printer": "offline"}})
    )
    assert said(zh, both) == ("未连接 / 脱机", "设备故障，居民无法办理：身份证读卡器、凭条打印机（见“设备”页）")
    link = _link(SimpleNamespace(status={"link": "online", "hub_online": True}))
    assert said(zh, link) == ("在线", "已连接中心")
    alarms = _alarms(SimpleNamespace(store=SimpleNamespace(alarms={"storage_full": "…", "clock_skew": "…"})))
    assert said(zh, alarms) == ("2", "告警：时钟偏差、存储已满")
    novel = _devices(SimpleNamespace(status={"devices_held": True, "devices": {"reader": "ok", "printer": "jammed"}}))
    assert said(zh, novel)[0] == "正常 / jammed", "a state this console does not know shows as its code"


def test_every_alarm_kind_and_device_state_has_its_words():
    """Read from the sources, not from a list kept beside them: each kind passed to ``alarms.raise_`` (directly or
    through a module's constant) and each device state the terminal reports has a name in both languages."""
    from edge.devices.health import PrinterState, ReaderState, ScannerState

    sources = "\n".join(p.read_text("utf-8") for p in (ROOT / "edge").rglob("*.py"))
    constants = dict(re.findall(r'^(\w+_?ALARM|ALARM) = "(\w+)"', sources, re.M))
    kinds = set()
    for arg in re.findall(r"alarms\.raise_\((\"\w+\"|\w+)", sources):
        kinds.add(arg.strip('"') if arg.startswith('"') else constants[arg])
    assert {"storage_full", "clock_skew", "items_refused", "help_requested", "staff_locked"} <= kinds, kinds
    states = {s.value for e in (PrinterState, ReaderState, ScannerState) for s in e} | {"unknown"}
    for lang in ("zh", "en"):
        words = catalogue(lang)
        assert not [k for k in kinds if f"console.alarm.{k}" not in words], lang
        assert not [s for s in states if f"console.device_state.{s}" not in words], lang
