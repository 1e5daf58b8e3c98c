"""QR / barcode scanner in serial (USB-CDC) mode: one scan per line, ended by CR, LF or CR LF."""

from __future__ import annotations

import logging
import re
import time

from edge.devices.errors import DeviceUnavailable
from edge.devices.serialport import SerialPortDevice, read_some

__all__ = ["QrScanner"]

log = logging.getLogger(__name__)

_EOL = re.compile(rb"\r\n|\r|\n")


class QrScanner(SerialPortDevice):
    """Reads scans from a serial port. ``max_line`` bounds a line that never ends (noise, wrong rate)."""

    def __init__(self, port: str, *, baudrate: int = 9600, max_line: int = 4096) -> None:
        super().__init__(port, baudrate)
        self.max_line = max_line
        #: Lines thrown away as too long.
        self.overlong = 0
        self._buf = bytearray()
        self._lines: list[bytes] = []

    def open(self) -> None:
        self._ensure_open()

    def _on_open(self) -> None:
        self._buf.clear()

    def close(self) -> None:
        self._close_port()

    def read_scan(self, timeout: float) -> str | None:
        """The next scan, or ``None`` if none arrives within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self._lines:
            if self._serial is None:
                raise DeviceUnavailable(f"{self.port}: not open")
            try:
                chunk = read_some(self._serial, deadline)
            except DeviceUnavailable:
                self.close()
                raise
            if not chunk:
                return None
            self._split(chunk)
        return _decode(self._lines.pop(0))

    def _split(self, chunk: bytes) -> None:
        self._buf += chunk
        *lines, rest = _EOL.split(bytes(self._buf))  # CR then LF in the next read: an empty line, skipped
        self._buf = bytearray(rest)
        self._lines += [line for line in lines if line]
        if len(self._buf) > self.max_line:
            self.overlong += 1
            log.warning("%s: dropped a %d-byte line with no end", self.port, len(self._buf))
            self._buf.clear()


def _decode(line: bytes) -> str:
    """Scanners send the code's bytes: UTF-8 from most, GB18030 from some set up for Chinese text."""
    for codec in ("utf-8", "gb18030"):
        try:
            return line.decode(codec)
        except UnicodeDecodeError:
            continue
    return line.decode("utf-8", "replace")
