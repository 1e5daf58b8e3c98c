"""ESC/POS thermal receipt printer over a serial port (RS-232, or USB in virtual-COM mode).

:meth:`ReceiptPrinter.print_receipt` asks ``DLE EOT`` first and refuses to send into a printer that is
out of paper or open, then asks again afterwards, so a roll that ran out part-way is reported and the
kiosk can offer a reprint. Safe to call from several threads (one exchange at a time).
"""

from __future__ import annotations

import threading
import time

import serial

from edge.devices.errors import DeviceTimeout, DeviceUnavailable, FrameCorrupted, PrinterNotReady
from edge.devices.escpos import PrinterStatus, Receipt, decode_status, status_request
from edge.devices.serialport import SerialPortDevice, read_some, write_all

__all__ = ["DEFAULT_BAUDRATE", "ReceiptPrinter"]

#: RS-232 receipt printers ship at 9600 or 115200 (set by DIP switch or self-test page); USB virtual
#: COM ports ignore the rate.
DEFAULT_BAUDRATE = 9600


class ReceiptPrinter(SerialPortDevice):
    def __init__(
        self, port: str, *, baudrate: int = DEFAULT_BAUDRATE, timeout: float = 1.0, write_timeout: float = 10.0
    ) -> None:
        super().__init__(port, baudrate, write_timeout=write_timeout)
        self.timeout = timeout
        self._lock = threading.Lock()

    def open(self) -> None:
        with self._lock:
            self._ensure_open()

    def close(self) -> None:
        with self._lock:
            self._close_port()

    def status(self) -> PrinterStatus:
        """Ask ``DLE EOT 1, 2, 3, 4``. Raises :class:`DeviceUnavailable` / :class:`DeviceTimeout`."""
        with self._lock:
            return self._status()

    def print_receipt(self, receipt: Receipt | bytes) -> PrinterStatus:
        """Print, and return the status read back afterwards.

        Raises :class:`PrinterNotReady` (before sending, or after when the printer stopped part-way;
        its ``state`` says why), :class:`DeviceUnavailable`,
        :class:`DeviceTimeout`.
        """
        data = receipt.to_bytes() if isinstance(receipt, Receipt) else receipt
        with self._lock:
            _raise_unless_ready(self._status(), "before printing")
            try:
                write_all(self._ensure_open(), data)
            except DeviceUnavailable:
                self._close_port()
                raise
            after = self._status()
            _raise_unless_ready(after, "while printing: the receipt may be incomplete")
            return after

    def _status(self) -> PrinterStatus:
        try:
            ser = self._ensure_open()
            replies = {n: self._ask(ser, n) for n in (1, 2, 3, 4)}
        except DeviceUnavailable:
            self._close_port()
            raise
        try:
            return decode_status(replies)
        except ValueError as exc:
            raise FrameCorrupted(f"{self.port}: {exc}") from None

    def _ask(self, ser: serial.Serial, n: int) -> int:
        write_all(ser, status_request(n))
        reply = read_some(ser, time.monotonic() + self.timeout)
        if not reply:
            raise DeviceTimeout(f"{self.port}: no answer to DLE EOT {n}")
        return reply[-1]  # the latest byte: anything before it is a late answer to an earlier ask

    def __enter__(self) -> ReceiptPrinter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _raise_unless_ready(status: PrinterStatus, when: str) -> None:
    state = status.state
    if not state.can_print:
        raise PrinterNotReady(f"{state.value} {when}", state=state)
