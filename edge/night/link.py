"""The nightly run's own short MQTT link: requests on ``up/…``, replies paired by correlation id.

It runs beside the terminal's sync agent (``shegong edge run``), not inside it: it logs in as the same
MQTT user (so the broker's ACL confines it to this terminal's topics) under its own client id
(``<terminal>-night``, clean session), so the agent's persistent session is left alone. Replies on
``down/reconcile`` reach both; the agent has no handler for them and ignores them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import EdgeError
from edge.settings import EdgeSettings
from edge.sync.agent import link_problem
from protocol import topics
from protocol.codec import decode_for_topic
from protocol.envelope import Envelope, ProtocolError, utcnow
from protocol.reconcile import ReconcileReply

__all__ = ["NightLink", "NoAnswer"]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]


class NoAnswer(EdgeError):
    """The broker or the hub did not answer in time: the step fails, and the next night tries again."""


class NightLink:
    """Connect with :meth:`open`, ask with :meth:`ask`, end with :meth:`close` (or use ``with``)."""

    def __init__(self, settings: EdgeSettings, timeout_s: float | None = None) -> None:
        self.settings = settings
        self.timeout_s = timeout_s or settings.night_reply_timeout_s
        self._replies: dict[uuid.UUID, tuple[ReconcileReply, datetime]] = {}
        self._cond = threading.Condition()
        self._connected = threading.Event()
        # Retained topics and down channels the caller wants to see (the catalogue), in paho's thread.
        self.retained_handlers: dict[str, Callable[[bytes], list[Outgoing]]] = {}
        self.down_handlers: dict[topics.Down, Callable[[Envelope], list[Outgoing]]] = {}
        self._client: mqtt.Client | None = None

    def open(self) -> NightLink:
        s = self.settings
        if problem := link_problem(s):
            raise NoAnswer(problem)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{s.terminal_id}-night",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        if s.broker_password:
            client.username_pw_set(s.broker_username or s.terminal_id, s.broker_password)
        if s.broker_tls_ca:
            client.tls_set(ca_certs=str(s.broker_tls_ca))
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        self._client = client
        try:
            client.connect(s.broker_host, s.broker_port, keepalive=max(5, s.keepalive_s), clean_start=True)
        except OSError as exc:
            raise NoAnswer(f"broker {s.broker_host}:{s.broker_port} not reachable: {exc}") from None
        client.loop_start()
        if not self._connected.wait(self.timeout_s):
            self.close()
            raise NoAnswer("the broker did not accept the connection in time")
        return self

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def __enter__(self) -> NightLink:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if reason.is_failure:
            log.error("broker refused the nightly link: %s", reason)
            return
        t = self.settings.terminal_id
        wanted = [topics.down(t, topics.Down.RECONCILE), *(topics.down(t, d) for d in self.down_handlers)]
        wanted += list(self.retained_handlers)
        client.subscribe([(w, 1) for w in wanted])
        self._connected.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        received = utcnow()
        try:
            if msg.topic in self.retained_handlers:
                self.publish_all(self.retained_handlers[msg.topic](bytes(msg.payload)))
                return
            message = decode_for_topic(msg.topic, bytes(msg.payload))
        except ProtocolError as exc:
            log.error("refused a message on %s: %s", msg.topic, exc)
            return
        except Exception:  # noqa: BLE001 - a handler's failure must not kill paho's thread
            log.exception("handling %s failed", msg.topic)
            return
        if isinstance(message, ReconcileReply):
            with self._cond:
                self._replies[message.body.correlation_id] = (message, received)
                self._cond.notify_all()
            return
        channel = topics.parse(msg.topic).channel
        handler = self.down_handlers.get(channel) if isinstance(channel, topics.Down) else None
        if handler is not None:
            try:
                self.publish_all(handler(message))
            except Exception:  # noqa: BLE001 - as above
                log.exception("handling %s failed", msg.topic)

    def publish_all(self, messages: list[Outgoing]) -> None:
        for topic, payload in messages:
            self.publish(topic, payload)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK."""
        if self._client is None:
            raise NoAnswer("the nightly link is closed")
        info = self._client.publish(topic, payload, qos=1)
        info.wait_for_publish(self.timeout_s)
        if not info.is_published():
            raise NoAnswer(f"the broker did not take a message on {topic} in time")

    def ask(self, message: Envelope, correlation_id: uuid.UUID) -> tuple[ReconcileReply, float]:
        """Send ``message`` on ``up/reconcile`` and wait for the reply that repeats ``correlation_id``.

        Returns the reply and the hub's clock offset from ours in seconds (its ``sent_at`` against the
        midpoint of our send and receive), for the clock check."""
        sent = utcnow()
        started = time.monotonic()
        self.publish(topics.up(self.settings.terminal_id, topics.Up.RECONCILE), message.encode())
        with self._cond:
            while correlation_id not in self._replies:
                left = self.timeout_s - (time.monotonic() - started)
                if left <= 0:
                    raise NoAnswer("the hub did not answer the reconciliation in time")
                self._cond.wait(left)
            reply, received = self._replies.pop(correlation_id)
        midpoint = sent + (received - sent) / 2
        return reply, (reply.sent_at - midpoint).total_seconds()
