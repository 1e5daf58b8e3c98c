"""``shegong provision`` is a command of the administrator's machine: reading an inventory or building a
wheelhouse loads neither the edge nor the hub, nor pyinfra (and its gevent) until a host is contacted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_command_and_the_inventory_load_no_side_and_no_engine():
    code = (
        "import sys, json, provisioning.cli, provisioning.inventory, provisioning.render, provisioning.wheelhouse; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout)
    leaked = sorted({m.split(".")[0] for m in loaded} & {"edge", "hub", "pyinfra", "gevent", "paramiko"})
    assert not leaked, f"loaded {leaked}"


def test_the_command_has_help_for_each_action():
    done = subprocess.run(
        [sys.executable, "-m", "shegong.cli", "provision", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0
    for action in ("apply", "rotate", "retire", "upgrade", "wheelhouse"):
        assert action in done.stdout
