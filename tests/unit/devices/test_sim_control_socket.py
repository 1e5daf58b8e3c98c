"""A simulator's control socket works wherever its link lives, however deep the folder.

A Unix socket address holds at most 107 bytes; the demo under a long path (a CI machine's pytest folder
was one) made the ID-reader simulator die at start, and with it the whole demo."""

from __future__ import annotations

import pytest

from edge.devices.sim.control import ControlServer, SimControlError, control_path, send


@pytest.mark.parametrize("depth", [1, 12])
def test_control_commands_reach_a_simulator_in_a_shallow_or_a_deep_folder(tmp_path, depth):
    folder = tmp_path.joinpath(*["a-rather-long-folder-name"] * depth)
    folder.mkdir(parents=True)
    path = control_path(folder / "id-reader")
    assert (len(str(path)) > 107) is (depth > 1)
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
