"""DESIGN §6: files holding personal data or keys are 0600. A terminal's data folder is 0700 and every
file in it 0600 — the database and the -wal and -shm files SQLite makes beside it — whatever the umask
of the process that opened it (an EdgeRuntime in a process with umask 022) and, through `shegong edge`,
whatever it creates later. A folder left open by an older install is narrowed when the terminal starts.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from edge.store.cases import NewCase
from tests.support import applicant, id_number


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(folder: Path) -> dict[str, int]:
    """Every path under ``folder`` (and itself) with its permission bits."""
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(folder: Path) -> None:
    found = modes(folder)
    wrong = {name: oct(mode) for name, mode in found.items() if mode != (0o700 if (folder / name).is_dir() else 0o600)}
    assert not wrong, f"not private: {wrong}"


def test_a_terminals_files_are_private_whatever_the_umask(tmp_path: Path):
    data = tmp_path / "edge"
    with umask(0o022):
        rt = EdgeRuntime(EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=data))
        try:
            rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(1)))
            files = set(modes(data))
            assert {"edge.db", "edge.db-wal", "edge.db-shm"} <= files, files
            assert_private(data)
        finally:
            rt.close()


def test_an_older_installs_open_files_are_narrowed_at_start(tmp_path: Path):
    data = tmp_path / "edge"
    with umask(0o022):
        EdgeRuntime(EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=data)).close()
        # An older release left its folder and database open; it had no audit key (made since, 0600, and
        # refused at start if others can read it: a key is not narrowed after the fact).
        for path in [data, *data.iterdir()]:
            if path.name != "audit.key":
                path.chmod(0o755 if path.is_dir() else 0o644)
        EdgeRuntime(EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=data)).close()
    assert_private(data)


def test_shegong_edge_sets_umask_077_for_everything_it_makes(tmp_path: Path):
    data = tmp_path / "edge"
    env = {**os.environ, "SHEGONG_DATA_DIR": str(data), "SHEGONG_TERMINAL_ID": "T1"}
    for cmd in (["submit", "--item", "MZ-001", "--id-number", id_number(), "--name", "张三"], ["purge"], ["outbox"]):
        done = subprocess.run(
            [sys.executable, "-m", "shegong.cli", "edge", *cmd], env=env, capture_output=True, text=True, umask=0o022
        )
        assert done.returncode == 0, done.stderr
    assert_private(data)
