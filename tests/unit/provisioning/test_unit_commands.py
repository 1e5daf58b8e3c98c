"""The ``shegong`` command lines the systemd units in ``systemd/`` start, checked against the command itself.

``systemd-analyze verify`` (tests/integration/provisioning/test_units.py) checks that a unit's program
exists, not that ``shegong`` knows the command it is given.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

SYSTEMD = Path(__file__).resolve().parents[3] / "systemd"
UNITS = sorted(p for p in SYSTEMD.glob("*/*") if p.suffix in {".service", ".timer", ".target"})


def test_every_shegong_command_a_unit_starts_is_one_the_release_has():
    """``systemd-analyze verify`` checks that the program exists, not that ``shegong`` knows the command: the
    night units started ``shegong edge night`` and ``shegong hub night``, which no release had (the command is
    ``nightly``), so no provisioned terminal or hub ever ran its night. Each ``shegong`` command line a unit
    starts is given to this checkout's ``shegong`` with ``--help``: the command and its options must parse."""
    prefix = "/opt/shegong/current/bin/shegong "
    started = [
        (unit.name, shlex.split(line.split("=", 1)[1].removeprefix(prefix)))
        for unit in UNITS
        for line in unit.read_text().splitlines()
        if line.startswith("Exec") and line.split("=", 1)[1].startswith(prefix)
    ]
    assert {name for name, _ in started} >= {"shegong-edge.service", "shegong-edge-night.service",
                                            "shegong-hub-web.service", "shegong-ingest@.service",
                                            "shegong-hub-night.service"}  # fmt: skip
    for name, args in started:
        done = subprocess.run([Path(sys.prefix) / "bin" / "shegong", *args, "--help"], capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.startswith("Usage: shegong "), f"{name}: {args}: {done.stderr}"
