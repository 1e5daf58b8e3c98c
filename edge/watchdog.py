"""systemd's readiness and watchdog protocol for the terminal service (``Type=notify``, ``WatchdogSec=``).

systemd passes ``NOTIFY_SOCKET`` (a datagram socket, ``@name`` for the abstract namespace) and, with a
watchdog, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``). The service sends ``READY=1`` once it serves and
``WATCHDOG=1`` at least every ``WATCHDOG_USEC``; if the pings stop, systemd kills the service and
``Restart=on-failure`` starts it again. These few lines are the whole protocol (sd_notify(3)); no
library is needed for them.

:class:`Watchdog` pings only while every liveness check passes — the sync agent's loop turned recently,
the kiosk server answers HTTP — so a terminal that hangs in either part stops pinging and is restarted,
rather than a thread that merely lives on feeding systemd. Outside systemd (no ``NOTIFY_SOCKET``) all of
it does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["Watchdog", "http_answers", "notify", "watchdog_interval"]

log = logging.getLogger(__name__)


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (``READY=1``, ``WATCHDOG=1``, ``STATUS=…``) to systemd; False outside systemd."""
    env = os.environ if env is None else env
    address = env.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "@/":
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(target)
            sock.sendall(message.encode())
        except OSError as exc:
            log.warning("systemd notification %s not sent: %s", message.split("=", 1)[0], exc)
            return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """How often to ping, in seconds (half of ``WATCHDOG_USEC``), or None when no watchdog is asked for
    this process (unset, or ``WATCHDOG_PID`` names another process)."""
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2e6


def http_answers(url: str, timeout: float = 3.0) -> bool:
    """Whether an HTTP server at ``url`` (``http://host:port``) answers a request with a status line: any
    status counts (the kiosk answers 403 without its gate cookie); it proves its event loop serves."""
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"HEAD /static/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/")
    except (OSError, ValueError):
        return False


class Watchdog:
    """Pings systemd's watchdog from a daemon thread while every check in ``checks`` returns True.

    ``checks`` maps a name (for the log) to a callable; one that fails or raises holds the pings back,
    and is logged once per failure spell. :meth:`ready` says ``READY=1`` with a status line.
    """

    def __init__(
        self,
        checks: Mapping[str, Callable[[], bool]],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.checks = dict(checks)
        self._env = dict(os.environ if env is None else env)
        self.interval = watchdog_interval(self._env)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: set[str] = set()
        self.pings = 0

    def ready(self, status: str = "") -> bool:
        """Tell systemd the service is up (and its status line); False outside systemd."""
        message = "READY=1" + (f"\nSTATUS={status}" if status else "")
        return notify(message, self._env)

    def start(self) -> Watchdog:
        """Start pinging, if systemd asked for a watchdog; otherwise do nothing."""
        if self.interval is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="systemd-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        notify("STOPPING=1", self._env)

    def healthy(self) -> bool:
        """Run every check now; True when all pass. Logs a check when it starts and stops failing."""
        ok = True
        for name, check in self.checks.items():
            try:
                passed = bool(check())
            except Exception:  # a check that raises is a failed check, never a dead watchdog thread
                log.exception("watchdog check %s raised", name)
                passed = False
            if not passed:
                ok = False
                if name not in self._failing:
                    log.error("watchdog check %s failing: systemd will restart the terminal if it goes on", name)
                self._failing.add(name)
            elif name in self._failing:
                log.info("watchdog check %s passes again", name)
                self._failing.discard(name)
        return ok

    def _run(self) -> None:
        assert self.interval is not None
        while not self._stop.is_set():
            started = time.monotonic()
            if self.healthy() and notify("WATCHDOG=1", self._env):
                self.pings += 1
            self._stop.wait(max(0.05, self.interval - (time.monotonic() - started)))
