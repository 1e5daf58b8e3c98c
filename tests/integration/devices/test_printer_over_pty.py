"""The receipt printer driver and device service against the ESC/POS simulator, over a real pty.

A receipt with Chinese text and a QR code goes out as ESC/POS in GB18030; the simulator decodes it and
the test reads the lines and the QR payload back. Before and after printing the driver asks
``DLE EOT 1–4``: a printer out of paper or with its cover open is not sent anything, the kiosk gets
:class:`PrinterNotReady`, and health says ``paper_out`` / ``cover_open``; an unplugged printer is
``offline`` until it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.devices.errors import DeviceUnavailable, PrinterNotReady
from edge.devices.escpos import Align, Receipt
from edge.devices.health import PrinterState
from edge.devices.printer import ReceiptPrinter
from edge.devices.service import DeviceService
from edge.devices.sim.printer import PrinterSim

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def printer_sim(tmp_path: Path) -> Iterator[PrinterSim]:
    with PrinterSim(tmp_path / "shegong-printer") as sim:
        yield sim


@pytest.fixture
def printer(printer_sim: PrinterSim) -> Iterator[ReceiptPrinter]:
    with ReceiptPrinter(printer_sim.path, timeout=0.3) as p:
        yield p


def receipt() -> Receipt:
    return (
        Receipt()
        .line("黄浦区南京东路街道社区事务受理服务中心", bold=True, size=2, align=Align.CENTER)
        .line("事项：老年综合津贴申领（敬老卡）")
        .line("申请人：张*  证件：310101********3176")
        .line("回执号：310101-20261127-0001")
        .line("承诺办结：5个工作日")
        .qr("https://shegong.example/q/310101-20261127-0001?code=7F3A9C")
        .line("扫码查询办理进度", align=Align.CENTER)
        .cut()
    )


def test_a_receipt_with_chinese_text_and_a_qr_code_is_decoded_by_the_printer(
    printer_sim: PrinterSim, printer: ReceiptPrinter
) -> None:
    status = printer.print_receipt(receipt())
    printed = printer_sim.wait_for_receipt()
    assert printed.lines == [
        "黄浦区南京东路街道社区事务受理服务中心",
        "事项：老年综合津贴申领（敬老卡）",
        "申请人：张*  证件：310101********3176",
        "回执号：310101-20261127-0001",
        "承诺办结：5个工作日",
        "扫码查询办理进度",
    ]
    assert printed.qr_codes == ["https://shegong.example/q/310101-20261127-0001?code=7F3A9C"]
    assert printer_sim.errors == []
    assert status.state is PrinterState.OK
    assert printer_sim.status_requests == 8  # DLE EOT 1–4 before and after


def test_a_printer_out_of_paper_is_not_sent_the_receipt_and_health_says_so(
    printer_sim: PrinterSim, printer: ReceiptPrinter, wait_until: Callable[..., None]
) -> None:
    printer_sim.set_paper_out()
    service = DeviceService(printer=printer, printer_interval=0.1).start()
    try:
        wait_until(lambda: service.health().printer is PrinterState.PAPER_OUT, what="paper_out")
        with pytest.raises(PrinterNotReady) as caught:
            service.print_receipt(receipt())
        assert caught.value.code == "paper_out" and "缺纸" in caught.value.message
        assert printer_sim.receipts == [] and printer_sim.dropped_items == 0
        printer_sim.set_paper_out(False)
        wait_until(lambda: service.health().printer is PrinterState.OK, what="paper loaded")
        service.print_receipt(receipt())
        assert printer_sim.wait_for_receipt().qr_codes
    finally:
        service.stop()


def test_a_cover_left_open_is_reported_to_health(printer_sim: PrinterSim, printer: ReceiptPrinter) -> None:
    service = DeviceService(printer=printer, printer_interval=60)
    printer_sim.set_cover_open()
    assert service.check_printer() is PrinterState.COVER_OPEN
    with pytest.raises(PrinterNotReady, match="盖"):
        service.print_receipt(receipt())
    printer_sim.set_cover_open(False)
    printer_sim.set_paper_near_end()
    assert service.check_printer() is PrinterState.PAPER_LOW
    service.print_receipt(receipt())  # near the end still prints
    assert service.health().printer is PrinterState.PAPER_LOW


def test_an_unplugged_printer_is_offline_until_it_returns(printer_sim: PrinterSim, printer: ReceiptPrinter) -> None:
    service = DeviceService(printer=printer, printer_interval=60)
    assert service.check_printer() is PrinterState.OK
    printer_sim.unplug()
    with pytest.raises(DeviceUnavailable):
        service.print_receipt(receipt())
    assert service.health().printer is PrinterState.OFFLINE
    assert service.check_printer() is PrinterState.OFFLINE  # the path is gone, not a hang
    printer_sim.replug()
    assert service.check_printer() is PrinterState.OK
    service.print_receipt(receipt())
    assert printer_sim.wait_for_receipt().lines[0].startswith("黄浦区")


def test_a_printer_that_never_answers_status_is_offline_within_the_timeout(tmp_path: Path) -> None:
    class Mute(PrinterSim):
        def on_data(self, data: bytes) -> None:
            pass

    with Mute(tmp_path / "mute") as sim, ReceiptPrinter(sim.path, timeout=0.2) as printer:
        service = DeviceService(printer=printer)
        assert service.check_printer() is PrinterState.OFFLINE
        assert "DLE EOT 1" in service.health().printer_detail
