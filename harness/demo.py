"""``shegong demo``: the whole system on this machine, on loopback.

A Mosquitto with its own config in ``var/demo/broker``, the hub on SQLite, and three committees'
terminals, each with a simulated ID-card reader, receipt printer and QR scanner on real ptys. It
prints the kiosk and hub URLs, the seed logins and how to tap a simulated card. When a part stops, the
demo says which, with its exit code and the last lines of its log, and starts it again (a few times at
most, see :mod:`harness.supervise`). Ctrl-C stops everything; the next run resumes from ``var/demo``
unless ``--fresh`` is given.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from edge.kiosk.staff import hash_pin
from harness.broker import Mosquitto, free_port
from harness.supervise import Part, Supervisor, wait_http
from hub import casekey

__all__ = ["COMMITTEES", "command"]

COMMITTEES = [("JW001", "梅园一村居委会"), ("JW002", "潍坊四村居委会"), ("JW003", "东昌居委会")]
#: Each demo committee's own area (illustrative streets and lanes in 浦东新区): a card address in it shows
#: the holder lives there. 王秀英 (潍坊路88弄5号) lives in 潍坊四村's.
COMMITTEE_AREAS = {
    "JW001": {"district": "浦东新区", "streets": [{"street": "浦东南路", "lanes": "1000-1199"}]},
    "JW002": {"district": "浦东新区", "streets": [{"street": "潍坊路", "lanes": "1-200"}]},
    "JW003": {"district": "浦东新区", "streets": [{"street": "东昌路", "lanes": "1-299"}]},
}
HUB_USERS = [  # login, password, role, department, the name colleagues know (histories show it)
    ("manager", "manager-demo", "manager", "", "王主任"),
    ("clerk-mz", "clerk-demo", "clerk", "MZ", "李经办"),
    ("auditor", "auditor-demo", "auditor", "", "赵监察"),
    ("operator", "operator-demo", "operator", "", "钱运维"),
]
STAFF_ID = "demo"


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    args: list[str]
    env: dict[str, str]

    @property
    def log(self) -> str:
        return f"{self.name}.log"


class Demo:
    def __init__(self, folder: Path, terminals: int, hub_port: int, kiosk_port: int) -> None:
        self.folder = folder
        self.terminals = terminals
        self.hub_port = hub_port
        self.kiosk_port = kiosk_port
        self.children: list[Child] = []
        # No PIN ships with the kiosk: the demo makes one for this run and prints it.
        self.staff_pin = f"{secrets.randbelow(10**6):06d}"
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "SHEGONG_EDGE_CONFIG": str(folder / "edge.toml"),
            "SHEGONG_HUB_CONFIG": str(folder / "hub.toml"),
            "SHEGONG_LOG_LEVEL": os.environ.get("SHEGONG_LOG_LEVEL", "INFO"),
            **casekey.for_one_machine(folder),  # the hub opens what the terminals seal
        }

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name, self._popen(name, args, env or {}), args, env or {})
        self.children.append(child)
        return child

    def respawn(self, child: Child) -> None:
        """Start a part that stopped again, as it was started."""
        child.proc = self._popen(child.name, child.args, child.env)

    def _popen(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.folder / "logs" / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "shegong.cli", *args],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped whole, nothing left behind
            )

    def supervise(self, broker: Mosquitto) -> Supervisor:
        """Every part the demo started, watched: the broker and each process restart when they stop."""
        watch = Supervisor(sys.stderr)

        def broker_exit() -> int | None:
            return broker.proc.poll() if broker.proc is not None else None

        def broker_start() -> None:
            broker.start()  # the same port and persistence folder: clients reconnect, retained state stays

        watch.add(Part("broker (mosquitto)", broker_exit, broker.folder / "mosquitto.log", restart=broker_start))
        for child in self.children:
            log = self.folder / "logs" / child.log
            watch.add(Part(child.name, _exit_code(child), log, restart=functools.partial(self.respawn, child)))
        return watch

    def run_once(self, args: list[str], env: dict[str, str], stdin: str = "") -> None:
        subprocess.run(
            [sys.executable, "-m", "shegong.cli", *args],
            env={**self.env, **env},
            input=stdin.encode(),
            check=False,
            capture_output=True,
        )

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in reversed(self.children):
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait(5)


def _exit_code(child: Child) -> Callable[[], int | None]:
    """The exit code of ``child``'s current process (a restart gives it a new one), ``None`` while it runs."""
    return lambda: child.proc.poll()


def _narrow(folder: Path) -> None:
    """A demo folder from before files were private: make it so (links, such as the device ptys, stay)."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


def _way_in(path: Path, timeout: float = 60.0) -> str:
    """The kiosk's way in for its browser (this start's secret in the URL), once the terminal wrote it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (url := path.read_text().strip()):
            return url
        time.sleep(0.2)
    return f"(not written yet: see {path})"


