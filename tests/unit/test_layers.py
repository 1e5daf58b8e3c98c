"""The layers stay as drawn: import-linter's contracts hold, and an edge-only command never loads the hub."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (dev extra)")
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("edge.cli", ["hub", "psycopg", "argon2", "litestar", "textual"]),
        ("edge.runtime", ["hub", "litestar", "textual"]),
        ("hub.runtime", ["edge", "litestar"]),
        ("protocol.codec", ["edge", "hub", "paho", "sqlalchemy", "serial"]),
        ("shegong.cli", ["edge", "hub", "paho", "sqlalchemy"]),
    ],
)
def test_loading_one_side_does_not_load_the_other(module, forbidden):
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )
    leaked = sorted({m for m in loaded for f in forbidden if m == f or m.startswith(f + ".")})
    assert not leaked, f"importing {module} loaded {leaked}"


def test_every_command_has_help():
    from shegong.cli import COMMANDS

    for name, (_, help_text) in COMMANDS.items():
        assert help_text.strip(), f"shegong {name} has no help text"
    out = subprocess.run(
        [sys.executable, "-m", "shegong.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert all(name in out for name in COMMANDS)


def test_strictly_typed_packages_pass_mypy():
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.skip("mypy is not installed (dev extra)")
    result = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
