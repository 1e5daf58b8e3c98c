"""The sync agent: one thread that owns the MQTT link of this terminal.

- Stable client id (the terminal id); the Will is the death message with this session's ``bd_seq``; a
  birth (retained) on every connect. A new paho client per connection: its in-memory queue dies with
  the link, and sending resumes from the outbox table, never from paho's memory.
- Batches of cases at QoS 1, at most ``inflight_window`` batches awaiting the hub's ack. Only the hub's
  ack after commit clears an outbox row; a batch without an ack after ``ack_timeout_s`` is sent again,
  and again after twice as long, up to ``resend_max_s`` (30 s at most). Every unacked item goes again at
  once on a new connection and when the hub's retained state says it is back online.
- Reconnects back off exponentially with full jitter, so terminals don't rush the hub together, up to
  ``backoff_max_s`` (30 s at most). After a network failure a cheap TCP probe of the broker every
  ``probe_interval_s`` ends the wait as soon as the broker can be reached again: the network coming
  back, not the backoff, decides when a terminal is online.
- paho pings after ``keepalive`` idle seconds and drops the link one keepalive later; the agent gives
  paho 0.7 × ``keepalive_s``, so a half-open link is noticed within 1.5 × ``keepalive_s``.
"""

from __future__ import annotations

import enum
import logging
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import EdgeError
from edge.settings import EdgeSettings
from edge.store.alarms import Alarms
from edge.store.cases import CaseStore
from edge.store.db import disk_free_mb
from edge.store.outbox import Outbox, Pending
from edge.sync.clockwatch import ClockWatch
from edge.text import text as words
from protocol import topics
from protocol.cases import Ack, CaseBatch, CaseEvents
from protocol.codec import decode, decode_for_topic
from protocol.envelope import MAX_PAYLOAD_BYTES, DeadLetterReason, Envelope, ProtocolError, utcnow
from protocol.health import Heartbeat, HeartbeatBody
from protocol.ratings import RatingBatch
from protocol.state import Birth, BirthBody, Command, CommandName, Death, DeathBody, HubState

__all__ = [
    "CHANNELS",
    "Ask",
    "InsecureLink",
    "LinkState",
    "SyncAgent",
    "backoff_ceiling",
    "broker_reachable",
    "cut_batch",
    "link_problem",
]

log = logging.getLogger(__name__)
LOOP_WAIT_S = 0.1  # the longest the loop waits for the network before its next turn
SEQ_BLOCK = 10_000  # seq numbers reserved durably at a time: monotonic across restarts, one write per block
SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps our down/ messages this long while we are away
RATE_PAUSE_S = 1.0  # batches the hub set aside over our rate go again after this long
_BATCH_ROOM = MAX_PAYLOAD_BYTES - 2048  # room for the envelope around the items
# Outbox channel → (topic channel, batch message, its body's list field). Cases first: they matter most.
CHANNELS: dict[str, tuple[topics.Up, type[Envelope], str]] = {
    "cases": (topics.Up.CASES, CaseBatch, "cases"),
    "ratings": (topics.Up.RATINGS, RatingBatch, "ratings"),
}


def cut_batch(items: list[Pending]) -> list[Pending]:
    """The first of ``items`` (oldest first) that fit in one message: the batch the agent sends next."""
    batch: list[Pending] = []
    size = 0
    for item in items:
        if batch and size + len(item.payload) > _BATCH_ROOM:
            break
        batch.append(item)
        size += len(item.payload) + 1
    return batch


class InsecureLink(EdgeError):
    """The settings would send the broker password in clear: refused before any connection."""


def link_problem(settings: EdgeSettings) -> str | None:
    """Why the MQTT link as configured must not be used, or None: a password without TLS, unless
    ``broker_insecure`` says so (the demo's loopback broker)."""
    if settings.broker_password and not settings.broker_tls_ca and not settings.broker_insecure:
        return (
            "broker_password is set but broker_tls_ca is not: the password would cross the network in clear. "
            "Set broker_tls_ca to the broker's CA file (shegong hub broker), or broker_insecure = true for a "
            "demo on loopback"
        )
    return None


