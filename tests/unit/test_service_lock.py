"""One ``shegong edge run`` per terminal, and nothing written over under it.

A docs review started a second ``shegong edge run`` beside the running service; it replaced the service's
control socket with its own and stopped (a configuration error), leaving a dead socket. ``shegong edge
restore`` then found no service answering and wrote the database over under the running one, exit 0.
Now the service holds a lock in its data folder from its first step: a second run stops before touching
anything, and restore (and the night run by hand) refuse while the lock is held, whatever the socket says."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge.control import NIGHT, AlreadyRunning, hold_service_lock, service_running, socket_path
from edge.settings import EdgeSettings
from shegong import cli


@pytest.fixture
def terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EdgeSettings:
    monkeypatch.setenv("SHEGONG_DATA_DIR", str(tmp_path / "edge"))
    monkeypatch.setenv("SHEGONG_TERMINAL_ID", "T1")
    monkeypatch.setenv("SHEGONG_COMMITTEE_CODE", "JW001")
    return EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path / "edge")


def test_the_lock_is_held_once_and_seen_by_others(terminal):
    assert not service_running(terminal.data_dir)
    fd = hold_service_lock(terminal.data_dir)
    try:
        assert service_running(terminal.data_dir)
        with pytest.raises(AlreadyRunning, match="running already"):
            hold_service_lock(terminal.data_dir)
    finally:
        os.close(fd)
    assert not service_running(terminal.data_dir), "the lock goes with the process"


def test_a_second_run_and_a_restore_touch_nothing_while_the_service_holds_the_lock(terminal, capsys):
    sock = socket_path(terminal.runtime_dir)
    sock.parent.mkdir(parents=True, exist_ok=True)
    sock.write_text("the running service's socket")  # stands for it: a second run must leave it alone
    fd = hold_service_lock(terminal.data_dir)  # the running service (its socket not answering here)
    try:
        assert cli.main(["edge", "run", "--no-kiosk"]) == 2
        assert "running already" in capsys.readouterr().err
        assert sock.read_text() == "the running service's socket"
        assert cli.main(["edge", "restore"]) == 2
        assert "the terminal's service is running" in capsys.readouterr().err
        assert cli.main(["edge", "nightly"]) == 2
        assert "does not answer" in capsys.readouterr().err
    finally:
        os.close(fd)


def test_a_service_starting_during_a_night_run_by_hand_waits_for_it(terminal):
    """A chaos review: the service restarted (systemd: 5 s) while a night run by hand had the terminal's link;
    both connected as the terminal and threw each other off the broker every second and a half for a minute.
    The night holds the lock; the service waits for it (giving systemd more time each second), then starts;
    another run beside a service is still refused at once."""
    night = hold_service_lock(terminal.data_dir, NIGHT)
    looks: list[int] = []

    def waiting() -> None:
        looks.append(1)
        if len(looks) == 3:
            os.close(night)  # the night is done

    service = hold_service_lock(terminal.data_dir, on_wait=waiting)
    try:
        assert len(looks) >= 3 and service_running(terminal.data_dir)
        with pytest.raises(AlreadyRunning):
            hold_service_lock(terminal.data_dir, on_wait=waiting)  # the service's: no waiting for that
    finally:
        os.close(service)


def test_the_night_run_by_hand_holds_the_lock_while_it_runs(terminal, monkeypatch, capsys):
    from edge.night import cli as night_cli

    seen: list[bool] = []

    def night(rt):
        seen.append(service_running(terminal.data_dir))
        raise RuntimeError("stop here")

    monkeypatch.setattr(night_cli, "run_night", night)
    with pytest.raises(RuntimeError, match="stop here"):
        night_cli.main(terminal, SimpleNamespace(cmd="nightly"))
    assert seen == [True] and not service_running(terminal.data_dir), "held while it ran, let go after"


def test_a_second_night_while_one_runs_by_hand_says_so(terminal):
    """Night review: a second night started while one ran by hand told the operator to restart the service."""
    from edge.errors import EdgeError
    from edge.night import cli as night_cli

    night = hold_service_lock(terminal.data_dir, NIGHT)
    try:
        with pytest.raises(EdgeError, match="a night run by hand is running") as refused:
            night_cli.main(terminal, SimpleNamespace(cmd="nightly"))
    finally:
        os.close(night)
    assert "restart" not in str(refused.value)