def _port(preferred: int) -> int:
    """``preferred`` if it is free, else any free port (0 means any)."""
    if not preferred:
        return free_port()
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def start(demo: Demo, broker: Mosquitto) -> list[str]:
    folder = demo.folder
    hub_env = {
        "SHEGONG_HUB_DATABASE_URL": f"sqlite:///{folder / 'hub.db'}",
        "SHEGONG_HUB_BROKER_PORT": str(broker.port),
        "SHEGONG_HUB_WEB_PORT": str(demo.hub_port),
        "SHEGONG_HUB_WEB_SECRET": "demo-only-web-secret-0123456789abcdef",
        "SHEGONG_HUB_WEB_COOKIE_SECURE": "false",  # the demo serves plain HTTP on loopback
        "SHEGONG_HUB_BROKER_INSECURE": "true",  # its broker is plain TCP on loopback: no TLS to ask for
    }
    for user, password, role, department, name in HUB_USERS:  # an existing user is left as it is
        args = ["hub", "user", "add", user, "--role", role, "--display-name", name, "--password-stdin"]
        demo.run_once(args + (["--department", department] if department else []), hub_env, stdin=password + "\n")
    demo.spawn("hub", ["hub", "run"], hub_env)
    started: list[tuple[str, str, Path, Path]] = []
    for i in range(demo.terminals):
        code, name = COMMITTEES[i % len(COMMITTEES)]
        terminal = f"{code}-K1"
        # Provisioning: the hub takes cases only from a terminal in its register, for its committee.
        register = ["hub", "terminal", "register", terminal, "--committee", code, "--committee-name", name]
        demo.run_once(register, hub_env)  # the hub's pages name the committee as the kiosk does
        devices = folder / "devices" / terminal
        devices.mkdir(parents=True, exist_ok=True)
        for sim in ("id-reader", "printer", "scanner"):
            demo.spawn(f"{terminal}-{sim}", ["sim", sim, "--link", str(devices / sim)])
        kiosk_port = _port(demo.kiosk_port + i) if demo.kiosk_port else free_port()
        data_dir = folder / "edges" / terminal
        way_in = data_dir / "run" / "kiosk.url"  # written by the terminal at each start (edge.kiosk.gate)
        way_in.unlink(missing_ok=True)
        demo.spawn(
            terminal,
            ["edge", "run"],
            {
                "SHEGONG_TERMINAL_ID": terminal,
                "SHEGONG_COMMITTEE_CODE": code,
                "SHEGONG_COMMITTEE_NAME": name,
                "SHEGONG_COMMITTEE_AREA": json.dumps(COMMITTEE_AREAS[code], ensure_ascii=False),
                "SHEGONG_KIOSK_STAFF_PINS": f"{STAFF_ID}:{hash_pin(demo.staff_pin)}",
                "SHEGONG_DATA_DIR": str(data_dir),
                "SHEGONG_BROKER_PORT": str(broker.port),
                "SHEGONG_BROKER_INSECURE": "true",  # loopback, plain MQTT: allowed should a password be set
                "SHEGONG_KIOSK_PORT": str(kiosk_port),
                "SHEGONG_DEVICES_READER": str(devices / "id-reader"),
                "SHEGONG_DEVICES_PRINTER": str(devices / "printer"),
                "SHEGONG_DEVICES_SCANNER": str(devices / "scanner"),
                # the receipts' QR codes open the demo hub's resident portal, as provisioning's portal_url does
                "SHEGONG_KIOSK_PROGRESS_URL": f"http://127.0.0.1:{demo.hub_port}/portal/progress",
            },
        )
        started.append((name, terminal, way_in, devices))
    lines = []
    for name, terminal, way_in, devices in started:  # each terminal writes its way in once it listens
        lines.append(f"  {name} ({terminal}): kiosk {_way_in(way_in)}")
        lines.append(f"      tap a card:  shegong sim id-reader place --link {devices / 'id-reader'} --identity <key>")
    return lines


@click.command("demo", help=__doc__.split("\n\n")[0] if __doc__ else None)
@click.option(
    "--dir",
    "state_dir",
    type=click.Path(path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    help="where the demo keeps its state",
)
@click.option("--fresh", is_flag=True, help="start afresh instead of resuming the last demo")
@click.option("--terminals", type=click.IntRange(1, 3), default=3, show_default=True, help="committee terminals to run")
@click.option("--hub-port", type=int, default=8700, show_default=True, help="hub web port (another is chosen if busy)")
@click.option("--kiosk-port", type=int, default=8601, show_default=True, help="first kiosk port")
@click.option("--for-seconds", type=float, default=0, show_default=True, help="stop by itself after this long (tests)")
def command(state_dir: Path, fresh: bool, terminals: int, hub_port: int, kiosk_port: int, for_seconds: float) -> int:
    os.umask(0o077)  # keys, databases, logs: this user's alone, in every process the demo starts
    folder = state_dir.resolve()
    if fresh and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _narrow(folder)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    broker = Mosquitto(folder / "broker", port=_port(18830)).start()
    demo = Demo(folder, terminals, _port(hub_port), kiosk_port)
    try:
        lines = start(demo, broker)
        hub_url = f"http://127.0.0.1:{demo.hub_port}"
        ok = wait_http(f"{hub_url}/healthz", timeout=60)
        print(f"\nShegong demo in {folder} (resume: run again; start afresh: --fresh)")
        print(f"  broker: mqtt://127.0.0.1:{broker.port}")
        print(f"  hub:    {hub_url}/  {'' if ok else '(not answering yet: see logs/hub.log)'}")
        print(f"  resident portal: {hub_url}/portal/  (the receipts' QR codes open {hub_url}/portal/progress)")
        print("  hub logins: " + ", ".join(f"{u}/{pw} ({r}, {n})" for u, pw, r, _, n in HUB_USERS))
        print(f"  kiosk staff mode (代办): staff id {STAFF_ID}, PIN {demo.staff_pin} (made for this run)")
        print("\n".join(lines))
        print("  test identities: shegong sim identities")
        print(f"  logs: {folder / 'logs'}\n  Ctrl-C stops everything.", flush=True)
        deadline = time.monotonic() + for_seconds if for_seconds else None
        watch = demo.supervise(broker)
        while not stop.wait(0.5):
            if deadline and time.monotonic() > deadline:
                break
            if not watch.check():
                break
    finally:
        print("stopping…", flush=True)
        demo.stop()
        broker.stop()
    return 0
