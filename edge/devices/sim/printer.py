"""An ESC/POS receipt printer on a pty: decodes what it is sent into receipts, answers ``DLE EOT n``.

Tests read :attr:`PrinterSim.receipts` (text lines and QR payloads, one receipt per cut). Paper out,
cover open and near-end are switches; while the printer cannot print, what it is sent is dropped (as a
stopped mechanism would leave it unprinted) and counted in :attr:`PrinterSim.dropped_items`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.devices.escpos import PrinterStatus, encode_status
from edge.devices.escpos_decode import Cut, DecodeError, EscPosDecoder, QrCode, StatusRequest, TextLine
from edge.devices.sim.pty import SimDevice

__all__ = ["PrintedReceipt", "PrinterSim"]


@dataclass
class PrintedReceipt:
    items: list[TextLine | QrCode] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """The printed text, blank lines left out."""
        return [i.text for i in self.items if isinstance(i, TextLine) and i.text.strip()]

    @property
    def qr_codes(self) -> list[str]:
        return [i.data for i in self.items if isinstance(i, QrCode)]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class PrinterSim(SimDevice):
    def __init__(self, link: str | os.PathLike[str] | None = None) -> None:
        super().__init__(link)
        self.paper_out = False
        self.cover_open = False
        self.paper_near_end = False
        self.receipts: list[PrintedReceipt] = []
        self.errors: list[DecodeError] = []
        self.dropped_items = 0
        self.status_requests = 0
        self._current = PrintedReceipt()
        self._decoder = EscPosDecoder()
        self._printed = threading.Condition(self._lock)

    def set_paper_out(self, on: bool = True) -> None:
        with self._lock:
            self.paper_out = on

    def set_cover_open(self, on: bool = True) -> None:
        with self._lock:
            self.cover_open = on

    def set_paper_near_end(self, on: bool = True) -> None:
        with self._lock:
            self.paper_near_end = on

    @property
    def status(self) -> PrinterStatus:
        with self._lock:
            stopped = self.paper_out or self.cover_open
            return PrinterStatus(
                online=not stopped,
                cover_open=self.cover_open,
                paper_out=self.paper_out,
                paper_near_end=self.paper_near_end or self.paper_out,
            )

    def wait_for_receipt(self, count: int = 1, timeout: float = 5.0) -> PrintedReceipt:
        """Block until ``count`` receipts have been cut; return the last. ``TimeoutError`` otherwise."""
        with self._printed:
            if not self._printed.wait_for(lambda: len(self.receipts) >= count, timeout):
                raise TimeoutError(f"{len(self.receipts)} receipts cut, waited for {count}")
            return self.receipts[count - 1]

    def on_data(self, data: bytes) -> None:
        for item in self._decoder.feed(data):
            if isinstance(item, StatusRequest):
                self.status_requests += 1
                self.port.write(bytes([encode_status(item.n, self.status)]))
                continue
            with self._printed:
                if isinstance(item, DecodeError):
                    self.errors.append(item)
                elif not self.status.state.can_print:
                    self.dropped_items += 1
                elif isinstance(item, Cut):
                    self.receipts.append(self._current)
                    self._current = PrintedReceipt()
                    self._printed.notify_all()
                else:
                    self._current.items.append(item)

    def control_handlers(self) -> dict[str, Callable[..., Any]]:
        return {
            "paper-out": lambda on=True: self.set_paper_out(bool(on)),
            "cover-open": lambda on=True: self.set_cover_open(bool(on)),
            "paper-low": lambda on=True: self.set_paper_near_end(bool(on)),
            "receipts": lambda: [{"lines": r.lines, "qr": r.qr_codes} for r in self.receipts],
            **super().control_handlers(),
        }
