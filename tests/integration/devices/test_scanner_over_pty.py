"""The QR scanner in serial mode against its simulator, over a real pty.

Each scan arrives as one line ended by CR, LF or CR LF (split across reads however the line delivers
it); the driver returns it as text, the device service as a ``Scanned`` event. A line that never ends
is bounded and dropped; an unplugged scanner comes back without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.devices.events import Scanned
from edge.devices.health import ScannerState
from edge.devices.scanner import QrScanner
from edge.devices.service import DeviceService
from edge.devices.sim.scanner import ScannerSim

pytestmark = pytest.mark.timeout(10)

RECEIPT_URL = "https://shegong.example/q/310101-20261127-0001?code=7F3A9C"


@pytest.fixture
def scanner_sim(tmp_path: Path) -> Iterator[ScannerSim]:
    with ScannerSim(tmp_path / "shegong-scanner") as sim:
        yield sim


def test_scans_ending_in_cr_lf_or_crlf_are_read_as_lines(scanner_sim: ScannerSim) -> None:
    scanner = QrScanner(scanner_sim.path)
    scanner.open()
    try:
        assert scanner.read_scan(timeout=0.1) is None
        scanner_sim.scan(RECEIPT_URL)
        scanner_sim.scan("6901234567892", suffix=b"\n")
        scanner_sim.scan("回执 310101-20261127-0001", suffix=b"\r\n", encoding="gb18030")
        scanner_sim.send_raw(b"ABC")
        scanner_sim.send_raw(b"123\r")
        assert [scanner.read_scan(timeout=1) for _ in range(4)] == [
            RECEIPT_URL,
            "6901234567892",
            "回执 310101-20261127-0001",
            "ABC123",
        ]
        assert scanner.read_scan(timeout=0.1) is None  # the LF of CR LF is not an empty scan
    finally:
        scanner.close()


def test_a_line_that_never_ends_is_dropped_not_hoarded(scanner_sim: ScannerSim) -> None:
    scanner = QrScanner(scanner_sim.path, max_line=64)
    scanner.open()
    try:
        scanner_sim.send_raw(b"x" * 200)
        assert scanner.read_scan(timeout=0.3) is None
        scanner_sim.scan("OK")
        assert scanner.read_scan(timeout=1) == "OK" and scanner.overlong >= 1
    finally:
        scanner.close()


def test_the_service_emits_scans_and_survives_an_unplugged_scanner(
    scanner_sim: ScannerSim, wait_until: Callable[..., None]
) -> None:
    service = DeviceService(scanner=QrScanner(scanner_sim.path), retry_first=0.05, retry_max=0.2).start()
    try:
        wait_until(lambda: service.health().scanner is ScannerState.OK)
        scanner_sim.scan(RECEIPT_URL)
        event = service.events.get(timeout=3)
        assert isinstance(event, Scanned) and event.text == RECEIPT_URL
        scanner_sim.unplug()
        wait_until(lambda: service.health().scanner is ScannerState.NO_DEVICE, what="no_device")
        scanner_sim.replug()
        wait_until(lambda: service.health().scanner is ScannerState.OK, what="back")
        scanner_sim.scan("again")
        event = service.events.get(timeout=3)
        assert isinstance(event, Scanned) and event.text == "again"
    finally:
        service.stop()
