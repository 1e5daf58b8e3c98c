"""A kiosk as it runs on a terminal: uvicorn, the real drivers on simulated devices over ptys, Chromium.

``start_kiosk(...)`` starts an EdgeRuntime (its own data dir), the ID card reader, printer and scanner
simulators, a DeviceService polling them through the real drivers, and the kiosk app on a free port;
``page`` is a fresh headless Chromium tab (Debian's /usr/bin/chromium, never a downloaded browser).
``shot(page, name)`` saves a screenshot under tests/artifacts/kiosk/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from edge.devices.idreader import IdCardReader
from edge.devices.printer import ReceiptPrinter
from edge.devices.scanner import QrScanner
from edge.devices.service import DeviceService
from edge.devices.sim.idreader import IdReaderSim
from edge.devices.sim.printer import PrinterSim
from edge.devices.sim.scanner import ScannerSim
from edge.kiosk.app import create_app
from edge.kiosk.context import Kiosk
from edge.kiosk.server import KioskServer
from harness.broker import free_port
from tests.support import staff_pins

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "kiosk"
#: The test committee's own area (南京东路街道): 福州路 300–399, where 张伟's card says he lives.
TEST_AREA = {"district": "黄浦区", "streets": [{"street": "福州路", "lanes": "300-399"}]}


@dataclass
class RunningKiosk:
    url: str
    runtime: Any
    kiosk: Kiosk
    reader: IdReaderSim
    printer: PrinterSim
    scanner: ScannerSim
    devices: DeviceService

    def tap(self, who: str) -> None:
        """Place a card on the reader (a different one replaces the one lying there)."""
        self.reader.place(who)

    @property
    def open_url(self) -> str:
        """This start's way in for the kiosk's own browser (see edge.kiosk.gate)."""
        return self.url + self.kiosk.gate.open_path

    def stored(self) -> list[dict[str, Any]]:
        """Every case row the terminal holds, oldest first."""
        with self.runtime.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text("SELECT * FROM cases ORDER BY created_at")).mappings()]

    def admit(self, page: Any) -> None:
        """Let ``page``'s browser in, as the kiosk's own browser comes in at start."""
        page.goto(self.open_url)
        page.wait_for_url(f"{self.url}/")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 1250}, locale="zh-CN")
    p = context.new_page()
    p.set_default_timeout(8000)
    yield p
    context.close()


@pytest.fixture
def shot() -> Callable[[Any, str], Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"kiosk-{name}.png"
        page.screenshot(path=str(path))
        return path

    return save


@pytest.fixture
def start_kiosk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., RunningKiosk]]:
    """``start_kiosk(runtime=None, idle=60, warn=20, **settings)``: a running kiosk for one test; its
    committee's area is :data:`TEST_AREA` unless ``settings`` give another ``committee_area``.

    The kiosk serves its own browser only: when the test has a ``page``, that page is let in at start
    (``RunningKiosk.admit``), as the terminal's kiosk browser is."""
    stops: list[Callable[[], None]] = []

    def start(runtime: Any = None, idle: float = 60.0, warn: float = 20.0, **settings: Any) -> RunningKiosk:
        if runtime is None:
            from edge.runtime import EdgeRuntime
            from edge.settings import EdgeSettings

            values: dict[str, Any] = {
                "data_dir": tmp_path / "edge",
                "committee_code": "JW001",
                "committee_area": TEST_AREA,
                "committee_name": "南京东路街道示例居委会",
            }
            values.update(settings)
            runtime = EdgeRuntime(EdgeSettings(**values))
            stops.append(runtime.close)
        reader = IdReaderSim(tmp_path / "reader").start()
        printer = PrinterSim(tmp_path / "printer").start()
        scanner = ScannerSim(tmp_path / "scanner").start()
        stops.extend([reader.stop, printer.stop, scanner.stop])
        devices = DeviceService(
            [IdCardReader(reader.path, timeout=0.3, read_timeout=0.8, retry_pause=0.02)],
            printer=ReceiptPrinter(printer.path, timeout=0.5),
            scanner=QrScanner(scanner.path),
            poll_interval=0.1,
            printer_interval=30,
            retry_first=0.05,
            retry_max=0.3,
        )
        port = free_port()
        pins = runtime.settings.kiosk.staff_pins
        config = runtime.settings.kiosk.model_copy(
            update={
                "host": "127.0.0.1",
                "port": port,
                "idle_timeout_s": idle,
                "warn_before_s": warn,
                # No PIN ships with the kiosk: the tests provision their own staff member (kiosk={"staff_pins": ""}
                # in ``settings`` starts one without staff mode).
                "staff_pins": staff_pins() if pins is None else pins,
            }
        )
        app = create_app(runtime, devices, config=config)
        devices.start()
        stops.append(devices.stop)
        server = KioskServer(app, "127.0.0.1", port).start()
        stops.append(server.stop)
        running = RunningKiosk(server.url, runtime, app.state.kiosk, reader, printer, scanner, devices)
        if "page" in request.fixturenames:
            running.admit(request.getfixturevalue("page"))
        return running

    yield start
    for stop in reversed(stops):
        stop()
