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
has the process (and its GIL) to itself instead of sharing it with hashing. A round-2 answer that
asks its terminal for cases the hub lacks is followed by a wait for those cases to arrive and be committed
(at most ``repair_wait_s`` for them to arrive), so the resent cases reach ingest one terminal at a time
instead of filling its groups ahead of a resident's case (with no cases to repair, ingest p95 during the
night was its idle value; with 1 % of the cases to repair, twice it and more, before this wait). The reply
is published and the request acknowledged (PUBACK) once answered. Requests that write (round 3: events sent
back) and anything the lane cannot read go to ingest as before.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from sqlalchemy import Engine

from hub.night.reconcile import Reconciler
from kernel.db import loggable, read_only
from protocol import topics
from protocol.codec import decode_for_topic
from protocol.envelope import ProtocolError, utcnow
from protocol.reconcile import ReconcileRequest

__all__ = ["NightLane"]

log = logging.getLogger(__name__)
_CHANNEL = f"/up/{topics.Up.RECONCILE.value}"


class NightLane:
    """``offer`` is ingest's divert; ``start``/``stop`` run the lane's thread."""

    def __init__(
        self,
        engine: Engine,
        client: mqtt.Client,
        to_ingest: Callable[[mqtt.MQTTMessage], None],
        ingest_backlog: Callable[[], int],
        max_queued: int = 2000,
        max_yield_s: float = 10.0,
        repair_wait_s: float = 0.5,
    ) -> None:
        self.engine = read_only(engine)
        self.client = client
        self.to_ingest = to_ingest
        self.ingest_backlog = ingest_backlog
        self.max_yield_s = max_yield_s
        self.repair_wait_s = repair_wait_s
        self.reconciler = Reconciler(pause=self._yield_to_ingest)
        self._queue: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue(max_queued)
        self._thread: threading.Thread | None = None
        self.stats = {"answered": 0, "to_ingest": 0, "yielded_s": 0.0}

    def offer(self, msg: mqtt.MQTTMessage) -> bool:
        """Take ``msg`` when it is a reconciliation request and the lane has room (else ingest takes it)."""
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
        while (msg := self._queue.get()) is not None:
            self._yield_to_ingest()
            try:
                self._answer(msg)
            except Exception as exc:  # noqa: BLE001 - ingest decides (and records) what to do with it
                log.warning("night lane could not answer on %s (%s): to ingest", msg.topic[:120], loggable(exc))
                self.stats["to_ingest"] += 1
                self.to_ingest(msg)

    def _yield_to_ingest(self) -> None:
        """Wait while ingest has messages waiting (at most ``max_yield_s``): the day goes first."""
        started = time.monotonic()
        while self.ingest_backlog() > 0 and time.monotonic() - started < self.max_yield_s:
            time.sleep(0.002)
        self.stats["yielded_s"] += time.monotonic() - started

    def _answer(self, msg: mqtt.MQTTMessage) -> None:
        try:
            message = decode_for_topic(msg.topic, bytes(msg.payload))
        except ProtocolError:
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
        for topic, payload in replies:
            self.client.publish(topic, payload, qos=1)
        if msg.qos:
            self.client.ack(msg.mid, msg.qos)
        self.stats["answered"] += 1
        if self.reconciler.missing:
            self._await_repair()

    def _await_repair(self) -> None:
        """The answer asked its terminal for cases the hub lacks: wait (at most ``repair_wait_s``) for them
        to reach ingest, then for ingest to commit them. One terminal's repair is in ingest at a time, so a
        resident's case waits behind a few resent cases at most, not behind the repairs of many terminals
        gathered in one commit group."""
        started = time.monotonic()
        while self.ingest_backlog() == 0 and time.monotonic() - started < self.repair_wait_s:
            time.sleep(0.002)
        self.stats["yielded_s"] += time.monotonic() - started
        self._yield_to_ingest()
