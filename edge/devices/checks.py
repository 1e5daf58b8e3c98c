"""A technician's device tests: the reader's SAM self-test, a card tapped and shown masked, the printer's
status and a test slip, one scan.

Two ways to the same tests. :class:`ServiceChecks` asks the running device service (the kiosk holds the
ports: a second reader of one serial line would steal its bytes), between its own polls, and keeps the test
card or code from the kiosk. :class:`PortChecks` opens the ports itself when nobody holds them. Either way a
result carries nothing of a resident whole: the ID number and name are masked here, and a scanned text has
every ID number in it masked.
"""

from __future__ import annotations

from typing import Any, Protocol

from edge.devices.errors import DeviceError, NoCard
from edge.devices.escpos import Align, Receipt
from edge.devices.events import CardTapped
from edge.devices.facts import CardFacts
from edge.devices.printer import ReceiptPrinter
from edge.devices.reader import CardReader, wait_for_card
from edge.devices.scanner import QrScanner
from edge.devices.service import DeviceService
from edge.errors import EdgeError
from protocol.idnumber import mask, mask_ids

__all__ = ["CARD_TYPES", "Checks", "PortChecks", "ServiceChecks", "masked_card", "run_check", "slip_receipt"]

CARD_TYPES = {"reader": "id_card", "sscard": "sscard"}  # the console's device names → the readers' card types


def masked_card(facts: CardFacts) -> dict[str, str]:
    """What a technician sees of a card: type, masked ID number, masked name, sex. Nothing else."""
    name = str(facts.name or "")
    return {
        "card_type": str(facts.card_type),
        "id_number": mask(facts.id_number),
        "name": name[:1] + "*" * (len(name) - 1),
        "sex": str(facts.sex),
    }


def slip_receipt(lines: list[str]) -> Receipt:
    """``lines`` as a slip: the first large and centred, the rest plain, then a cut."""
    receipt = Receipt().line(lines[0], bold=True, size=2, align=Align.CENTER)
    for text in lines[1:]:
        receipt.line(text)
    return receipt.cut()


class Checks(Protocol):
    """The tests, whoever runs the devices. ``which``: ``reader`` (ID card) or ``sscard``."""

    def self_test(self, which: str) -> dict[str, Any]: ...

    def tap(self, which: str, timeout_s: float) -> dict[str, Any]: ...

    def printer_status(self) -> str: ...

    def print_slip(self, lines: list[str]) -> str: ...

    def scan(self, timeout_s: float) -> str | None: ...


class ServiceChecks:
    """The tests on the running device service (the kiosk's)."""

    def __init__(self, service: DeviceService) -> None:
        self.service = service

    def self_test(self, which: str) -> dict[str, Any]:
        frames = self.service.self_test(self.service.reader_index(CARD_TYPES[which]))
        return {"ok": True, "bad_frames": frames}

    def tap(self, which: str, timeout_s: float) -> dict[str, Any]:
        index = self.service.reader_index(CARD_TYPES[which])
        event = self.service.next_card(index, timeout_s)
        if event is None:
            raise NoCard(f"{timeout_s:g} s")
        if not isinstance(event, CardTapped):
            raise DeviceError(event.code, code=event.code, message=event.message)
        frames = int(getattr(self.service.readers[index], "bad_frames", 0))
        return {**masked_card(event.facts), "bad_frames": frames}

    def printer_status(self) -> str:
        return self.service.check_printer().value

    def print_slip(self, lines: list[str]) -> str:
        self.service.print_receipt(slip_receipt(lines))
        return self.service.health().printer.value

    def scan(self, timeout_s: float) -> str | None:
        event = self.service.next_scan(timeout_s)
        return None if event is None else mask_ids(event.text)


class PortChecks:
    """The tests on the ports named by the settings, opened for the test and closed after it."""

    def __init__(self, reader_port: str, sscard_lib: str, printer_port: str, scanner_port: str) -> None:
        self.reader_port, self.sscard_lib = reader_port, sscard_lib
        self.printer_port, self.scanner_port = printer_port, scanner_port

    @classmethod
    def of(cls, settings: Any) -> PortChecks:
        d = settings.devices
        return cls(d.reader, d.sscard_lib, d.printer, d.scanner)

    def _reader(self, which: str) -> CardReader:
        if which == "sscard":
            from edge.devices.sscard import SSCardReader

            return SSCardReader(self.sscard_lib)
        from edge.devices.idreader import IdCardReader

        return IdCardReader(self.reader_port)

    def self_test(self, which: str) -> dict[str, Any]:
        reader = self._reader(which)
        try:
            reader.open()
            reader.self_test()
            return {"ok": True, "bad_frames": getattr(reader, "bad_frames", 0)}
        finally:
            reader.close()

    def tap(self, which: str, timeout_s: float) -> dict[str, Any]:
        reader = self._reader(which)
        try:
            reader.open()
            reader.self_test()
            facts = wait_for_card(reader, timeout_s)
            return {**masked_card(facts), "bad_frames": getattr(reader, "bad_frames", 0)}
        finally:
            reader.close()

    def printer_status(self) -> str:
        with ReceiptPrinter(self.printer_port) as printer:
            return printer.status().state.value

    def print_slip(self, lines: list[str]) -> str:
        with ReceiptPrinter(self.printer_port) as printer:
            return printer.print_receipt(slip_receipt(lines)).state.value

    def scan(self, timeout_s: float) -> str | None:
        scanner = QrScanner(self.scanner_port)
        try:
            scanner.open()
            text = scanner.read_scan(timeout_s)
            return None if text is None else mask_ids(text)
        finally:
            scanner.close()


def run_check(checks: Checks, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run the device test ``op`` (``device.tap`` …) with a technician's ``args`` on ``checks``: the running
    kiosk's devices (through the control socket) or the ports themselves (no terminal running)."""
    which = str(args.get("which") or "reader")
    if which not in ("reader", "sscard"):
        raise EdgeError(f"no reader {which[:20]!r}")
    timeout_s = min(float(args.get("timeout_s") or 20.0), 120.0)
    if op == "device.self_test":
        return checks.self_test(which)
    if op == "device.tap":
        return checks.tap(which, timeout_s)
    if op == "device.printer":
        return {"state": checks.printer_status()}
    if op == "device.slip":
        lines = [str(x)[:64] for x in args.get("lines") or []][:8]
        if not lines:
            raise EdgeError("a test slip needs a line")
        return {"state": checks.print_slip(lines)}
    if op == "device.scan":
        return {"text": checks.scan(timeout_s)}
    raise ValueError(op)
