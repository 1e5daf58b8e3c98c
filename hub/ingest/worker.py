"""The hub's MQTT side: receive, hand each message to the :class:`Handler`, and only after its commit
publish the replies and PUBACK the message (paho's manual ack). Case events among the replies go
through the worker's :class:`~hub.cases.delivery.EventDelivery`, on the same client.

A persistent session (stable client id, clean_start false, a long session expiry) makes the broker keep
what arrives while the hub is down; the retained hub state, with an offline Will, tells terminals
whether anyone is listening. With ``share_group`` set, several workers share the subscription
(``$share/…``); correctness does not depend on order across them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.cases.delivery import EventDelivery
from hub.ingest.handler import Events, Handler
from hub.settings import HubSettings, require_safe_broker_link
from protocol import topics
from protocol.envelope import utcnow
from protocol.state import HubState, HubStateBody

__all__ = ["IngestWorker"]

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600
GROUP_MAX = 64  # messages committed together: one fsync for many batches


class IngestWorker:
    def __init__(self, settings: HubSettings, handler: Handler) -> None:
        require_safe_broker_link(settings)  # before anything connects: no password in clear text
        self.settings = settings
        self.handler = handler
        self._queue: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue(maxsize=settings.queue_max)
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"shegong-{settings.instance}",
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        c = self.client
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(0.2, 10)
        if settings.broker_password:
            c.username_pw_set(settings.broker_username or "hub", settings.broker_password)
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
        )

    def _state(self, online: bool) -> bytes:
        return HubState(terminal="hub", body=HubStateBody(online=online, instance=self.settings.instance)).encode()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="hub-ingest", daemon=True)
        self._thread.start()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
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
        """Clean stop: say offline (retained), disconnect, finish the queue already received (its events
        stay unpublished, for the next start), mark the events the broker acknowledged."""
        if self.client.is_connected():
            self.client.publish(topics.hub_state(), self._state(False), qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()
        self._queue.put(None)
        if self._thread:
            self._thread.join(10)
        self.delivery.stop()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        if reason.is_failure:
            log.error("broker refused the hub: %s", reason)
            return
        client.subscribe([(t, 1) for t in topics.subscriptions_hub(self.settings.share_group)])

    def _on_subscribe(
        self, client: mqtt.Client, _u: object, _mid: int, reasons: list[mqtt.ReasonCode], _p: object
    ) -> None:
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

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        self.connected.clear()
        log.warning("hub lost the broker: %s; paho reconnects", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(msg)  # blocks when full: TCP pushes back on the broker, nothing is dropped
        self.handler.metrics.queue.set(self._queue.qsize())

    def _work(self) -> None:
        """Take what has arrived (up to ``GROUP_MAX`` messages), commit it in one transaction, then
        publish the replies and PUBACK. A group that fails is retried one message at a time, so one bad
        message cannot hold back the others; a message that still fails stays unacknowledged."""
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < GROUP_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                group.append(nxt)
            try:
                self._commit(group)
            except Exception:
                log.exception("ingest of %d message(s) failed together; retrying one by one", len(group))
                for msg in group:
                    try:
                        self._commit([msg])
                    except Exception:
                        # Not committed, not PUBACKed: the broker or the terminal's ack timeout brings it again.
                        log.exception("ingest of a message on %s failed; left unacknowledged", msg.topic)
            self.handler.metrics.queue.set(self._queue.qsize())

    def _commit(self, group: list[mqtt.MQTTMessage]) -> None:
        # Each message keeps the hub's time of receipt (paho stamps it, monotonic), not the time of the
        # commit: a backed-up queue must not make a terminal look recently heard.
        now, mono = utcnow(), time.monotonic()
        replies = self.handler.handle_many(
            [(m.topic, m.payload, now - timedelta(seconds=mono - m.timestamp)) for m in group]
        )
        for reply in replies:
            if isinstance(reply, Events):
                self.delivery.send(reply.terminal, reply.events)
            else:
                self.client.publish(reply[0], reply[1], qos=1)
        for m in group:
            if m.qos:
                self.client.ack(m.mid, m.qos)
