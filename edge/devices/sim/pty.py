"""A real pty standing in for a serial device, and the thread that runs a simulator on it.

The simulator holds the pty's master; a driver opens the slave path, or ``link``, a symlink to it (as a
udev rule makes ``/dev/shegong-reader``). :meth:`SimDevice.unplug` closes the master and removes the link,
so the driver sees EIO and then a missing path, just as when a USB-serial bridge is pulled;
:meth:`SimDevice.replug` opens a new pty behind the same link. Every pty operation happens on the
simulator's own thread, so a test calling ``unplug()`` never races a read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

__all__ = ["PtyPort", "SimDevice"]

log = logging.getLogger(__name__)


class PtyPort:
    """One pty pair at a time, optionally published at ``link``. Not thread-safe: one owner."""

    def __init__(self, link: str | os.PathLike[str] | None = None) -> None:
        self.link = Path(link) if link is not None else None
        self.master: int | None = None
        self._slave: int | None = None
        self.slave_path = ""
        self.dropped = 0  # bytes a stalled driver never read, dropped so the simulator cannot hang

    @property
    def path(self) -> str:
        """What a driver opens: the link if there is one, else the slave."""
        return str(self.link) if self.link is not None else self.slave_path

    def plug(self) -> None:
        if self.master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: bytes through as they are
        os.set_blocking(master, False)
        self.master, self._slave, self.slave_path = master, slave, os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_path)
            tmp.replace(self.link)  # atomic: the driver never sees a half-made link

    def unplug(self) -> None:
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        for fd in (self.master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self._slave = None

    def read(self) -> bytes:
        """What is waiting on the master, ``b""`` if nothing (never blocks)."""
        if self.master is None:
            return b""
        try:
            return os.read(self.master, 65536)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:  # EIO: no slave side open at the moment
            return b""

    def write(self, data: bytes, timeout: float = 1.0) -> None:
        """Write to the driver; what it does not take within ``timeout`` is dropped and counted."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view and self.master is not None:
            try:
                n = os.write(self.master, view)
                view = view[n:]
                continue
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            select.select([], [self.master], [], min(left, 0.05))
        if view:
            self.dropped += len(view)
            log.warning("sim %s: dropped %d bytes the driver did not read", self.path, len(view))


class SimDevice:
    """Base of the simulators: a thread reading the pty and handing bytes to :meth:`on_data`.

    Use as a context manager (``with IdReaderSim(link) as sim:``) or :meth:`start` / :meth:`stop`.
    """

    def __init__(self, link: str | os.PathLike[str] | None = None) -> None:
        self.port = PtyPort(link)
        self._calls: queue.Queue[tuple[Callable[[], Any], queue.Queue[tuple[bool, Any]]]] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()  # guards the simulator's settings, set from other threads

    @property
    def path(self) -> str:
        return self.port.path

    def start(self) -> Self:
        self.port.plug()
        self._thread = threading.Thread(target=self._run, name=f"sim-{type(self).__name__}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.port.unplug()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Run ``fn`` on the simulator's thread (where the pty is used) and return its result."""
        if self._thread is None or not self._thread.is_alive():
            return fn()
        reply: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
        self._calls.put((fn, reply))
        os.write(self._wake_w, b"x")
        ok, value = reply.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def unplug(self) -> None:
        """Pull the cable: the master closes and the link disappears."""
        self.call(self.port.unplug)

    def replug(self) -> None:
        """Plug it back: a new pty, the link pointing at it."""
        self.call(self.port.plug)

    def on_data(self, data: bytes) -> None:
        """Bytes from the driver; subclasses answer through ``self.port.write``."""
        raise NotImplementedError

    def control_handlers(self) -> dict[str, Callable[..., Any]]:
        """Commands the ``shegong sim`` control socket offers; subclasses add their own."""
        return {"unplug": self.unplug, "replug": self.replug}

    def _run(self) -> None:
        while not self._stop.is_set():
            while True:
                try:
                    fn, reply = self._calls.get_nowait()
                except queue.Empty:
                    break
                try:
                    reply.put((True, fn()))
                except Exception as exc:  # handed back to the caller
                    reply.put((False, exc))
            fds = [self._wake_r] + ([self.port.master] if self.port.master is not None else [])
            ready, _, _ = select.select(fds, [], [], 0.1)
            if self._wake_r in ready:
                os.read(self._wake_r, 1024)
            if self.port.master is not None and self.port.master in ready:
                data = self.port.read()
                if data:
                    try:
                        self.on_data(data)
                    except Exception:  # a simulator bug must not kill the device under test
                        log.exception("sim %s: error handling %d bytes", self.path, len(data))
