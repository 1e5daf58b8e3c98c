"""A Mosquitto of our own: config in a folder, an ephemeral port, start/stop/kill/restart/reload.

Used by ``shegong demo``, the benchmarks and the tests, so each can cut or restart its broker without
touching the machine's. Mosquitto must be installed (``apt-get install mosquitto``).

By default the broker is open (anonymous, plain TCP on loopback). With :class:`~hub.broker.config.BrokerAuth`
it admits only the users of a password file, within an ACL file; with :class:`~hub.broker.config.BrokerTLS`
its listener speaks TLS only. The listener lines are :func:`hub.broker.config.listener_config`, the same
text a centre drops into ``/etc/mosquitto/conf.d/``: the test broker runs the production configuration.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from hub.broker.config import TUNING, BrokerAuth, BrokerTLS, listener_config

__all__ = ["BrokerNotAvailable", "Mosquitto", "find_mosquitto", "free_port"]


class BrokerNotAvailable(RuntimeError):
    is_user_error = True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise BrokerNotAvailable("mosquitto is not installed: run `sudo apt-get install -y mosquitto`")


class Mosquitto:
    """One broker process on loopback. ``persistence`` keeps retained messages and sessions across a clean
    restart; ``auth`` and ``tls`` close it to strangers (see :func:`listener_config`)."""

    def __init__(
        self,
        folder: Path,
        port: int | None = None,
        persistence: bool = True,
        extra: str = "",
        auth: BrokerAuth | None = None,
        tls: BrokerTLS | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.port = port or free_port()
        self.persistence = persistence
        self.extra = extra
        self.auth = auth
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.folder / "mosquitto.conf"

    def write_config(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        listener = listener_config(self.port, "127.0.0.1", self.auth, self.tls) + self._user_line()
        self.config_path.write_text(
            f"""# written by shegong; one broker on loopback for tests, benchmarks and the demo
{listener}persistence {"true" if self.persistence else "false"}
persistence_location {self.folder}/
autosave_interval 5
{TUNING}log_dest file {self.folder}/mosquitto.log
log_type error
log_type warning
log_type notice
{self.extra}
"""
        )

    def _user_line(self) -> str:
        """Started as root, Mosquitto drops to user ``mosquitto`` before it opens its persistence file, log,
        password, ACL and key files, which then must not sit in root's private folders (pytest's temporary
        ones do): it would run without persistence or log, silently. A broker of ours keeps root instead;
        it listens on loopback only, and a centre's runs as Debian's service."""
        return "user root\n" if os.geteuid() == 0 else ""

    def start(self, timeout: float = 10.0) -> Mosquitto:
        self.write_config()
        self.proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise BrokerNotAvailable(f"mosquitto exited at start: {err.strip()[:500]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise BrokerNotAvailable(f"mosquitto did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        """SIGTERM: a clean stop (with persistence, sessions and retained messages are saved)."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: a crash; nothing since the last autosave is kept."""
        self._signal(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its password and ACL files again (a revoked terminal can no longer log in)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
