"""The layers stay as drawn: import-linter's contracts hold, each one fails when the tree breaks it, and an
edge-only command never loads the hub.

The contracts are proven, not trusted: on a copy of the source tree, one import is added that breaks one
contract (directly, or through a module in between), and ``lint-imports`` run there must fail naming it;
the unchanged copy must pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


PACKAGES = ["protocol", "kernel", "edge", "hub", "harness", "provisioning", "shegong"]
LAYERS = "layers: shegong > harness > edge | hub > kernel > protocol"
PURE = "protocol is pure: no I/O library"
EDGE_CORE = "the edge core works without its kiosk, console or CLI"
HUB_CORE = "the hub core works without its web UI or CLI"


def _lint_imports() -> str:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (dev extra)")
    return lint


def test_import_contracts_hold():
    result = subprocess.run([_lint_imports()], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def _copy_tree(to: Path) -> Path:
    """The packages and pyproject.toml, without templates, static files or caches."""
    skip = shutil.ignore_patterns("__pycache__", "static", "templates")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, to / package, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")
    return to


def _lint_copy(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, ahead of the editable install that points at the real tree.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([_lint_imports(), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True)


def test_an_unbroken_copy_keeps_every_contract(tmp_path):
    result = _lint_copy(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:]
    assert "BROKEN" not in result.stdout


#: (what the mutation does, {file: line appended to it}, the contract it must break)
MUTATIONS = [
    ("the kernel imports the harness", {"kernel/db.py": "import harness.demo"}, LAYERS),
    ("the kernel imports a side", {"kernel/settings.py": "import edge.settings"}, LAYERS),
    ("protocol imports the kernel", {"protocol/codec.py": "import kernel.db"}, LAYERS),
    ("the edge imports the hub", {"edge/runtime.py": "import hub.db.engine"}, LAYERS),
    ("the hub imports the edge", {"hub/runtime.py": "import edge.store.db"}, LAYERS),
    ("a side imports the harness", {"hub/ingest/worker.py": "from harness.broker import free_port"}, LAYERS),
    ("the harness imports the command root", {"harness/demo.py": "import shegong.cli"}, LAYERS),
    ("protocol opens a socket", {"protocol/codec.py": "import socket"}, PURE),
    ("protocol talks MQTT", {"protocol/topics.py": "import paho.mqtt.client"}, PURE),
    ("protocol reads a database", {"protocol/envelope.py": "from sqlalchemy import select"}, PURE),
    ("the edge runtime imports the kiosk app", {"edge/runtime.py": "import edge.kiosk.app"}, EDGE_CORE),
    ("the outbox imports the command line", {"edge/store/outbox.py": "import edge.cli"}, EDGE_CORE),
    ("the hub runtime imports the web app", {"hub/runtime.py": "import hub.web.app"}, HUB_CORE),
    ("ingest imports the command line", {"hub/ingest/worker.py": "import hub.cli"}, HUB_CORE),
    (
        "the hub runtime reaches the web app through a module in between",
        {"hub/relay.py": "import hub.web.app", "hub/runtime.py": "import hub.relay"},
        HUB_CORE,
    ),
    (
        "the sync agent reaches the kiosk through a module in between",
        {"edge/relay.py": "import edge.kiosk.server", "edge/sync/agent.py": "import edge.relay"},
        EDGE_CORE,
    ),
]


@pytest.mark.parametrize(("what", "edits", "contract"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_contract_fails_when_the_tree_breaks_it(tmp_path, what, edits, contract):
    tree = _copy_tree(tmp_path)
    for relative, line in edits.items():
        path = tree / relative
        text = path.read_text(encoding="utf-8") if path.exists() else '"""A module the mutation adds."""\n'
        path.write_text(f"{text}\n{line}\n", encoding="utf-8")
    result = _lint_copy(tree)
    assert result.returncode != 0, f"{what}: lint-imports passed\n{result.stdout[-3000:]}"
    assert f"{contract} BROKEN" in " ".join(result.stdout.split()), f"{what}: {result.stdout[-3000:]}"


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        # and what a terminal's sync agent never uses, resident for nothing on a Pi (issue 17): PostgreSQL's
        # dialect, stdnum (loaded at the first ID number checked), Alembic (only when the schema is behind)
        (
            "edge.cli",
            ["hub", "psycopg", "argon2", "litestar", "textual", "sqlalchemy.dialects.postgresql", "stdnum", "alembic"],
        ),
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
    # mypy's incremental cache kept beside the provisioning tests' cache, so a fresh clone (as CI makes) does
    # not check every dependency's stubs from cold: mypy re-checks whatever changed by content hash
    cache = Path(tempfile.gettempdir()) / "shegong-mypy-cache"
    result = subprocess.run([mypy, "--cache-dir", str(cache)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
