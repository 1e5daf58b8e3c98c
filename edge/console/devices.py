"""The terminal's devices as the console shows them: which port each uses and whether it is there, and the
technician's tests (:mod:`edge.devices.checks`) run where the devices are.

While the terminal runs, a test goes over its control socket to its device service, which holds the ports
(two readers of one serial line would steal each other's bytes), and the terminal records it in its audit
chain. With no terminal running, the console opens the ports itself and records the test. Either way a
card's ID number and name, and any ID number in a scan, are masked before they reach the console.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from edge.devices.checks import PortChecks, run_check
from edge.settings import EdgeSettings

__all__ = ["DEVICES", "Port", "on_ports", "ports", "wait_s"]

DEVICES = ("reader", "sscard", "printer", "scanner")
_SLACK_S = 15.0  # the terminal's own answer time on top of a test's wait for a card or a code


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


def on_ports(settings: EdgeSettings, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run the device test ``op`` (``device.tap`` …) on the ports named by ``settings`` (no terminal runs)."""
    return run_check(PortChecks.of(settings), op, args)


def wait_s(args: dict[str, Any]) -> float:
    """How long to wait for the terminal's answer to a test that waits ``args["timeout_s"]`` for a person."""
    return float(args.get("timeout_s") or 0) + _SLACK_S
