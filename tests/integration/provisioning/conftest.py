"""Fixtures for provisioning tests: the wheelhouse (built once per test process, as an administrator
builds it once per release), a hub on this machine (its broker files and database), and simulated
terminals — each a real sshd in its own mount namespace (see ``sshd.py``) — with, for tests that
provision as one, an administrator account with sudo on a terminal (``sudo_admin``) and a watch of what
that account leaves open to others in /tmp (``TmpWatch``; /tmp is not overlaid: the terminal's is this
machine's).

What is slow is installing a release: a virtual environment with every dependency, from the wheelhouse,
on the terminal (half a minute on two cores). It is done for real once per release, by ``shegong
provision apply`` against a first terminal (``release_layer``); what that apply wrote under ``/opt``
is kept (in the temporary folder, keyed by the release's name) and laid under the ``/opt`` of the other
terminals as a read-only overlay layer: they are terminals on which that release was installed before,
and their own apply finds it there, as a second apply would. The dependencies' wheels are kept the
same way, keyed by the hash of pyproject.toml; the project's own wheel is built every session.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import platform
import select
import shlex
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from provisioning import wheelhouse
from provisioning.render import toml_value
from tests.integration.provisioning.sshd import Sshd, admin_key, skip_reason
from tests.support import CASE_PUBLIC_KEY, audit_public_key, write_case_key

SHEGONG = str(Path(sys.executable).with_name("shegong"))
CACHE = Path(tempfile.gettempdir()) / "shegong-provision-cache"
KEEP_DAYS = 2  # cached layers of older releases are removed


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """One test process at a time builds ``name`` (pytest-xdist's workers, other checkouts' runs)."""
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def project_wheel(project: Path, out: Path) -> Path:
    """The project's own wheel (no dependencies) into ``out``, as ``shegong provision wheelhouse`` makes it."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(out), str(project)]
    env = {**os.environ, "SOURCE_DATE_EPOCH": wheelhouse.REPRODUCIBLE_EPOCH}  # same code, same release name
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return out


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheelhouse: the dependencies' wheels (built once per pyproject.toml) and this checkout's own."""
    if reason := skip_reason():
        pytest.skip(reason)
    key = hashlib.sha256(Path(wheelhouse.PROJECT, "pyproject.toml").read_bytes())
    key.update(f"{sys.version}-{platform.machine()}-edge,hub".encode())
    deps = CACHE / f"deps-{key.hexdigest()[:12]}"
    with _locked(deps.name):
        if not (deps / ".complete").exists():
            shutil.rmtree(deps, ignore_errors=True)
            wheelhouse.build(deps)
            for ours in deps.glob("shegong-*.whl"):
                ours.unlink()
            (deps / ".complete").touch()
    out = tmp_path_factory.mktemp("wheels") / "wheelhouse"
    out.mkdir()
    for wheel in deps.glob("*.whl"):
        try:
            os.link(wheel, out / wheel.name)
        except OSError:  # another file system
            shutil.copy(wheel, out / wheel.name)
    with _locked("project-wheel"):  # setuptools builds in the source tree (build/, *.egg-info): one at a time
        return project_wheel(wheelhouse.PROJECT, out)


def _gone(pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
                return
        except (OSError, IndexError):
            return
        time.sleep(0.05)


@pytest.fixture(scope="session")
def release_layer(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``shegong provision apply`` installed under ``/opt`` on a first terminal, for the others."""
    release = wheelhouse.pack(wheels)
    layer = CACHE / f"opt-{release.name}"
    with _locked(layer.name):
        if not (CACHE / f"{layer.name}.complete").exists():
            for old in CACHE.glob("opt-*"):
                if old.is_dir() and time.time() - old.stat().st_mtime > KEEP_DAYS * 86400:
                    shutil.rmtree(old, ignore_errors=True)
            shutil.rmtree(layer, ignore_errors=True)
            root = tmp_path_factory.mktemp("first-terminal")
            first = Sshd(root / "t1", admin_key(root / "admin")).start()
            try:
                inventory = write_inventory(root, wheels, make_hub(root), [first])
                done = provision("apply", str(inventory))
            finally:
                pid = first.pid
                first.stop()
                _gone(pid)
            assert done.returncode == 0, done.stdout + done.stderr
            opt = first.upper("/opt")
            assert (opt / "shegong" / "releases" / release.name / ".installed").is_file(), "apply installed it"
            (opt / "shegong" / "current").unlink()  # each terminal's own apply points it
            shutil.move(opt, layer)
            (CACHE / f"{layer.name}.complete").touch()
    os.utime(layer)
    return layer


def make_hub(tmp_path: Path) -> dict[str, str]:
    """A hub on this machine: its broker files (CA and server certificate) and a migrated database."""
    env = {
        "SHEGONG_HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "SHEGONG_HUB_CONFIG": "/nonexistent",
        # its case key, and the audit key beside it, as `shegong hub keys init` leaves them
        "SHEGONG_HUB_CASE_KEY_FILE": str(write_case_key(tmp_path / "hub-case.key")),
    }
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
def hub(tmp_path: Path) -> dict[str, str]:
    """A hub on this machine: its broker files (CA and server certificate) and a migrated database."""
    return make_hub(tmp_path)


