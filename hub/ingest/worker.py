"""The hub's MQTT side: receive, hand each message to the :class:`Handler`, and only after its commit
publish the replies and PUBACK the message (paho's manual ack). Case events among the replies go
through the worker's :class:`~hub.cases.delivery.EventDelivery`, on the same client.

A persistent session (stable client id, clean_start false, a long session expiry) makes the broker keep
what arrives while the hub is down; the retained hub state, with an offline Will, tells terminals
whether anyone is listening. With ``share_group`` set, several workers share the subscription
(``$share/…``); correctness does not depend on order across them.

A backlog (a slow or locked database) must not cost the hub its broker link: paho's network thread, which
also sends the keepalive PINGREQs, never waits for ingest. The hub's CONNECT sets MQTT v5's Receive
Maximum (:func:`receive_max`, below ``queue_max``), so the broker hands it at most that many
unacknowledged QoS 1 messages — and the hub acknowledges only after the commit, so they always fit in
the queue's room reserved for them. QoS 0 messages (heartbeats; the next one supersedes it) arriving
while the queue is full are dropped and counted (``shegong_hub_ingest_dropped``, a warning at most once
a minute); nothing acknowledged is ever dropped.

One terminal cannot stop intake for the others (issue 10). The window of unacknowledged messages is for
all terminals together, so every message is acknowledged promptly, whatever it holds: committed, or
dead-lettered with its reason. Messages wait
in a lane per terminal, served in turn (:class:`~hub.ingest.fairness.FairQueue`), and a terminal's
messages beyond its rate (weighed by their size) are acknowledged and dropped as they arrive, recorded in
one ``rate_limited`` dead letter per terminal and second (a terminal sends its case batches again, as it
has no ack for them). A message the hub fails on for no known reason is tried alone, twice,
and then set aside as ``processing_failed`` — but only while the database answers: when it does not
(connection refused, lost, disk full) nothing is set aside and nothing acknowledged; ingest waits for it
with growing pauses, and resumes with the same messages.

Two threads share the work: one takes the next group off the lanes, adds the records of what was dropped
over the rate, and decodes and opens it (:meth:`Handler.prepare`; the key agreement of each case runs outside the GIL),
while the other commits the group before, publishes and PUBACKs.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hub.cases.delivery import EventDelivery
from hub.ingest.fairness import FairQueue, RateLimits, cost
from hub.ingest.handler import Events, Handler, Incoming, Prepared, Reply
from hub.settings import HubSettings, require_safe_broker_link
from kernel.db import deadlocked, loggable
from protocol import topics
from protocol.envelope import utcnow
from protocol.state import HubState, HubStateBody

__all__ = ["CERT_WARN_DAYS", "IngestWorker"]

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600
GROUP_MAX = 64  # messages committed together: one fsync for many batches
TRIES = 2  # a message failing alone this many times, with the database answering, is poison
DEADLOCK_TRIES = 3  # a group the server aborts in a deadlock is tried again at once this often, then waits
STORAGE_PAUSE_S = (0.2, 10.0)  # first and longest pause while the database does not answer
BEAT_WAIT_PARTS = 40  # heartbeats wait up to 1/40 of their interval to be committed together (0.25 s at 10 s)
_BEAT = f"/up/{topics.Up.HEALTH.value}"
_Group = tuple[list[tuple[mqtt.MQTTMessage, Incoming]], Prepared | None]  # messages, and them prepared
RECEIVE_MAX = 1000  # unacknowledged QoS 1 messages the broker may hand one worker, at most (MQTT allows 65,535)
DROP_WARN_EVERY_S = 60.0
SHED_RECORD_S = 1.0  # messages dropped over their terminal's rate are recorded this soon at the latest
CERT_WARN_DAYS = 30
"""From how many days before the broker's certificate expires the log and the fleet page say so."""