def backoff_ceiling(attempt: int, first: float, cap: float) -> float:
    """The wait before try ``attempt`` (1, 2, …): ``first`` doubled each time, never above ``cap``."""
    return min(cap, first * float(2 ** min(max(attempt - 1, 0), 30)))


def broker_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP connection to the broker opens and stays open a moment (a broker waits for our
    CONNECT; something that accepts and at once closes, or a refused or unroutable address, is not it).
    Cheap: no MQTT session, no TLS handshake."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(0.2)
            try:
                return sock.recv(1) != b""  # a broker sends nothing before CONNECT; b"": closed on us
            except TimeoutError:
                return True
    except OSError:
        return False


class Ask(enum.StrEnum):
    """What an operator may ask of a running agent (the maintenance console, through edge.control)."""

    SEND_NOW = "send_now"  # connect now instead of waiting out the backoff; resend every unacked item
    RECONNECT = "reconnect"  # drop the link and connect again at once
    REBIRTH = "rebirth"  # publish a birth: the hub resends every case event past this terminal's watermark
    FETCH_CATALOGUE = "fetch_catalogue"  # ask the hub now for the catalogue version it announced


class LinkState(enum.StrEnum):
    OFFLINE = "offline"
    CONNECTING = "connecting"
    ONLINE = "online"


@dataclass
class _Inflight:
    """A batch awaiting the hub's ack: which items, not their payloads. A full window of payloads (up to
    ``inflight_window`` × 256 KiB) held here was most of the agent's memory during a drain; a late batch
    reads them again from the outbox, which holds them until the ack anyway."""

    sent_at: float
    channel: str
    seqs: list[int] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    tries: int = 1  # times sent: the wait for its ack doubles with each
    again_at: float | None = None  # the hub is rate-limiting us: sent again then, not after the ack wait