@pytest.fixture
def terminals(tmp_path: Path, release_layer: Path) -> Iterator[Callable[[int], list[Sshd]]]:
    """``start(n)``: n terminals on which this checkout's release was installed before (``release_layer``)."""
    started: list[Sshd] = []
    key = admin_key(tmp_path / "admin")

    def start(n: int, network: bool = False) -> list[Sshd]:
        for _ in range(n):
            started.append(Sshd(tmp_path / f"t{len(started) + 1}", key, (release_layer,), network).start())
        return started[-n:]

    yield start
    for s in started:
        s.stop()


class TmpWatch:
    """What one user makes directly in /tmp while open, each entry's mode looked at as soon as inotify tells
    of it (made, moved in, written, its mode changed): ``open_to_others`` lists those another local user
    could read, write or enter."""

    EVENTS = 0x100 | 0x80 | 0x8 | 0x4  # IN_CREATE, IN_MOVED_TO, IN_CLOSE_WRITE, IN_ATTRIB

    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.open_to_others: list[str] = []
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._stop = threading.Event()

    def __enter__(self) -> TmpWatch:
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self._fd >= 0 and self._libc.inotify_add_watch(self._fd, b"/tmp", self.EVENTS) >= 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self._fd)

    def _watch(self) -> None:
        while not self._stop.is_set():
            if not select.select([self._fd], [], [], 0.05)[0]:
                continue
            data = os.read(self._fd, 65536)
            at = 0
            while at < len(data):
                _wd, _mask, _cookie, size = struct.unpack_from("iIII", data, at)
                name = data[at + 16 : at + 16 + size].rstrip(b"\0").decode()
                at += 16 + size
                try:
                    st = os.lstat(f"/tmp/{name}")
                except FileNotFoundError:
                    continue
                seen = f"/tmp/{name} {stat.filemode(st.st_mode)}"
                if st.st_uid == self.uid and st.st_mode & 0o007 and seen not in self.open_to_others:
                    self.open_to_others.append(seen)


def sudo_admin(sshd: Sshd) -> int:
    """An administrator account on the terminal, ``admin``, with sudo and no password (as the first user
    Raspberry Pi Imager makes), logging in with the administrator's key; returns its uid."""
    uid = 20000 + sshd.port % 10000  # no user of this machine's: the /tmp watch tells its files apart
    sshd.run(
        # no password (not a locked one: sshd without PAM refuses a locked account, even with a key)
        f"useradd -u {uid} -U -m -d /var/lib/admin -s /bin/sh -p '*' admin && "
        "echo 'admin ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/admin && chmod 440 /etc/sudoers.d/admin && "
        # sshd reads it as the user, who cannot enter the test's folders
        f"install -d -o admin -g admin -m 700 /var/lib/admin/.ssh && "
        f"install -o admin -g admin -m 600 {sshd.root}/authorized_keys /var/lib/admin/.ssh/authorized_keys"
    )
    return uid


def write_inventory(
    tmp_path: Path,
    wheels: Path,
    hub: dict[str, str],
    hosts: list[Sshd],
    broker_port: int = 8883,
    series: bool = False,
    **terminal_extra: object,
) -> Path:
    """An inventory as an administrator writes it, for ``hosts`` (terminals JW00n-K1); ``series``: each the
    receipt series n."""
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
        # what `shegong hub keys audit-public` prints for this hub
        f"hub_audit_public_key = {toml_value(audit_public_key(Path(hub['SHEGONG_HUB_CASE_KEY_FILE'])))}",
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
            f"host = {toml_value(s.address)}",
            f"ssh_port = {s.port}",
            f"admin_networks = {toml_value([s.admin_network])}",
            # The rules are loaded only where the terminal has a network namespace of its own: elsewhere they
            # would filter this machine's traffic. There nft checks them (-c: parsed, every name resolved).
            f"firewall = {toml_value('load' if s.netns else 'check')}",
            *([f"receipt_series = {i}"] if series else []),
        ]
        lines += [f"{k} = {toml_value(v)}" for k, v in terminal_extra.items()]
    path = tmp_path / "inventory.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)  # it may hold secrets (staff PINs): provisioning refuses it open to others
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
    """``command`` (else the unit's ExecStart) as systemd would run it: its user and groups, its environment,
    in ``/`` (a system service's working directory: a relative path would not be written where a test runs)."""
    env = [kv for line in unit["Environment"] for kv in shlex.split(line)]
    user, group = unit["User"][0], unit["Group"][0]
    run = command or unit["ExecStart"][0]
    made = "mkdir -p /run/shegong && chown shegong:shegong /run/shegong && chmod 700 /run/shegong"
    as_user = f"setpriv --reuid={user} --regid={group} --init-groups env -i PATH=/usr/bin:/bin {' '.join(env)}"
    inner = f"{made} && cd / && exec {as_user} {run}"
    return ["nsenter", "-t", str(sshd.pid), "-m", "sh", "-c", inner]
