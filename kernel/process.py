"""Process lifecycle shared by every command: private files while it runs, stop on SIGTERM as on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

__all__ = ["private_files", "stop_on_sigterm", "wait_for_stop"]


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files made meanwhile are the owner's alone (umask 077): databases and their WAL, keys, exports, logs.

    They hold personal data or keys (DESIGN §6), so no file a side makes starts readable by others; the
    old umask is back afterwards, for a caller in the same process (tests), and whatever the command starts
    inherits it."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def stop_on_sigterm() -> threading.Event:
    """An event that SIGTERM (systemd's stop) sets, so a service ends as cleanly as on Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def wait_for_stop(stop: threading.Event) -> None:
    """Block until SIGTERM or Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
