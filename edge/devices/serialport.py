"""pyserial with a deadline on every read and write, and every failure as a :mod:`edge.devices.errors` error.

A pulled USB-serial bridge shows up as a ``SerialException`` or an ``OSError`` (EIO) from any call;
both become :class:`DeviceUnavailable`, so callers close the port and reopen it later.
"""

from __future__ import annotations

import contextlib
import termios
import time

import serial

from edge.devices.errors import DeviceTimeout, DeviceUnavailable

__all__ = ["PORT_ERRORS", "SLICE", "SerialPortDevice", "open_port", "read_some", "write_all"]

#: What a vanished port raises from pyserial calls (``tcflush`` raises ``termios.error``, not OSError).
PORT_ERRORS = (serial.SerialException, OSError, termios.error)

#: Longest a single pyserial read blocks, so a deadline is never overshot by more than this.
SLICE = 0.05


def open_port(path: str, baudrate: int, *, write_timeout: float = 1.0) -> serial.Serial:
    """Open ``path`` 8N1 with short read slices; :class:`DeviceUnavailable` when it is not there."""
    try:
        return serial.Serial(
            path,
            baudrate=baudrate,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE,
            timeout=SLICE,
            write_timeout=write_timeout,
        )
    except (*PORT_ERRORS, ValueError) as exc:
        raise DeviceUnavailable(f"{path}: {exc}") from None


def read_some(port: serial.Serial, deadline: float) -> bytes:
    """The bytes that arrive before ``deadline`` (``time.monotonic()``), returning as soon as any do.

    ``b""`` means the deadline passed with nothing.
    """
    while True:
        try:
            data = port.read(max(1, port.in_waiting))
        except PORT_ERRORS as exc:
            raise DeviceUnavailable(f"{port.port}: {exc}") from None
        if data or time.monotonic() >= deadline:
            return bytes(data)


def write_all(port: serial.Serial, data: bytes) -> None:
    """Write ``data``, discarding unread input first (a late answer to an earlier command is stale)."""
    try:
        port.reset_input_buffer()
        port.write(data)  # bounded by write_timeout; no flush(): tcdrain has no deadline
    except serial.SerialTimeoutException:
        raise DeviceTimeout(f"{port.port}: write timed out") from None
    except PORT_ERRORS as exc:
        raise DeviceUnavailable(f"{port.port}: {exc}") from None


class SerialPortDevice:
    """A device on one serial port, opened on demand and closed quietly; its ``name`` is the port.

    Subclasses reset their parsing state in :meth:`_on_open`; a port that is already gone when closed
    is fine.
    """

    def __init__(self, port: str, baudrate: int, *, write_timeout: float = 1.0) -> None:
        self.port = port
        self.baudrate = baudrate
        self.write_timeout = write_timeout
        self._serial: serial.Serial | None = None

    @property
    def name(self) -> str:
        return self.port

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def _ensure_open(self) -> serial.Serial:
        if self._serial is None:
            self._serial = open_port(self.port, self.baudrate, write_timeout=self.write_timeout)
            self._on_open()
        return self._serial

    def _on_open(self) -> None:
        """Called after the port opened: drop whatever half-read bytes an earlier connection left."""

    def _close_port(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            with contextlib.suppress(*PORT_ERRORS):
                ser.close()
