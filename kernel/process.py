"""Process lifecycle shared by every long-running command: stop on SIGTERM as on Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["stop_on_sigterm", "wait_for_stop"]


def stop_on_sigterm() -> threading.Event:
    """An event that SIGTERM (systemd's stop) sets, so a service ends as cleanly as on Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def wait_for_stop(stop: threading.Event) -> None:
    """Block until SIGTERM or Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
