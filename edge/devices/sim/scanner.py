"""A QR / barcode scanner in serial (USB-CDC) mode on a pty: each scan is one line of text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.devices.sim.pty import SimDevice

__all__ = ["ScannerSim"]


class ScannerSim(SimDevice):
    """Scanners are configured with a suffix: CR (the common default), LF or CR LF."""

    def scan(self, text: str, suffix: bytes = b"\r", encoding: str = "utf-8") -> None:
        """Send one scan, as if a code had been held under the scanner."""
        payload = text.encode(encoding) + suffix
        self.call(lambda: self.port.write(payload))

    def send_raw(self, data: bytes) -> None:
        self.call(lambda: self.port.write(data))

    def on_data(self, data: bytes) -> None:
        """Scanners in serial mode ignore what the host sends (configuration is by scanning codes)."""

    def control_handlers(self) -> dict[str, Callable[..., Any]]:
        return {
            "scan": lambda text, suffix="\r": self.scan(text, suffix.encode()),
            **super().control_handlers(),
        }
