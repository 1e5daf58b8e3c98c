"""Fixtures for provisioning tests: the wheelhouse (built once per test process, as an administrator
builds it once per release), a hub on this machine (its broker files and database), and simulated
terminals — each a real sshd in its own mount namespace (see ``sshd.py``)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provisioning import wheelhouse
from provisioning.render import toml_value
from tests.integration.provisioning.sshd import Sshd, admin_key, skip_reason
from tests.support import CASE_PUBLIC_KEY

SHEGONG = str(Path(sys.executable).with_name("shegong"))


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if reason := skip_reason():
        pytest.skip(reason)
    return wheelhouse.build(tmp_path_factory.mktemp("wheels") / "wheelhouse")


@pytest.fixture
def hub(tmp_path: Path) -> dict[str, str]:
    """A hub on this machine: its broker files (CA and server certificate) and a migrated database."""
    env = {"SHEGONG_HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}", "SHEGONG_HUB_CONFIG": "/nonexistent"}
    broker_dir = tmp_path / "broker"
    run = {"env": {**env, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}, "check": True, "capture_output": True}
    subprocess.run([SHEGONG, "hub", "broker", "tls", "--dir", str(broker_dir), "--host", "127.0.0.1"], **run)  # type: ignore[call-overload]
    made = subprocess.run([SHEGONG, "hub", "broker", "hub", "--dir", str(broker_dir)], **run, text=True)  # type: ignore[call-overload]
    subprocess.run([SHEGONG, "hub", "migrate"], **run)  # type: ignore[call-overload]
    return {
        **env,
        "broker_dir": str(broker_dir),
        "ca": str(broker_dir / "ca.crt"),
        "hub_password": made.stdout.strip(),
        "reload_broker": "true",
    }


@pytest.fixture
def terminals(tmp_path: Path, wheels: Path) -> Iterator[Callable[[int], list[Sshd]]]:
    started: list[Sshd] = []
    key = admin_key(tmp_path / "admin")

    def start(n: int) -> list[Sshd]:
        for _ in range(n):
            started.append(Sshd(tmp_path / f"t{len(started) + 1}", key).start())
        return started[-n:]

    yield start
    for s in started:
        s.stop()


def write_inventory(
    tmp_path: Path,
    wheels: Path,
    hub: dict[str, str],
    hosts: list[Sshd],
    broker_port: int = 8883,
    **terminal_extra: object,
) -> Path:
    """An inventory as an administrator writes it, for ``hosts`` (terminals JW00n-K1)."""
    key = tmp_path / "admin" / "admin_ed25519"
    env = {k: v for k, v in hub.items() if k.startswith("SHEGONG_")}
    lines = [
        f"wheelhouse = {toml_value(str(wheels))}",
        "",
        "[defaults]",
        f"ssh_key = {toml_value(str(key))}",
        f"known_hosts = {toml_value(str(tmp_path / 'admin' / 'known_hosts'))}",
        'broker_host = "127.0.0.1"',
        f"broker_port = {broker_port}",
        f"broker_tls_ca = {toml_value(hub['ca'])}",
        f"hub_public_key = {toml_value(CASE_PUBLIC_KEY)}",
        'admin_networks = ["127.0.0.0/8"]',
        "",
        "[hub]",
        'host = "@local"',
        f"shegong = {toml_value(SHEGONG)}",
        f"broker_dir = {toml_value(hub['broker_dir'])}",
        f"reload_broker = {toml_value(hub['reload_broker'])}",
        f"env = {toml_value(env)}",
    ]
    for i, s in enumerate(hosts, 1):
        lines += [
            "",
            "[[terminal]]",
            f'id = "JW00{i}-K1"',
            f'committee_code = "JW00{i}"',
            f'committee_name = "第{i}居委会"',
            'host = "127.0.0.1"',
            f"ssh_port = {s.port}",
        ]
        lines += [f"{k} = {toml_value(v)}" for k, v in terminal_extra.items()]
    path = tmp_path / "inventory.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def provision(*args: str) -> subprocess.CompletedProcess[str]:
    """``shegong provision …`` as an administrator runs it."""
    return subprocess.run([SHEGONG, "provision", *args], capture_output=True, text=True, timeout=600)


def unit_of(sshd: Sshd, name: str) -> dict[str, list[str]]:
    unit: dict[str, list[str]] = {}
    for line in sshd.run(f"cat /etc/systemd/system/{name}").stdout.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            unit.setdefault(key, []).append(value)
    return unit


def as_unit(sshd: Sshd, unit: dict[str, list[str]], command: str | None = None) -> list[str]:
    """``command`` (else the unit's ExecStart) as systemd would run it: its user and groups, its environment."""
    env = [kv for line in unit["Environment"] for kv in shlex.split(line)]
    user, group = unit["User"][0], unit["Group"][0]
    run = command or unit["ExecStart"][0]
    made = "mkdir -p /run/shegong && chown shegong:shegong /run/shegong && chmod 700 /run/shegong"
    as_user = f"setpriv --reuid={user} --regid={group} --init-groups env -i PATH=/usr/bin:/bin {' '.join(env)}"
    inner = f"{made} && exec {as_user} {run}"
    return ["nsenter", "-t", str(sshd.pid), "-m", "sh", "-c", inner]
