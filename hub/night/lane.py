"""The night's lane beside ingest: terminals' reconciliation questions answered without holding up the day.

At night thousands of terminals send digests and lists of case lines on ``up/reconcile``. Answering them is
reading: which cases the hub holds of a terminal's days, hashed. In ingest's queue they shared the groups
committed in one write transaction with the daytime's cases, so a resident's case waited for dozens of
digest comparisons (ingest p95 ~12-20× its idle value at 300 terminals).

So ingest hands the reconciliation requests of rounds 1 and 2 to this lane (:meth:`NightLane.offer`): one
thread, one request at a time, each in a read-only transaction of its own (on SQLite it takes no write
lock; ingest's commits go on beside it), and it waits while ingest has messages queued or committing — the
night is the one that can be late (at most ``max_yield_s`` at a time, so a day that never pauses still lets
the night through). It steps aside within a request too, every hundred rows it reads and every day it
compares (:class:`~hub.night.reconcile.Reconciler`'s ``pause``): a resident's case arriving mid-digest
has the process (and its GIL) to itself instead of sharing it with hashing. Repairs are paced
too: a round-2 answer may ask its terminal for cases the hub lacks, and while ``max_repairs`` (2) such
repairs have not arrived (at most ``repair_wait_s`` each), round-2 requests wait and the round-1 ones go
on; so the resent cases reach ingest a couple of terminals at a time instead of filling its commit groups
ahead of a resident's case (with no cases to repair, ingest p95 during the night was its idle value; with
1 % of the cases to repair, about twice it and more, before this pacing). The reply
is published and the request acknowledged (PUBACK) once answered. Requests that write (round 3: events sent
back) and anything the lane cannot read go to ingest as before.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from sqlalchemy import Engine

from hub.cases.eventtag import EventTags
from hub.night.reconcile import Reconciler
from kernel.db import loggable, read_only
from protocol import topics
from protocol.codec import decode_for_topic
from protocol.envelope import Envelope, ProtocolError, utcnow
from protocol.reconcile import ReconcileRequest

__all__ = ["NightLane"]

log = logging.getLogger(__name__)
_CHANNEL = f"/up/{topics.Up.RECONCILE.value}"
_CASES = f"/up/{topics.Up.CASES.value}"


class NightLane:
    """``offer`` is ingest's divert; ``start``/``stop`` run the lane's thread."""

    def __init__(
        self,
        engine: Engine,
        client: mqtt.Client,
        to_ingest: Callable[[mqtt.MQTTMessage], None],
        ingest_backlog: Callable[[], int],
        tags: EventTags,
        max_queued: int = 2000,
        max_yield_s: float = 10.0,
        repair_wait_s: float = 0.5,
        max_repairs: int = 2,
    ) -> None:
        self.engine = read_only(engine)
        self.client = client
        self.to_ingest = to_ingest
        self.ingest_backlog = ingest_backlog
        self.max_yield_s = max_yield_s
        self.repair_wait_s = repair_wait_s
        self.max_repairs = max_repairs
        self.reconciler = Reconciler(tags, pause=self._yield_to_ingest)
        self._queue: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue(max_queued)
        self._repairs: dict[str, float] = {}  # terminal → when an answer asked it for cases again
        self._deferred: collections.deque[tuple[mqtt.MQTTMessage, Envelope]] = collections.deque()
        self._thread: threading.Thread | None = None
        self.stats = {"answered": 0, "to_ingest": 0, "yielded_s": 0.0}

    def offer(self, msg: mqtt.MQTTMessage) -> bool:
        """Take ``msg`` when it is a reconciliation request and the lane has room (else ingest takes it)."""
        if self._repairs and msg.topic.endswith(_CASES):  # a repair asked for has arrived (ingest takes it)
            self._repairs.pop(topics.sender(msg.topic) or "", None)
        if not msg.topic.endswith(_CHANNEL) or self._thread is None:
            return False
        try:
            self._queue.put_nowait(msg)
        except queue.Full:
            return False
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hub-night-lane", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        thread, self._thread = self._thread, None
        self._queue.put(None)
        thread.join(10)

    def _run(self) -> None:
        while (taken := self._next()) is not None:
            msg, message = taken
            self._yield_to_ingest()
            try:
                self._answer(msg, message)
            except Exception as exc:  # noqa: BLE001 - ingest decides (and records) what to do with it
                log.warning("night lane could not answer on %s (%s): to ingest", msg.topic[:120], loggable(exc))
                self.stats["to_ingest"] += 1
                self.to_ingest(msg)

    def _next(self) -> tuple[mqtt.MQTTMessage, Envelope | None] | None:
        """The next request to answer: a round-2 one (its answer may ask for cases again) waits while
        ``max_repairs`` repairs asked for have not arrived (at most ``repair_wait_s`` each); the others go on."""
        while True:
            now = time.monotonic()
            for terminal, asked in list(self._repairs.items()):
                if now - asked > self.repair_wait_s:
                    self._repairs.pop(terminal, None)
            if self._deferred and len(self._repairs) < self.max_repairs:
                return self._deferred.popleft()
            try:
                msg = self._queue.get(timeout=0.002 if self._deferred else None)
            except queue.Empty:
                continue
            if msg is None:
                return None
            try:
                message: Envelope | None = decode_for_topic(msg.topic, bytes(msg.payload))
            except ProtocolError:
                message = None
            if isinstance(message, ReconcileRequest) and message.body.items and len(self._repairs) >= self.max_repairs:
                self._deferred.append((msg, message))
                continue
            return msg, message

    def _yield_to_ingest(self) -> None:
        """Wait while ingest has messages waiting (at most ``max_yield_s``): the day goes first."""
        started = time.monotonic()
        while self.ingest_backlog() > 0 and time.monotonic() - started < self.max_yield_s:
            time.sleep(0.002)
        self.stats["yielded_s"] += time.monotonic() - started

    def _answer(self, msg: mqtt.MQTTMessage, message: Envelope | None) -> None:
        if message is None:
            self.stats["to_ingest"] += 1
            self.to_ingest(msg)  # ingest keeps the dead letter
            return
        if not isinstance(message, ReconcileRequest) or message.body.events:
            self.stats["to_ingest"] += 1
            self.to_ingest(msg)  # a night report, or events to store: writes
            return
        with self.engine.connect() as conn:
            replies = self.reconciler.on_request(conn, message, utcnow())
            conn.rollback()
        if self.reconciler.missing:
            self._repairs[message.terminal] = time.monotonic()
        for topic, payload in replies:
            self.client.publish(topic, payload, qos=1)
        if msg.qos:
            self.client.ack(msg.mid, msg.qos)
        self.stats["answered"] += 1
