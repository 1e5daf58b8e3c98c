"""The kiosk's gate (edge.kiosk.gate) and where it may listen, without a server: loopback addresses by
the standard library's reading of them, keys and cookies compared whole, the way in written 0600 in a
0700 folder, and a kiosk address other hosts reach refused unless ``kiosk_allow_remote`` says so."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from edge.kiosk.gate import KioskGate, is_loopback
from edge.kiosk.server import RemoteKiosk, check_host
from edge.settings import EdgeSettings, KioskSettings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),  # all of 127.0.0.0/8 (RFC 1122 §3.2.1.3)
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),  # every address
        ("::", False),
        ("192.168.1.20", False),
        ("kiosk.example", False),  # a name could resolve anywhere
    ],
)
def test_loopback_is_what_only_this_machine_reaches(host, loopback):
    assert is_loopback(host) is loopback


def test_each_start_has_its_own_key_and_cookie_compared_whole():
    gate, other = KioskGate(), KioskGate()
    assert gate.key != other.key and gate.cookie_value != other.cookie_value
    assert gate.opens(gate.key) and not gate.opens(other.key) and not gate.opens(gate.key[:-1])
    assert not gate.opens("") and not gate.opens(None)
    assert gate.admits(gate.cookie_value) and not gate.admits(other.cookie_value)
    assert not gate.admits(gate.key) and not gate.admits("") and not gate.admits(None)
    assert gate.open_path == f"/kiosk/open?key={gate.key}"


def test_the_way_in_is_written_for_the_terminals_user_alone(tmp_path: Path):
    gate = KioskGate()
    folder = tmp_path / "run"
    url_file = gate.write(folder, "http://127.0.0.1:8600")
    assert url_file.read_text() == f"http://127.0.0.1:8600/kiosk/open?key={gate.key}\n"
    page = (folder / "kiosk.html").read_text()
    assert f'content="0; url=http://127.0.0.1:8600/kiosk/open?key={gate.key}"' in page
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {
        "kiosk.url": 0o600,
        "kiosk.html": 0o600,
    }


def test_the_gate_lasts_the_boot_and_a_reboot_or_an_open_file_makes_a_new_one(tmp_path: Path):
    """A restart of the terminal's service must not lock out the kiosk's browser; a reboot (another
    kernel boot id) or a key file others could read must not be trusted."""
    folder, boot = tmp_path / "run", tmp_path / "boot_id"
    boot.write_text("1b7c3a52-0000-4000-8000-000000000001\n")
    first = KioskGate.for_this_boot(folder, boot_id=boot)
    assert stat.S_IMODE((folder / "kiosk.key").stat().st_mode) == 0o600
    again = KioskGate.for_this_boot(folder, boot_id=boot)  # the service restarted
    assert (again.key, again.cookie_value) == (first.key, first.cookie_value)

    boot.write_text("1b7c3a52-0000-4000-8000-000000000002\n")  # the machine rebooted
    rebooted = KioskGate.for_this_boot(folder, boot_id=boot)
    assert rebooted.key != first.key and rebooted.cookie_value != first.cookie_value
    assert KioskGate.for_this_boot(folder, boot_id=boot).key == rebooted.key

    (folder / "kiosk.key").chmod(0o644)
    assert KioskGate.for_this_boot(folder, boot_id=boot).key != rebooted.key
    assert stat.S_IMODE((folder / "kiosk.key").stat().st_mode) == 0o600
    assert KioskGate.for_this_boot(folder, boot_id=tmp_path / "no-boot-id").key != rebooted.key


def test_a_kiosk_address_other_hosts_reach_is_refused_unless_allowed(caplog):
    for host in ("127.0.0.1", "::1", "localhost"):
        check_host(KioskSettings(host=host))
    for host in ("0.0.0.0", "192.168.1.20", "kiosk.example"):
        with pytest.raises(RemoteKiosk, match="allow_remote"):
            check_host(KioskSettings(host=host))
    with caplog.at_level(logging.WARNING, logger="edge.kiosk.server"):
        check_host(EdgeSettings(kiosk={"host": "0.0.0.0", "allow_remote": True}).kiosk)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "0.0.0.0" in caplog.records[0].getMessage()
