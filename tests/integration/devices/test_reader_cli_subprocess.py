"""``shegong sim id-reader`` and ``shegong edge reader read`` as a technician runs them, in subprocesses.

The simulator runs in the foreground and prints its pty and link; ``shegong sim id-reader place``
puts a card on it through its control socket; ``shegong edge reader read --port LINK`` prints the card
as JSON with the ID number masked, or whole with ``--unmasked`` (and a warning in the log that does not
contain the number). No card before the timeout is a Chinese message and exit code 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.devices.sim.identities import identity
from edge.devices.sim.sscard import SSCardSim

pytestmark = pytest.mark.timeout(20)

SHEGONG = [sys.executable, "-m", "shegong.cli"]


def shegong(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHEGONG_LOG_LEVEL": "WARNING"}
    return subprocess.run([*SHEGONG, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def sim_link(tmp_path: Path) -> Iterator[Path]:
    link = tmp_path / "shegong-reader"
    proc = subprocess.Popen([*SHEGONG, "sim", "id-reader", "--link", str(link)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("pty /dev/pts/") and lines[1].strip() == f"link {link}"
        yield link
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    assert not link.exists()  # the simulator cleans up its link and control socket


def test_reader_read_prints_the_card_as_json_with_the_number_masked(sim_link: Path) -> None:
    person = identity("chen-jianguo")
    placed = shegong("sim", "id-reader", "place", "--identity", "chen-jianguo", "--link", str(sim_link))
    assert placed.returncode == 0, placed.stderr
    result = shegong("edge", "reader", "read", "--port", str(sim_link), "--timeout", "5")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert card["id_number"] == "310151********" + person.id_number[-4:]
    assert (card["name"], card["sex"], card["nation"], card["card_type"]) == ("陈建国", "M", "汉", "id_card")
    assert person.id_number not in result.stdout + result.stderr


def test_reader_read_unmasked_prints_the_whole_number_and_logs_that_it_did(sim_link: Path) -> None:
    person = identity("li-na")
    shegong("sim", "id-reader", "place", "--identity", "li-na", "--link", str(sim_link))
    result = shegong("edge", "reader", "read", "--port", str(sim_link), "--timeout", "5", "--unmasked")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id_number"] == person.id_number
    assert "unmasked card read" in result.stderr and person.id_number not in result.stderr


def test_reader_read_without_a_card_says_so_and_exits_2(sim_link: Path) -> None:
    result = shegong("edge", "reader", "read", "--port", str(sim_link), "--timeout", "0.5")
    assert result.returncode == 2
    assert "未检测到卡片" in result.stderr and result.stdout == ""


def test_reader_read_on_a_missing_port_says_the_reader_is_not_connected(tmp_path: Path) -> None:
    result = shegong("edge", "reader", "read", "--port", str(tmp_path / "nothing"), "--timeout", "1")
    assert result.returncode == 2 and "未连接" in result.stderr


def test_reader_read_through_a_social_security_card_library(tmp_path: Path) -> None:
    directory = tmp_path / "sscard"
    built = shegong("sim", "sscard", "build", "--dir", str(directory), timeout=60)
    assert built.returncode == 0, built.stderr
    shegong("sim", "sscard", "place", "--identity", "ma-li", "--dir", str(directory))
    result = shegong("edge", "reader", "read", "--sscard-lib", str(SSCardSim(directory).library), "--timeout", "2")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    masked = "640104********" + identity("ma-li").id_number[-4:]
    assert (card["card_type"], card["name"], card["id_number"]) == ("sscard", "马丽", masked)
