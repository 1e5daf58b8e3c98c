"""Asking the terminals live for the hub anchors they witnessed (``shegong hub audit verify --witnesses``).

Copies of the terminals' anchors stored at the hub (``audit_witnesses``) live in the very database whose
rewrite they should expose. So the command asks each registered terminal over MQTT — a
:class:`~protocol.witness.WitnessRequest` on its ``down/audit``, within the tools user's ACL — and takes the
anchors each one answers with on ``up/audit`` (an audit segment of no entries, the request's correlation id),
waiting at most ``timeout_s``. On a broker with users it logs in as the hub's tools' user (``[tools]``), never
as an ingest worker's, whose session it would take over; the running hub's ingest sees the answers too and
refreshes its stored copies.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hub.errors import HubError
from hub.settings import HubSettings, tool_broker_login
from protocol import topics
from protocol.codec import decode_for_topic
from protocol.envelope import ProtocolError
from protocol.witness import AnchorBody, AuditSegment, WitnessRequest, WitnessRequestBody

__all__ = ["Answers", "BrokerUnreachable", "ask_witnesses"]

log = logging.getLogger(__name__)


class BrokerUnreachable(HubError):
    """The broker did not take the connection: no terminal could be asked."""


@dataclass
class Answers:
    """What the terminals answered: their anchors by terminal, and those silent until the timeout."""

    anchors: dict[str, list[AnchorBody]] = field(default_factory=dict)
    silent: list[str] = field(default_factory=list)


def ask_witnesses(settings: HubSettings, terminals: list[str], timeout_s: float) -> Answers:
    """Ask every one of ``terminals`` for its anchors; wait until all answered or ``timeout_s`` passed."""
    login = tool_broker_login(settings, "witness")
    asked = {t: uuid.uuid4() for t in terminals}
    answers = Answers()
    lock = threading.Lock()
    done = threading.Event()
    subscribed = threading.Event()
    if not asked:
        return answers
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=login.client_id, protocol=MQTTProtocolVersion.MQTTv5)
    if login.username:
        client.username_pw_set(login.username, login.password)
    if settings.broker_tls_ca:
        client.tls_set(ca_certs=settings.broker_tls_ca)

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: object, _p: object = None) -> None:
        if getattr(rc, "is_failure", False):
            log.error("the broker refused the witness probe: %s", rc)
            return
        c.subscribe(f"{topics.ROOT}/t/+/up/{topics.Up.AUDIT.value}", qos=1)

    def on_subscribe(*_args: object) -> None:
        subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            message = decode_for_topic(msg.topic, bytes(msg.payload))
        except ProtocolError as exc:
            log.warning("refused an answer on %s: %s", msg.topic, exc)
            return
        if not isinstance(message, AuditSegment) or asked.get(message.terminal) != message.body.correlation_id:
            return  # a night's segment, or an answer to another probe
        with lock:
            answers.anchors[message.terminal] = list(message.body.anchors)
            if len(answers.anchors) == len(asked):
                done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    deadline = time.monotonic() + timeout_s
    try:
        client.connect(settings.broker_host, settings.broker_port, keepalive=30)
    except OSError as exc:
        raise BrokerUnreachable(
            f"cannot reach the broker at {settings.broker_host}:{settings.broker_port}: {exc}"
        ) from None
    client.loop_start()
    try:
        if not subscribed.wait(max(0.1, deadline - time.monotonic())):
            raise BrokerUnreachable("the broker did not take the witness probe's subscription in time")
        for terminal, correlation in asked.items():
            # The envelope names the terminal it is for, as every down message does.
            request = WitnessRequest(terminal=terminal, body=WitnessRequestBody(correlation_id=correlation))
            client.publish(topics.down(terminal, topics.Down.AUDIT), request.encode(), qos=1)
        done.wait(max(0.0, deadline - time.monotonic()))
    finally:
        client.loop_stop()
        client.disconnect()
    with lock:
        answers.silent = sorted(t for t in asked if t not in answers.anchors)
    return answers
