"""The terminal's devices as the console tests them: which port each uses and whether it is there, the
reader's SAM self-test, a tapped card's masked facts, the printer's status and a test slip, one scan.

The console opens a device only when the running terminal does not hold it (the kiosk's device service
keeps its ports open; two readers of one serial line would steal each other's bytes). While the kiosk
holds them, the console shows the health the kiosk reports instead. Nothing here shows a resident whole:
a card's ID number and name are masked before they leave this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from edge.console.logs import mask_ids
from edge.devices.escpos import Align, Receipt
from edge.devices.idreader import IdCardReader
from edge.devices.printer import ReceiptPrinter
from edge.devices.reader import CardReader, wait_for_card
from edge.devices.scanner import QrScanner
from edge.devices.sscard import SSCardReader
from edge.settings import EdgeSettings
from protocol.idnumber import mask

__all__ = ["DEVICES", "Port", "masked_card", "ports", "print_test_slip", "printer_status", "scan", "self_test", "tap"]

DEVICES = ("reader", "sscard", "printer", "scanner")


@dataclass(frozen=True, slots=True)
class Port:
    device: str
    path: str  # empty: none configured
    present: bool


def ports(settings: EdgeSettings) -> list[Port]:
    """Each device's configured port (or vendor library) and whether it exists now."""
    paths = {
        "reader": settings.devices.reader,
        "sscard": settings.devices.sscard_lib,
        "printer": settings.devices.printer,
        "scanner": settings.devices.scanner,
    }
    return [Port(d, paths[d], bool(paths[d]) and os.path.exists(paths[d])) for d in DEVICES]


def masked_card(facts: Any) -> dict[str, str]:
    """What the console shows of a card: type, masked ID number, masked name, sex. Nothing else."""
    name = str(facts.name or "")
    return {
        "card_type": str(facts.card_type),
        "id_number": mask(facts.id_number),
        "name": name[:1] + "*" * (len(name) - 1),
        "sex": str(facts.sex),
    }


def _reader(settings: EdgeSettings, which: str) -> CardReader:
    if which == "sscard":
        return SSCardReader(settings.devices.sscard_lib)
    return IdCardReader(settings.devices.reader)


def self_test(settings: EdgeSettings, which: str = "reader") -> dict[str, Any]:
    """Open the reader and run its SAM self-test; raises the device's error if it fails."""
    reader = _reader(settings, which)
    try:
        reader.open()
        reader.self_test()
        return {"ok": True, "bad_frames": getattr(reader, "bad_frames", 0)}
    finally:
        reader.close()


def tap(settings: EdgeSettings, timeout_s: float, which: str = "reader") -> dict[str, Any]:
    """Wait up to ``timeout_s`` for a card and return its masked facts and the frame errors counted."""
    reader = _reader(settings, which)
    try:
        reader.open()
        reader.self_test()
        facts = wait_for_card(reader, timeout_s)
        return {**masked_card(facts), "bad_frames": getattr(reader, "bad_frames", 0)}
    finally:
        reader.close()


def printer_status(settings: EdgeSettings) -> str:
    with ReceiptPrinter(settings.devices.printer) as printer:
        return printer.status().state.value


def print_test_slip(settings: EdgeSettings, lines: list[str]) -> str:
    """Print ``lines`` (the first large and centred) and cut; returns the printer's state afterwards."""
    receipt = Receipt().line(lines[0], bold=True, size=2, align=Align.CENTER)
    for text in lines[1:]:
        receipt.line(text)
    with ReceiptPrinter(settings.devices.printer) as printer:
        return printer.print_receipt(receipt.cut()).state.value


def scan(settings: EdgeSettings, timeout_s: float) -> str | None:
    """One scan's text, or None when nothing was scanned in ``timeout_s``."""
    scanner = QrScanner(settings.devices.scanner)
    try:
        scanner.open()
        text = scanner.read_scan(timeout_s)
        return None if text is None else mask_ids(text)  # a code may carry an ID number: never shown whole
    finally:
        scanner.close()