def receive_max(queue_max: int) -> int:
    """The Receive Maximum of the hub's CONNECT: QoS 1 messages alone can never fill ingest's queue."""
    return min(RECEIVE_MAX, queue_max // 2)  # queue_max is at least 2


class IngestWorker:
    def __init__(self, settings: HubSettings, handler: Handler) -> None:
        require_safe_broker_link(settings)  # before anything connects: no password in clear text
        self.settings = settings
        self.handler = handler
        self.receive_max = receive_max(settings.queue_max)
        self._queue: FairQueue[mqtt.MQTTMessage] = FairQueue(settings.queue_max, reserved=self.receive_max)
        self._dropped = 0  # QoS 0 messages dropped since the last warning
        self._drop_warned = -DROP_WARN_EVERY_S
        self.limits = RateLimits(settings.terminal_rate_per_s, settings.terminal_burst)
        self._over_rate: dict[str, Incoming] = {}  # terminal → its last message dropped over its rate (_shed)
        self._shed_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # A group taken, decoded and opened, waiting for the group before it to commit (see _prepare). The
        # next is taken only once this one is being committed (_room): a message that arrives later waits
        # behind two groups at most.
        self._ready: queue.Queue[_Group | None] = queue.Queue(maxsize=1)
        self._room = threading.Semaphore(1)
        self._stopping = threading.Event()
        self._leaving = threading.Event()  # stop() began: no more online states from this worker
        self._storage_pause = 0.0  # the last pause while the database did not answer; 0 once it does
        self.connected = threading.Event()
        #: When the broker's TLS certificate expires, as the broker showed it at the last connect (None: no TLS).
        self.broker_cert_expires: datetime | None = None
        #: Takes a message off ingest's queue when it returns True (hub.night.lane: the night's reads).
        self.divert: Callable[[mqtt.MQTTMessage], bool] | None = None
        self._taken = 0  # messages taken off the queue and not yet committed
        self._taken_lock = threading.Lock()
        # With a broker user the client id is that user's name: Mosquitto imposes it (use_username_as_clientid)
        # and the HTTP backend of a clustered broker refuses any other (hub.broker.gate).
        user = (settings.broker_username or "hub") if settings.broker_password else None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=user or f"shegong-{settings.instance}",
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        c = self.client
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(1, 10)  # paho counts whole seconds
        if user:
            c.username_pw_set(user, settings.broker_password)
        if settings.broker_tls_ca:
            c.tls_set(ca_certs=settings.broker_tls_ca)
        c.will_set(topics.hub_state(), self._state(False), qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.delivery = EventDelivery(
            handler.engine,
            c,
            grace_s=settings.event_grace_s,
            resend_every_s=settings.event_resend_s,
            registry=handler.metrics.registry,
            tags=handler.event_tags,
        )

    def _state(self, online: bool) -> bytes:
        return HubState(terminal="hub", body=HubStateBody(online=online, instance=self.settings.instance)).encode()

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._prepare, name="hub-ingest-open", daemon=True),
            threading.Thread(target=self._work, name="hub-ingest", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho-mqtt 2.2: Properties.__init__ is unannotated
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = self.receive_max  # Mosquitto uses it in place of its max_inflight_messages
        self.client.connect_async(
            self.settings.broker_host,
            self.settings.broker_port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()
        self.delivery.start()

    def stop(self) -> None:
        """Clean stop: disconnect asking the broker to publish the Will (offline, retained), finish the queue
        already received (its events stay unpublished, for the next start), mark the events the broker
        acknowledged. The offline state is the Will rather than a publish of ours: a publish gets a packet
        id only while paho holds fewer than 65,535 unacknowledged ones, and a stop after a long backlog
        (when paho's network thread could not read PUBACKs) failed with ERR_QUEUE_SIZE."""
        self._leaving.set()
        self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
        self.client.loop_stop()
        self._stopping.set()  # a wait for the database ends; what is not committed stays unacknowledged
        self._queue.close()
        for thread in self._threads:
            thread.join(10)
        self.delivery.stop()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if reason.is_failure:
            log.error("broker refused the hub: %s", reason)
            return
        self._note_certificate(client)
        up, state = topics.subscriptions_hub(self.settings.share_group)
        # Nothing a terminal sends up is meant to be retained: a message left retained there (the broker cannot
        # refuse the flag) would come again at every subscribe, so the hub asks for none. States are retained.
        wanted = [(up, SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND))]
        wanted.append((state, SubscribeOptions(qos=1)))
        if self.settings.share_group:  # the peers' states too: see _on_peer_state
            wanted.append((topics.hub_state(), SubscribeOptions(qos=1)))
        client.subscribe(wanted)

    def _note_certificate(self, client: mqtt.Client) -> None:
        """Keep when the broker's certificate expires (it is the terminals' too: they all lose the broker
        then), for the fleet page and ``/metrics``; say so in the log from 30 days before."""
        sock = client.socket()
        not_after = (sock.getpeercert() or {}).get("notAfter") if isinstance(sock, ssl.SSLSocket) else None
        if not not_after:
            return
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(str(not_after)), UTC)
        self.broker_cert_expires = expires
        self.handler.metrics.broker_cert_expiry.set(expires.timestamp())
        days = (expires - datetime.now(UTC)).days
        if days < CERT_WARN_DAYS:
            log.warning(
                "the broker's TLS certificate expires on %s (%d days): every terminal loses the broker then. "
                "Renew it on the broker's host (`shegong hub broker tls --host …`, same CA) and reload the broker",
                f"{expires:%Y-%m-%d}",
                days,
            )

    def _on_subscribe(self, client: mqtt.Client, _u: object, _mid: int, reasons: list[ReasonCode], _p: object) -> None:
        """Listening only once the broker confirmed the subscriptions: then say online (retained)."""
        if any(r.is_failure for r in reasons):
            log.error("broker refused the hub's subscriptions: %s", reasons)
            return
        client.publish(topics.hub_state(), self._state(True), qos=1, retain=True)
        self.connected.set()
        log.info(
            "hub %s listening on %s:%s",
            self.settings.instance,
            self.settings.broker_host,
            self.settings.broker_port,
        )

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        self.connected.clear()
        if self._leaving.is_set():  # our own goodbye (stop): nothing an operator need act on
            log.info("hub %s left the broker", self.settings.instance)
            return
        log.warning("hub lost the broker: %s; paho reconnects", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == topics.hub_state():
            self._on_peer_state(bytes(msg.payload))
            return
        if not self.limits.allow(topics.sender(msg.topic) or "", cost(len(msg.payload))):
            self._shed(msg)
            return
        if self.divert is not None and self.divert(msg):
            return
        self.enqueue(msg)

    def _shed(self, msg: mqtt.MQTTMessage) -> None:
        """Over its terminal's rate: acknowledged and dropped here, on arrival, so a flood neither takes ingest's
        time nor waits in the broker ahead of other terminals' messages. Counted; the last one of each terminal
        is recorded as a dead letter for all of them together (:meth:`_records`)."""
        self.handler.metrics.rate_limited.inc()
        terminal = topics.sender(msg.topic) or ""
        with self._shed_lock:
            before = self._over_rate.get(terminal)
            also = before.also + 1 if before is not None else 0
            self._over_rate[terminal] = Incoming(msg.topic, bytes(msg.payload), utcnow(), True, also)
        if msg.qos:
            self.client.ack(msg.mid, msg.qos)

    def _records(self) -> list[tuple[mqtt.MQTTMessage, Incoming]]:
        """The dead letters standing for what :meth:`_shed` dropped since the last group, one per terminal
        (a stand-in message: QoS 0, so nothing more is acknowledged for it)."""
        with self._shed_lock:
            shed, self._over_rate = self._over_rate, {}
        return [(mqtt.MQTTMessage(topic=i.topic.encode()), i) for i in shed.values()]

    def enqueue(self, msg: mqtt.MQTTMessage) -> None:
        """Into ingest's queue, without waiting: a QoS 0 message is dropped when the queue is full; a QoS 1
        one always has room (the broker's Receive Maximum). The lane is the sending terminal's (the broker's
        ACL lets a terminal write only under its own id)."""
        if not self._queue.put(topics.sender(msg.topic) or "", msg, droppable=not msg.qos):
            self._drop(msg)
        self.handler.metrics.queue.set(self._queue.qsize())

    def _drop(self, msg: mqtt.MQTTMessage) -> None:
        self.handler.metrics.dropped.inc()
        self._dropped += 1
        now = time.monotonic()
        if now - self._drop_warned >= DROP_WARN_EVERY_S:
            log.warning(
                "ingest's queue is full (%d messages): %d QoS 0 message(s) dropped, the last on %s; the next "
                "heartbeat replaces a dropped one, but the database is not keeping up (see storage waits)",
                self._queue.qsize(),
                self._dropped,
                msg.topic[:120],
            )
            self._dropped, self._drop_warned = 0, now

    @property
    def backlog(self) -> int:
        """Messages received and not yet committed (queued, or taken and not committed yet)."""
        return self._queue.qsize() + self._taken

    def _on_peer_state(self, payload: bytes) -> None:
        """One retained hub state serves every worker of a share group, and each worker's Will says offline:
        a worker that died (or stopped) would leave terminals and dashboards told that no hub listens while
        its peers do. A worker still listening answers another's offline state with its own online one."""
        try:
            state = HubState.model_validate_json(payload).body if payload else None
        except ValueError:
            return
        peer_left = state is not None and not state.online and state.instance != self.settings.instance
        if peer_left and self.connected.is_set() and not self._leaving.is_set():
            self.client.publish(topics.hub_state(), self._state(True), qos=1, retain=True)

    def _prepare(self) -> None:
        """Take what has arrived (up to ``GROUP_MAX`` messages, terminals in turn), mark those over their
        terminal's rate, decode them and open their cases, and hand the group to :meth:`_work`. Opening a
        case is a key agreement (libsodium, outside the GIL): done here, it overlaps the commit of the
        group before instead of adding to it."""
        while True:
            self._room.acquire()
            group = self._queue.take(GROUP_MAX, timeout=SHED_RECORD_S)  # a flood's record waits a second at most
            if group is None:
                self._ready.put(None)
                return
            group = self._gather(group) if group else group
            # Stamped once: a message retried after a wait for the database is not counted again.
            now, mono = utcnow(), time.monotonic()
            items = [
                # the hub's time of receipt (paho stamps it, monotonic), not the commit's: a backed-up queue
                # must not make a terminal look recently heard
                (m, Incoming(m.topic, bytes(m.payload), now - timedelta(seconds=mono - m.timestamp)))
                for m in group
            ] + self._records()
            if not items:
                self._room.release()
                continue
            with self._taken_lock:
                self._taken += len(items)
            try:
                prepared: Prepared | None = self.handler.prepare([m for _, m in items])
            except Exception as exc:  # noqa: BLE001 - never expected; the commit then decodes alone, and fails there
                log.error("preparing %d message(s) failed: %s", len(items), loggable(exc))
                prepared = None
            self._ready.put((items, prepared))

    def _work(self) -> None:
        """Commit each group :meth:`_prepare` hands over in one transaction, then publish the replies and
        PUBACK."""
        while True:
            ready = self._ready.get()
            self._room.release()
            if ready is None:
                return
            items, prepared = ready
            self._ingest(items, prepared)
            with self._taken_lock:
                self._taken -= len(items)
            self.handler.metrics.queue.set(self._queue.qsize())

    def _gather(self, group: list[mqtt.MQTTMessage]) -> list[mqtt.MQTTMessage]:
        """A group of heartbeats alone waits a moment (``heartbeat_s / BEAT_WAIT_PARTS``) for more to join:
        a transaction's own cost (its commit, the terminals' locks) is then shared by many. Heartbeats are
        QoS 0 and no one waits for their ack; anything else arriving ends the wait."""
        deadline = time.monotonic() + self.settings.fleet.heartbeat_s / BEAT_WAIT_PARTS
        while len(group) < GROUP_MAX and all(m.topic.endswith(_BEAT) for m in group):
            left = deadline - time.monotonic()
            more = self._queue.take(GROUP_MAX - len(group), left) if left > 0 else None
            if not more:
                break
            group += more
        return group

    def _ingest(self, items: list[tuple[mqtt.MQTTMessage, Incoming]], prepared: Prepared | None = None) -> None:
        """Commit a group; when it fails and the database answers, each message alone (see the module)."""
        deadlocks = 0
        while True:
            try:
                self._commit(items, prepared)
                return
            except Exception as exc:
                if deadlocked(exc) and deadlocks < DEADLOCK_TRIES:
                    deadlocks += 1
                    self._count_deadlock(len(items))
                    continue
                if self._storage_trouble(exc):
                    if not self._wait_for_storage(exc):
                        return
                    continue
                log.error("ingest of %d message(s) failed together; each alone now: %s", len(items), loggable(exc))
                break
        for item in items:
            self._alone(item)

    def _alone(self, item: tuple[mqtt.MQTTMessage, Incoming]) -> None:
        failures = deadlocks = 0
        while True:
            try:
                self._commit([item])
                return
            except Exception as exc:
                if deadlocked(exc) and deadlocks < DEADLOCK_TRIES:
                    deadlocks += 1
                    self._count_deadlock(1)
                    continue
                if self._storage_trouble(exc):
                    if not self._wait_for_storage(exc):
                        return
                    continue
                failures += 1
                why = loggable(exc)
                log.error("ingest of a message on %s failed (%d of %d): %s", item[1].topic[:120], failures, TRIES, why)
                if failures >= TRIES:
                    self._set_aside(item, why.split("\n", 1)[0])
                    return

    def _set_aside(self, item: tuple[mqtt.MQTTMessage, Incoming], why: str) -> None:
        """Dead-letter a poison message (its own transaction) and PUBACK it."""
        msg, m = item
        while True:
            try:
                self._publish(self.handler.poison(m.topic, m.payload, m.received_at, why))
                break
            except Exception as exc:
                if self._storage_trouble(exc):
                    if not self._wait_for_storage(exc):
                        return
                    continue
                # Even the dead letter fails: acknowledge anyway, or this one message would hold the window.
                # A terminal still has what it sent (no application ack came), and sends it again.
                log.error("could not set aside a message on %s either: %s", m.topic[:120], loggable(exc))
                break
        if msg.qos:
            self.client.ack(msg.mid, msg.qos)

    def _count_deadlock(self, messages: int) -> None:
        """Counted and logged: every writer of a terminal's rows takes them in one order
        (:func:`hub.ingest.terminals.lock_terminals`), so a deadlock here is a defect to look into."""
        self.handler.metrics.deadlocks.inc()
        log.warning("an ingest group of %d message(s) was aborted in a deadlock; tried again at once", messages)

    def _storage_trouble(self, exc: Exception) -> bool:
        """True when ``exc`` says the database cannot be used now (unreachable, lost, locked, disk full)
        rather than that these messages fail: then nothing may be set aside. The drivers raise
        OperationalError for a refused or lost connection, a lock or a full disk (SQLite and psycopg
        alike); for anything else the database is asked whether it answers at all."""
        if isinstance(exc, PoolTimeout | OperationalError | InterfaceError):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        try:
            with self.handler.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - whatever stops this query stops ingest
            return True
        return False

    def _wait_for_storage(self, exc: Exception) -> bool:
        """Pause before trying again (longer each time, up to ``STORAGE_PAUSE_S[1]``); False when stopping."""
        self.handler.metrics.storage_waits.inc()
        self._storage_pause = min(STORAGE_PAUSE_S[1], max(STORAGE_PAUSE_S[0], 2 * self._storage_pause))
        log.warning(
            "the database cannot be used (%s); ingest waits %.1f s, nothing is acknowledged",
            loggable(exc).split("\n", 1)[0],
            self._storage_pause,
        )
        return not self._stopping.wait(self._storage_pause)

    def _commit(self, items: list[tuple[mqtt.MQTTMessage, Incoming]], prepared: Prepared | None = None) -> None:
        self._publish(self.handler.handle_many([m for _, m in items] if prepared is None else prepared))
        self._storage_pause = 0.0
        for msg, _ in items:
            if msg.qos:
                self.client.ack(msg.mid, msg.qos)

    def _publish(self, replies: list[Reply]) -> None:
        for reply in replies:
            if isinstance(reply, Events):
                self.delivery.send(reply.terminal, reply.events)
            else:
                self.client.publish(reply[0], reply[1], qos=1)