class SyncAgent:
    """Drains the outbox to the hub. ``start()`` runs it in a daemon thread; ``stop()`` ends it."""

    def __init__(
        self,
        settings: EdgeSettings,
        outbox: Outbox,
        cases: CaseStore,
        alarms: Alarms,
        health: Callable[[], dict[str, object]] | None = None,
        app_version: str = "",
        clock: Callable[[], datetime] = utcnow,
        catalogue_version: Callable[[], int] | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.cases = cases
        self.alarms = alarms
        self.health = health or (lambda: {})  # device states for heartbeats; the kiosk sets it when devices open
        self._app_version = app_version
        self._clock = clock  # the terminal's own clock, which may be wrong: the hub keeps its own time
        self._catalogue_version = catalogue_version or (lambda: 0)  # reported in births and heartbeats
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self.state = LinkState.OFFLINE
        self.hub_online: bool | None = None
        self._attempt = 0
        self._next_try = 0.0
        self._next_probe: float | None = None  # while offline after a network failure: when to probe the broker
        self._seen_down = False  # the broker was found unreachable since the link failed
        self._connect_started = 0.0
        self._bd_seq = 0
        self._unstored: str | None = None  # the topic of a message not stored: the link is dropped, it comes again
        self._seq = 0
        self._seq_reserved = 0
        self._cursor: dict[str, int] = dict.fromkeys(CHANNELS, 0)
        self._drained: dict[str, int] = {}  # channel -> the outbox's version when nothing was left to send
        self._inflight: dict[uuid.UUID, _Inflight] = {}
        self._window = settings.inflight_window  # batches in flight at most now: halved while rate-limited
        self.clock = ClockWatch(self._clock_set)  # a clock set after cases were stamped: they say by how much
        self._last_heartbeat = 0.0
        self._started = time.monotonic()
        self.loop_at = 0.0  # monotonic time of the loop's last turn: systemd's watchdog (edge/watchdog.py) reads it
        self.connected_event = threading.Event()
        # From other threads, served in the loop; each answered through its future with what was done.
        self._asks: queue.SimpleQueue[tuple[Ask, Future[str]]] = queue.SimpleQueue()
        # What an ask other than the link's own does (FETCH_CATALOGUE: edge.catalogue.sync), in the agent's
        # thread while online: an outcome in words and the messages to publish.
        self.ask_handlers: dict[Ask, Callable[[], tuple[str, list[tuple[str, bytes]]]]] = {}
        # The last ack, as the console shows the link: when (terminal clock), the batch's round trip, and the
        # hub's clock minus ours (the ack's sent_at against its arrival, half the round trip allowed for).
        self.last_ack_at: datetime | None = None
        self.last_round_trip_s: float | None = None
        self.hub_clock_offset_s: float | None = None
        # Extension points, called in the agent's thread; each returns messages to publish (topic, payload).
        # ``down_handlers`` take decoded messages of a down channel; ``retained_handlers`` raw payloads of a topic.
        self.down_handlers: dict[topics.Down, Callable[[Envelope], list[tuple[str, bytes]]]] = {}
        self.retained_handlers: dict[str, Callable[[bytes], list[tuple[str, bytes]]]] = {}
        self.on_online: list[Callable[[], list[tuple[str, bytes]]]] = []
        # Commands handled elsewhere (``help_coming``: edge.sync.help), called in the agent's thread.
        self.command_handlers: dict[CommandName, Callable[[Command], None]] = {}
        self.stats = {
            "connects": 0,
            "batches_sent": 0,
            "acked": 0,
            "parked": 0,
            "rate_limited": 0,
            "resent_batches": 0,
            "link_losses": 0,
        }

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Run the agent in a daemon thread; :class:`InsecureLink` if the settings would leak the password."""
        if problem := link_problem(self.settings):
            raise InsecureLink(problem)
        if self.settings.broker_password and not self.settings.broker_tls_ca:
            log.warning("broker_insecure: the broker password goes over plain MQTT (demo only)")
        self._thread = threading.Thread(target=self.run, name=f"sync-{self.settings.terminal_id}", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the agent's thread runs (started and not stopped)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def ask(self, what: Ask) -> Future[str]:
        """Ask the agent for ``what``; its own thread carries it out at its next turn (thread-safe). The
        future's result says what was done: ``reconnecting``, ``resent`` / ``offline`` (send now), ``birth``
        (resync: a birth published, the hub resends what the terminal lacks) / ``offline``, or the handler's
        outcome (``requested`` / ``up_to_date`` / ``no_announcement`` / ``offline`` for the catalogue)."""
        done: Future[str] = Future()
        self._asks.put((what, done))
        return done

    def _serve_asks(self) -> None:
        while not self._asks.empty():
            what, done = self._asks.get_nowait()
            log.info("operator asked: %s", what.value)
            try:
                done.set_result(self._serve_ask(what))
            except Exception as exc:  # the loop goes on; the asker hears why
                log.exception("operator ask %s failed", what.value)
                done.set_exception(exc)

    def _serve_ask(self, what: Ask) -> str:
        online = self._client is not None and self.state is LinkState.ONLINE
        if what is Ask.RECONNECT:
            if self._client is not None:
                self._close(graceful=True)
            self._attempt, self._next_try = 0, 0.0
            return "reconnecting"
        if what is Ask.SEND_NOW:
            self._attempt, self._next_try = 0, 0.0
            self._resend_all(f"operator asked: {what.value}")
            return "resent" if online else "offline"
        if not online:
            return "offline"  # a birth goes out on connecting anyway, and the catalogue is asked for then
        if what is Ask.REBIRTH:
            self._publish_birth()
            return "birth"
        outcome, messages = self.ask_handlers[what]()
        self._publish_all(messages)
        return outcome

    def run(self) -> None:
        """The loop: connect with backoff, pump paho, send batches, resend late ones, heartbeat."""
        log.info(
            "sync agent for %s starting, broker %s:%s",
            self.settings.terminal_id,
            self.settings.broker_host,
            self.settings.broker_port,
        )
        try:
            while not self._stop.is_set():
                self._serve_asks()
                self._watch_clock()
                now = self.loop_at = time.monotonic()
                if self._client is None:
                    if now < self._next_try and self._probe_due(now) and self._broker_back():
                        self._next_try = now
                    if now >= self._next_try:
                        try:
                            self._connect()
                        except Exception as exc:  # a full disk (the connection's number is stored first)
                            self.state = LinkState.OFFLINE
                            self._schedule_retry(f"could not start a connection: {exc}", network=False)
                    else:
                        self._stop.wait(min(0.1, self._next_try - now))
                    continue
                # Network traffic (an ack, a command) ends the wait at once; otherwise a turn every 0.1 s is
                # soon enough for a case the kiosk just stored, and an idle terminal's loop costs a quarter
                # of what it did at 20 ms (0.26 % of a server core against 1.2 %).
                rc = self._client.loop(timeout=LOOP_WAIT_S)
                if rc != mqtt.MQTT_ERR_SUCCESS and self._client is not None:
                    self._lost(f"loop: {mqtt.error_string(rc)}")
                    continue
                if self._unstored is not None and self._client is not None:
                    self._lost(f"a message on {self._unstored} could not be stored; the broker sends it again")
                    continue
                if self.state is LinkState.CONNECTING and now - self._connect_started > self.settings.keepalive_s:
                    self._lost("no CONNACK in time")
                    continue
                try:
                    # Each step may lose the link (a failed publish closes the client): check before each.
                    if self.state is LinkState.ONLINE:
                        self._pump()
                    if self.state is LinkState.ONLINE:
                        self._resend_late(now)
                    if self.state is LinkState.ONLINE and now - self._last_heartbeat >= self.settings.heartbeat_s:
                        self._heartbeat(now)
                except Exception:  # the agent must outlive any one step: reconnect and carry on from the outbox
                    log.exception("sync step failed; reconnecting")
                    if self._client is not None:
                        self._lost("internal error")
        finally:
            self._close(graceful=True)
            log.info("sync agent stopped")

    # ---------------------------------------------------------------- connection
    def _connect(self) -> None:
        s = self.settings
        if problem := link_problem(s):  # start() refuses first; this holds for any other way in (run())
            self._stop.set()
            log.error("not connecting: %s", problem)
            return
        self._bd_seq = self.outbox.bump("bd_seq")
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.terminal_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
            manual_ack=True,  # acked once stored (_on_message): a message whose handling failed comes again
        )
        self._unstored = None
        client.max_inflight_messages_set(max(20, s.inflight_window * 2))
        client.max_queued_messages_set(0)
        if s.broker_password:
            client.username_pw_set(s.broker_username or s.terminal_id, s.broker_password)
        if s.broker_tls_ca:
            client.tls_set(ca_certs=str(s.broker_tls_ca))
        death = Death(
            terminal=s.terminal_id, seq=self._next_seq(), sent_at=self._clock(), body=DeathBody(bd_seq=self._bd_seq)
        )
        client.will_set(topics.state(s.terminal_id), death.encode(), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho-mqtt 2.2: Properties.__init__ is unannotated
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.state = LinkState.CONNECTING
        self._connect_started = time.monotonic()
        try:
            client.connect(
                s.broker_host,
                s.broker_port,
                keepalive=max(1, int(s.keepalive_s * 0.7)),
                clean_start=False,
                properties=props,
            )
        except OSError as exc:
            self.state = LinkState.OFFLINE
            self._schedule_retry(f"connect failed: {exc}", network=True, unreachable=True)
            return
        self._client = client

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if reason.is_failure:  # the broker is there and said no: only the backoff may bring the next try
            self._lost(f"broker refused: {reason}", network=False)
            return
        s = self.settings
        self.state = LinkState.ONLINE
        self._attempt = 0
        self.stats["connects"] += 1
        client.subscribe([(t, 1) for t in topics.subscriptions_edge(s.terminal_id)])
        self._publish_birth()
        self._resend_all("new connection")
        for hook in self.on_online:
            self._publish_all(hook())
        self.connected_event.set()
        log.info("online as %s (bd_seq %d)", s.terminal_id, self._bd_seq)

    def _publish_birth(self) -> None:
        assert self._client is not None
        stats = self.outbox.stats()
        birth = Birth(
            terminal=self.settings.terminal_id,
            seq=self._next_seq(),
            sent_at=self._clock(),
            body=BirthBody(
                bd_seq=self._bd_seq,
                app_version=self._app_version,
                catalogue_version=self._catalogue_version(),
                events_watermark=self.outbox.counter("events_watermark"),
                outbox_depth=stats.depth,
            ),
        )
        self._client.publish(topics.state(self.settings.terminal_id), birth.encode(), qos=1, retain=True)

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if self._client is not None and not self._stop.is_set():
            self._lost(f"disconnected: {reason}")

    def _lost(self, why: str, network: bool = True) -> None:
        self.stats["link_losses"] += 1
        self._close(graceful=False)
        self._schedule_retry(why, network)

    def _schedule_retry(self, why: str, network: bool = True, unreachable: bool = False) -> None:
        """Wait before the next try, with full jitter; after a network failure, probe the broker meanwhile.

        Only a broker found unreachable (``unreachable``: a connect that failed, or a probe since) and then
        reachable ends the wait early: a broker that takes connections but does not answer them (overloaded)
        gets the backoff, not a terminal every few seconds."""
        s = self.settings
        self._attempt += 1
        ceiling = backoff_ceiling(self._attempt + 1, s.backoff_min_s, s.backoff_max_s)
        delay = random.uniform(s.backoff_min_s, max(s.backoff_min_s, ceiling))  # full jitter, never zero
        now = time.monotonic()
        self._next_try = now + delay
        self._next_probe = now + self._probe_gap() if network else None
        self._seen_down = unreachable
        self.state = LinkState.OFFLINE
        self.connected_event.clear()
        log.warning("link to broker down (%s); retry %d in %.1f s", why, self._attempt, delay)

    def _probe_gap(self) -> float:
        return self.settings.probe_interval_s * random.uniform(0.75, 1.25)  # spread: terminals probe apart

    def _probe_due(self, now: float) -> bool:
        return self._next_probe is not None and now >= self._next_probe

    def _broker_back(self) -> bool:
        """Probe the broker (the link failed on the network); True when it is reachable after it was not."""
        s = self.settings
        if not broker_reachable(s.broker_host, s.broker_port, timeout=min(1.0, s.probe_interval_s)):
            self._seen_down = True
        elif self._seen_down:
            log.info("the broker can be reached again; reconnecting now")
            self._next_probe = None
            return True
        self._next_probe = time.monotonic() + self._probe_gap()
        return False

    def _close(self, graceful: bool) -> None:
        client, self._client = self._client, None
        self._inflight.clear()
        was, self.state = self.state, LinkState.OFFLINE
        if client is None:
            return
        client.on_disconnect = None
        try:
            if graceful and was is LinkState.ONLINE:
                # A clean disconnect discards the Will, so say the death ourselves (Sparkplug does too).
                death = Death(
                    terminal=self.settings.terminal_id,
                    seq=self._next_seq(),
                    sent_at=self._clock(),
                    body=DeathBody(bd_seq=self._bd_seq),
                )
                info = client.publish(topics.state(self.settings.terminal_id), death.encode(), qos=1, retain=True)
                deadline = time.monotonic() + 2
                while not info.is_published() and time.monotonic() < deadline:
                    client.loop(timeout=0.05)
                client.disconnect()
                client.loop(timeout=0.1)
            sock = client.socket()
            if sock is not None:
                sock.close()
        except Exception:  # noqa: BLE001 - a dying socket may fail in many ways; it is gone either way
            log.debug("closing the old link", exc_info=True)

    def _watch_clock(self) -> None:
        try:
            self.clock.check()
        except Exception:  # noqa: BLE001 - the loop outlives a failed correction; the cases still go, uncorrected
            log.exception("carrying a clock correction to the queued cases failed")

    def _clock_set(self, step_s: float, first: datetime, last: datetime) -> None:
        fixed = self.outbox.fix_clock(step_s, first, last)
        log.warning(
            "this terminal's clock was set by %+.0f s; %d queued case(s) stamped before carry the correction to "
            "the hub (a clock wrong at start: check time sync, time_server)",
            step_s,
            fixed,
        )

    # ---------------------------------------------------------------- sending
    def _next_seq(self) -> int:
        if self._seq >= self._seq_reserved:
            self._seq_reserved = self.outbox.bump("seq_reserved", SEQ_BLOCK)
            self._seq = max(self._seq, self._seq_reserved - SEQ_BLOCK)
        self._seq += 1
        return self._seq

    def _pump(self) -> None:
        """Fill the in-flight window with batches read from the outbox, channel by channel. A channel found
        with nothing left to send is read again once something has been committed to the store since (the
        outbox's version): an idle terminal that read its outbox on every turn (fifty a second then) took
        6.6 % of a server core, about a quarter of a Raspberry Pi's."""
        s = self.settings
        version = self.outbox.version()  # before reading: a commit after this is seen at the next turn
        for channel in CHANNELS:
            if version is not None and self._drained.get(channel) == version:
                continue
            while self._client is not None and len(self._inflight) < self._window:
                items = self.outbox.pending(channel, self._cursor[channel], s.batch_size)
                if not items:
                    if version is not None:
                        self._drained[channel] = version
                    break
                batch = cut_batch(items)
                self._cursor[channel] = batch[-1].seq
                self._send(channel, batch)

    def _send(self, channel: str, batch: list[Pending], tries: int = 1) -> None:
        if self._client is None:  # the link went down under a loop of sends: the next connection resends
            return
        up, message, body_field = CHANNELS[channel]
        message_id = uuid.uuid4()
        payload = message.encode_around(
            body_field,
            [p.payload for p in batch],
            terminal=self.settings.terminal_id,
            seq=self._next_seq(),
            message_id=message_id,
            sent_at=self._clock(),
        )
        self._client.publish(topics.up(self.settings.terminal_id, up), payload, qos=1)
        self._inflight[message_id] = _Inflight(
            time.monotonic(), channel, [p.seq for p in batch], [p.item_id for p in batch], tries
        )
        self.stats["batches_sent"] += 1

    def _ack_wait(self, tries: int) -> float:
        """How long a batch sent ``tries`` times waits for its ack: ``ack_timeout_s``, doubling, capped."""
        return backoff_ceiling(tries, self.settings.ack_timeout_s, self.settings.resend_max_s)

    def _resend_late(self, now: float) -> None:
        late = [
            mid
            for mid, f in self._inflight.items()
            if (now >= f.again_at if f.again_at is not None else now - f.sent_at > self._ack_wait(f.tries))
        ]
        for mid in late:
            late_batch = self._inflight.pop(mid)
            if late_batch.again_at is None:
                log.warning(
                    "no ack for batch %s after %.0f s; sending its %d item(s) again",
                    mid,
                    self._ack_wait(late_batch.tries),
                    len(late_batch.seqs),
                )
            self.outbox.mark_resent(late_batch.seqs)
            self.stats["resent_batches"] += 1
            if items := self.outbox.items(late_batch.seqs):  # none, when a late ack cleared them meanwhile
                # a rate-limited batch was not lost: its next ack wait does not grow
                tries = late_batch.tries + (late_batch.again_at is None)
                self._send(late_batch.channel, items, tries)

    def _slow_down(self, now: float) -> None:
        """The hub set a batch aside over this terminal's rate. It answers one such batch a second and drops
        the rest unanswered, so every batch in flight is taken as set aside: each goes again after a pause
        (not after its ack wait, which doubles up to ``resend_max_s``: a backlog beyond the hub's burst then
        drained at tens of cases a second), and the window halves, growing again by one with each ack."""
        self._window = max(1, self._window // 2)
        for f in self._inflight.values():
            if f.again_at is None or f.again_at < now:
                f.again_at = now + RATE_PAUSE_S

    def _resend_all(self, why: str) -> None:
        if self._inflight or any(self._cursor.values()):
            log.info("resending every unacked item: %s", why)
        self._inflight.clear()
        self._cursor = dict.fromkeys(CHANNELS, 0)
        self._drained.clear()  # read from the start again, changed or not

    def heartbeat_soon(self) -> None:
        """Send a heartbeat at the next turn of the loop (an alarm the hub should hear of now), not when due."""
        self._last_heartbeat = 0.0

    def _heartbeat(self, now: float) -> None:
        if self._client is None:
            return
        self._last_heartbeat = now
        stats = self.outbox.stats()
        health = self.health()
        self.cases.room_again()  # a storage alarm from a refused case stays no longer than the lack of room
        hb = Heartbeat(
            terminal=self.settings.terminal_id,
            seq=self._seq,
            sent_at=self._clock(),
            body=HeartbeatBody(
                bd_seq=self._bd_seq,
                uptime_s=now - self._started,
                outbox_depth=stats.depth,
                oldest_unsent_at=stats.oldest_unsent_at,
                parked=stats.parked,
                disk_free_mb=disk_free_mb(self.settings.data_dir),
                app_version=self._app_version,
                catalogue_version=self._catalogue_version(),
                reader=str(health.get("reader", "unknown")),
                printer=str(health.get("printer", "unknown")),
                alarms=sorted(self.alarms.active()),
            ),
        )
        self._client.publish(topics.up(self.settings.terminal_id, topics.Up.HEALTH), hb.encode(), qos=0)

    # ---------------------------------------------------------------- receiving
    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        """Handle a message, then ack it (PUBACK). One whose handling failed (a full or failing disk) is not
        acked, and the link is dropped after this turn of the loop: the broker keeps it in the session and
        sends it again at the reconnect. Before, paho acked it as the callback returned and it was gone until
        the night's reconciliation (a chaos review: a clerk's five steps missing at a terminal whose disk had
        filled for four seconds). A message refused as malformed is acked: it would only come back refused."""
        payload = bytes(msg.payload)  # paho hands bytes or a bytearray; decoders and handlers take bytes
        if self._unstored is not None:  # dropping the link: what comes meanwhile comes again with the rest
            return
        try:
            if msg.topic == topics.hub_state():
                self._on_hub_state(payload)
            elif msg.topic in self.retained_handlers:
                self._publish_all(self.retained_handlers[msg.topic](payload))
            else:
                message = decode_for_topic(msg.topic, payload, ignore_unknown=True)  # the hub may be newer
                handler = self.down_handlers.get(topics.parse(msg.topic).channel)  # type: ignore[arg-type]
                if handler is not None:
                    self._publish_all(handler(message))
                else:
                    self._dispatch(message)
        except ProtocolError as exc:
            log.error("refused a message on %s: %s", msg.topic, exc)
        except Exception:
            log.exception("handling a message on %s failed; not acked: the broker sends it again", msg.topic)
            self._unstored = msg.topic
            return
        if msg.qos:
            client.ack(msg.mid, msg.qos)

    def _on_hub_state(self, payload: bytes) -> None:
        if not payload:
            return
        state = decode(payload, ignore_unknown=True)
        if not isinstance(state, HubState):
            raise ProtocolError(DeadLetterReason.UNEXPECTED_TYPE, f"{state.type.value} on the hub state topic")
        was, self.hub_online = self.hub_online, state.body.online
        if state.body.online and was is False:
            self._resend_all("hub came back online")

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish at QoS 1 from any thread (the nightly run's requests); False while offline."""
        client = self._client
        if client is None or self.state is not LinkState.ONLINE:
            return False
        return client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    def _publish_all(self, messages: list[tuple[str, bytes]]) -> None:
        for topic, payload in messages:
            if self._client is not None:
                self._client.publish(topic, payload, qos=1)

    def _dispatch(self, message: Envelope) -> None:
        if isinstance(message, Ack):
            self._on_ack(message)
        elif isinstance(message, CaseEvents):
            self.cases.apply_events(list(message.body.events))
        elif isinstance(message, Command) and message.body.command in self.command_handlers:
            self.command_handlers[message.body.command](message)
        elif isinstance(message, Command):
            log.info("command %s from hub: %s", message.body.command, message.body.reason)
            if message.body.command is CommandName.REBIRTH and self._client is not None:
                self._publish_birth()
            self._resend_all(f"hub asked: {message.body.command}")

    def _on_ack(self, ack: Ack) -> None:
        body = ack.body
        if body.renumbered:  # taken under the hub's numbers: it holds numbers this terminal gave and forgot
            # Before the ack clears the outbox: once it has, no ack of these comes again to move the numbers.
            self.cases.numbers_held_elsewhere([str(c) for c in body.renumbered])  # the next residents get fresh ones
            log.warning(
                "the hub took %d case(s) under numbers of its own: their printed ones were given before",
                len(body.renumbered),
            )
        if body.acked:
            self.stats["acked"] += self.outbox.acked([str(i) for i in body.acked])
        if body.holder_keys:  # cases accepted while this terminal had no lookup key (protocol.lookup)
            self.cases.set_holder_keys({str(c): k for c, k in body.holder_keys.items()})
        sent = self._inflight.pop(body.in_reply_to, None) if body.in_reply_to else None
        self.last_ack_at = arrived = self._clock()
        if sent is not None:
            self.last_round_trip_s = time.monotonic() - sent.sent_at
            if body.acked:  # the hub takes what we send: the window grows back, one batch per ack
                self._window = min(self.settings.inflight_window, self._window + 1)
        half = (self.last_round_trip_s or 0.0) / 2
        self.hub_clock_offset_s = (ack.sent_at - arrived).total_seconds() + half
        for rej in body.rejected:
            if rej.reason is DeadLetterReason.RATE_LIMITED:
                # The hub set the batch aside unprocessed (this terminal sent too much at once): it stays in
                # flight and goes again after a pause, with every other in flight (_slow_down). Nothing is parked.
                if sent is not None and body.in_reply_to is not None:
                    self._inflight[body.in_reply_to] = sent
                self._slow_down(time.monotonic())
                self.stats["rate_limited"] += 1
                log.warning(
                    "the hub is rate-limiting this terminal; batch %s and the others in flight go again in %.0f s, "
                    "%d at a time",
                    body.in_reply_to,
                    RATE_PAUSE_S,
                    self._window,
                )
                continue
            if rej.item_id is not None:
                ids = [str(rej.item_id)]
            elif sent is not None and rej.message_id == body.in_reply_to:
                ids = sent.item_ids
            else:
                continue
            self.stats["parked"] += self.outbox.park(ids, f"{rej.reason.value}: {rej.detail}")
            if rej.reason is DeadLetterReason.DUPLICATE_RECEIPT:
                self.cases.numbers_held_elsewhere(ids)  # the next residents get numbers the hub has not seen
            self.alarms.raise_("items_refused", words("alarm.items_refused", count=len(ids), reason=rej.reason.value))
