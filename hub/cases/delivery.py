"""Case events to terminals, at least once: the one place they are published.

An event is committed first and published after — by ingest (a fresh case's SUBMITTED event) and by the
back office (every later change). paho's publish is asynchronous and its queue lives in memory, so a hub
that dies, or loses the broker, in between would lose the event; and once a later event of the same
terminal arrives, the terminal's ``events_watermark`` passes the lost one and no birth brings it back.

So each ``case_events`` row has ``published_at``, set only once the broker acknowledged (PUBACK) a
message carrying it. :meth:`EventDelivery.send` publishes and keeps paho's ``MQTTMessageInfo`` with the
event ids; a thread polls ``is_published()`` about once a second and marks those rows. (Not paho's
``on_publish``: paho calls it holding its outgoing-message lock, and mids are reused.) A message still
unacknowledged ``grace_s`` after it was sent, counted while connected, is forgotten; every
``resend_every_s``, and at once after each (re)connect, events older than ``grace_s`` with no
``published_at`` and no message on its way are sent again, per terminal, in id order.

A terminal may thus get an event twice, or an older one after a newer: it stores events by id and moves
a case forward only (see docs/protocol.md).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import paho.mqtt.client as mqtt
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import ColumnElement, Connection, Engine, func, select, update

from hub.cases.eventtag import EventTags
from hub.db.models import CaseEventRow, CaseRow, table
from kernel.db import among, read_only
from protocol import topics
from protocol.cases import CaseEvent, CaseEvents, CaseEventsBody, CaseStatus
from protocol.envelope import MAX_PAYLOAD_BYTES, utcnow

__all__ = ["EVENTS_PER_MESSAGE", "EventDelivery", "stored_events"]

log = logging.getLogger(__name__)
_events, _cases = table(CaseEventRow), table(CaseRow)
EVENTS_PER_MESSAGE = 500  # a birth's resync and a resend are cut into messages of at most this many
_RESEND_MAX = 20 * EVENTS_PER_MESSAGE  # per sweep: a long backlog goes out over several sweeps
_MARK_CHUNK = 1000  # ids per UPDATE (bound parameters on SQLite, an array on PostgreSQL)
_T = TypeVar("_T")


def stored_events(
    conn: Connection, *where: ColumnElement[bool], limit: int | None = None
) -> list[tuple[str, CaseEvent]]:
    """Committed events matching ``where``, by id, each with its terminal; the due date is the case's now
    (a 补正 pause may have moved it since the event)."""
    query = (
        select(_events, _cases.c.due_date)
        .join(_cases, _cases.c.case_id == _events.c.case_id, isouter=True)
        .where(*where)
        .order_by(_events.c.id)
        .limit(limit)
    )
    return [
        (
            e["terminal_id"],
            CaseEvent(
                event_id=e["id"],
                case_id=uuid.UUID(e["case_id"]),
                version=e["version"],
                status=CaseStatus(e["status"]),
                at=e["at"],
                note=e["note"],
                department=e["department"],
                due_date=e["due_date"],
            ),
        )
        for e in conn.execute(query).mappings()
    ]


@dataclass(slots=True)
class _Sent:
    info: mqtt.MQTTMessageInfo
    ids: tuple[int, ...]
    at: float  # monotonic


class EventDelivery:
    """Publishes case events through ``client`` (the ingest worker's) and makes sure the broker got them.

    ``registry`` gets ``shegong_hub_events_resent_total`` and ``shegong_hub_events_unpublished``.
    """

    def __init__(
        self,
        engine: Engine,
        client: mqtt.Client,
        grace_s: float = 10.0,
        resend_every_s: float = 15.0,
        registry: CollectorRegistry | None = None,
        *,
        tags: EventTags,
    ) -> None:
        self.engine = engine
        self.client = client
        self.tags = tags  # every event goes out with the hub's tag: a terminal's copy of it proves itself
        self.grace_s = grace_s
        self.resend_every_s = resend_every_s
        self.tick_s = min(1.0, resend_every_s)
        #: Whether this process leads (hub.leader): only the leader sweeps for events to send again.
        self.leading: Callable[[], bool] = lambda: True
        r = registry or CollectorRegistry()
        self.resent = Counter("shegong_hub_events_resent", "case events sent again, unacknowledged", registry=r)
        self.unpublished = Gauge(
            "shegong_hub_events_unpublished", "case events the broker has not acknowledged yet", registry=r
        )
        self._sent: list[_Sent] = []
        self._lock = threading.Lock()  # ours alone: never held while calling into paho
        self._connected_since = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ sending
    def send(self, terminal: str, events: Sequence[CaseEvent]) -> bool:
        """Publish ``events`` (committed, all of ``terminal``) as ``case_events`` messages, QoS 1.

        True when the broker client took them all; False when it is not connected or refused one, in
        which case the thread sends them again later. Never raises: the events are committed already.
        """
        if not events:
            return True
        if not self.client.is_connected():  # paho would only queue it in memory; the sweep sends it later
            return False
        topic = topics.down(terminal, topics.Down.EVENTS)
        ok = True
        for payload, ids in _messages(terminal, self.tags.tagged(events)):
            try:
                info = self.client.publish(topic, payload, qos=1)
            except Exception:  # noqa: BLE001 - committed already: the sweep sends it again
                log.exception("publishing %d event(s) to %s failed", len(ids), terminal)
                ok = False
                continue
            if info.rc != mqtt.MQTT_ERR_SUCCESS:  # the link dropped under us: paho only holds it in memory
                ok = False
                continue
            with self._lock:
                self._sent.append(_Sent(info, ids, time.monotonic()))
        return ok

    def pending(self) -> set[int]:
        """Ids of the events on their way to the broker (sent, not yet acknowledged nor given up)."""
        with self._lock:
            return {i for s in self._sent for i in s.ids}

    # ------------------------------------------------------------------ the thread
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="hub-event-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; events acknowledged by now are marked."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None
        self._guarded(self.mark)

    def _run(self) -> None:
        was_connected = False
        next_sweep = time.monotonic()
        while not self._stop.wait(self.tick_s):
            now, connected = time.monotonic(), self.client.is_connected()
            if connected and not was_connected:  # (re)connected: paho resends what it still holds…
                self._connected_since = now
                next_sweep = now  # …and what a previous process or connection lost goes out now
            was_connected = connected
            self._guarded(self.mark)
            if connected and now >= next_sweep and self.leading():
                self._guarded(self.resend)
                next_sweep = now + self.resend_every_s

    def _guarded(self, job: Callable[[], int]) -> None:
        try:
            job()
        except Exception:  # noqa: BLE001 - the database may be away: try again at the next tick
            log.exception("event delivery: %s failed", job.__name__)

    # ------------------------------------------------------------------ one pass of each
    def mark(self) -> int:
        """Set ``published_at`` of the events whose message the broker acknowledged; forget messages
        unacknowledged for ``grace_s`` of connected time. Returns how many rows were marked."""
        with self._lock:
            sent = list(self._sent)
        now, connected = time.monotonic(), self.client.is_connected()
        acked: list[_Sent] = []
        gone: list[_Sent] = []
        for s in sent:
            try:
                done = s.info.is_published()
            except (RuntimeError, ValueError):  # paho gave up on it (or still holds it after rc != 0)
                gone.append(s)
                continue
            if done:
                acked.append(s)
            elif connected and now - max(s.at, self._connected_since) > self.grace_s:
                gone.append(s)
        marked = 0
        ids = sorted({i for s in acked for i in s.ids})
        if ids:
            at = utcnow()
            with self.engine.begin() as conn:
                for part in _chunks(ids, _MARK_CHUNK):
                    marked += conn.execute(
                        update(_events)
                        .where(among(conn, _events.c.id, part), _events.c.published_at.is_(None))
                        .values(published_at=at)
                    ).rowcount
        if gone:
            log.warning("%d event message(s) not acknowledged by the broker; they will be sent again", len(gone))
        if acked or gone:
            done_ids = {id(s) for s in acked + gone}
            with self._lock:
                self._sent = [s for s in self._sent if id(s) not in done_ids]
        return marked

    def resend(self) -> int:
        """Send again the events older than ``grace_s`` that the broker never acknowledged and that are not
        on their way now. Returns how many were sent."""
        cutoff = utcnow() - timedelta(seconds=self.grace_s)
        with read_only(self.engine).connect() as conn:
            waiting = conn.execute(select(func.count()).where(_events.c.published_at.is_(None))).scalar_one()
            rows = stored_events(conn, _events.c.published_at.is_(None), _events.c.at < cutoff, limit=_RESEND_MAX)
        self.unpublished.set(waiting)
        if not rows or not self.client.is_connected():
            return 0
        on_the_way = self.pending()
        by_terminal: dict[str, list[CaseEvent]] = {}
        for terminal, event in rows:
            if event.event_id not in on_the_way:
                by_terminal.setdefault(terminal, []).append(event)
        sent = 0
        for terminal, events in by_terminal.items():
            if self.send(terminal, events):
                sent += len(events)
        if sent:
            self.resent.inc(sent)
            log.warning(
                "sent %d unacknowledged case event(s) again to %d terminal(s): %s",
                sent,
                len(by_terminal),
                ", ".join(sorted(by_terminal)[:20]) + (" …" if len(by_terminal) > 20 else ""),
            )
        return sent


def _messages(terminal: str, events: Sequence[CaseEvent]) -> Iterator[tuple[bytes, tuple[int, ...]]]:
    """``events`` by id, encoded in messages of at most ``EVENTS_PER_MESSAGE``, each within the payload
    limit; with the ids each one carries."""
    ordered = sorted(events, key=lambda e: e.event_id)
    for part in _chunks(ordered, EVENTS_PER_MESSAGE):
        yield from _fitting(terminal, part)


def _fitting(terminal: str, events: list[CaseEvent]) -> Iterator[tuple[bytes, tuple[int, ...]]]:
    payload = CaseEvents(terminal=terminal, seq=events[-1].event_id, body=CaseEventsBody(events=events)).encode()
    if len(events) == 1 or len(payload) <= MAX_PAYLOAD_BYTES:  # one event always fits (its note ≤ 2,000)
        yield payload, tuple(e.event_id for e in events)
        return
    half = len(events) // 2  # long notes: halve until each message fits
    yield from _fitting(terminal, events[:half])
    yield from _fitting(terminal, events[half:])


def _chunks(items: Sequence[_T], size: int) -> Iterator[list[_T]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
