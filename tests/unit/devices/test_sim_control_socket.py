"""A simulator's control socket works wherever its link lives, however deep the folder.

A Unix socket address holds at most 107 bytes; the demo under a long path (a CI machine's pytest folder
was one) made the ID-reader simulator die at start, and with it the whole demo."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from edge.devices.sim.control import ControlServer, SimControlError, control_path, send


@pytest.mark.parametrize("deep", [False, True])
def test_control_commands_reach_a_simulator_in_a_shallow_or_a_deep_folder(tmp_path, deep):
    short = Path(tempfile.mkdtemp(prefix="sc-"))
    folder = tmp_path.joinpath(*["a-rather-long-folder-name"] * 5) if deep else short
    folder.mkdir(parents=True, exist_ok=True)
    path = control_path(folder / "id-reader")
    assert (len(str(path)) > 107) is deep
    try:
        _exercise(path)
    finally:
        shutil.rmtree(short)


def _exercise(path: Path) -> None:
    server = ControlServer(path, {"place": lambda identity: f"placed {identity}"}).start()
    try:
        assert path.exists()  # the socket is where the link's neighbours expect it
        assert send(path, "place", identity="zhang-wei") == "placed zhang-wei"
        with pytest.raises(SimControlError, match="unknown command"):
            send(path, "nope")
    finally:
        server.stop()
    assert not path.exists()
    with pytest.raises(SimControlError, match="no simulator answering"):
        send(path, "place", identity="zhang-wei")
