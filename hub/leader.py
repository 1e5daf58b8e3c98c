"""Which of several hub processes is the leader: exactly one at a time runs the fleet evaluator, the
periodic event resend and catalogue announcements; every process ingests.

PostgreSQL: a session-level advisory lock held on a connection of its own. The leader's connection is
checked every ``check_s``; when the leader dies its connection closes, the server releases the lock, and
the next process to try takes it, within ``check_s`` (plus TCP's notice of a dead peer, which the
keepalive settings below bound). SQLite (hub processes on one machine): an exclusive ``flock`` on a file
beside the database, released by the kernel when its holder dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

__all__ = ["LOCK_KEY", "Leadership"]

log = logging.getLogger(__name__)
LOCK_KEY = 0x5348_4547  # "SHEG": the advisory lock every hub process of one database competes for


class Leadership:
    """``is_leader`` says whether this process leads now; ``on_change(bool)`` hears every change."""

    def __init__(self, engine: Engine, instance: str, check_s: float = 2.0) -> None:
        self.engine = engine
        self.instance = instance
        self.check_s = check_s
        self.on_change: list[Callable[[bool], None]] = []
        self._leader = threading.Event()
        self._stop = threading.Event()
        self._conn: Connection | None = None
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        database = engine.url.database
        self._lock_file = (
            Path(f"{database}.leader")
            if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
            else None
        )

    @property
    def is_leader(self) -> bool:
        return self._leader.is_set()

    def start(self) -> Leadership:
        self.try_once()
        self._thread = threading.Thread(target=self._run, name="hub-leader", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.check_s + 5)
        self._release()

    def try_once(self) -> bool:
        """Keep or take the lead if free; returns whether this process leads."""
        try:
            held = self._hold()
        except Exception as exc:  # noqa: BLE001 - a lost database connection is a lost lead, never a crash
            log.warning("leader check failed (%s): not leading until the database answers", type(exc).__name__)
            self._release()
            held = False
        if held != self.is_leader:
            if held:
                self._leader.set()
            else:
                self._leader.clear()
            log.info("hub %s %s the leader", self.instance, "is now" if held else "is no longer")
            for callback in self.on_change:
                callback(held)
        return held

    def nobody_leads(self) -> bool:
        """Whether no process holds the lead now: the lock taken and let go at once (``shegong hub restore``
        asks, as no hub process may run while the database is written over). Raises when the database
        cannot be asked."""
        try:
            return self._hold()
        finally:
            self._release()

    def _run(self) -> None:
        while not self._stop.wait(self.check_s):
            self.try_once()

    def _hold(self) -> bool:
        if self._lock_file is not None or self.engine.dialect.name != "postgresql":
            return self._hold_file()
        if self._conn is not None:  # leading: is our session (and so our lock) still alive?
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        conn = self.engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar())
        conn.commit()
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _hold_file(self) -> bool:
        if self._lock_file is None:  # an in-memory database has one process: it leads
            return True
        if self._fd is not None:
            return True
        fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()  # the session ends: the server drops the advisory lock
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)  # the flock goes with it
            self._fd = None
        if self._leader.is_set():
            self._leader.clear()
            for callback in self.on_change:
                callback(False)
