"""The nightly run's way to the hub: the terminal's own sync agent, requests paired with replies.

The broker makes the MQTT user name the client id (``use_username_as_clientid``), so a second connection
of this terminal would throw the sync agent off and take its persistent session. So the night talks
through the agent: requests go out on ``up/…`` through :meth:`SyncAgent.publish`, replies on
``down/reconcile`` come back through a down handler, and the hub's retained audit anchor through a
retained handler. When no agent runs (``shegong edge nightly`` with the service stopped), the night starts
one for its duration, which also sends whatever the night put back in the outbox.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from edge.errors import EdgeError
from edge.sync.agent import SyncAgent
from protocol import topics
from protocol.envelope import Envelope, utcnow
from protocol.reconcile import ReconcileReply

__all__ = ["AgentLink", "NoAnswer"]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]


class NoAnswer(EdgeError):
    """The broker or the hub did not answer in time: the step fails, and the next night tries again."""


_NO_LINK = "no link to the broker: the night's exchanges with the hub wait for the next night"


class AgentLink:
    """Requests and replies over ``agent``; :meth:`close` takes the night's handlers off it again."""

    def __init__(self, agent: SyncAgent, timeout_s: float, clock: Callable[[], datetime] = utcnow) -> None:
        self.agent = agent
        self.terminal = agent.settings.terminal_id
        self.timeout_s = timeout_s
        self._clock = clock
        self._replies: dict[uuid.UUID, tuple[ReconcileReply, datetime]] = {}
        self._cond = threading.Condition()
        self._started_agent = False
        # the link did not come up, or the hub stayed offline, when the night asked: later steps don't wait again
        self._unreachable = self._hub_gone = False
        agent.down_handlers[topics.Down.RECONCILE] = self._on_reply

    def open(self) -> AgentLink:
        """Wait for the agent's link (starting the agent when it does not run)."""
        if not self.agent.running:
            self.agent.start()
            self._started_agent = True
        if not self.agent.connected_event.wait(self.timeout_s):
            self._unreachable = True
            raise NoAnswer(_NO_LINK)
        return self

    def close(self) -> None:
        self.agent.down_handlers.pop(topics.Down.RECONCILE, None)
        if self._started_agent:
            self.agent.stop()

    def _until(self, ready: Callable[[], object]) -> bool:
        deadline = time.monotonic() + self.timeout_s
        while not ready():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def _on_reply(self, message: Envelope) -> list[Outgoing]:
        if isinstance(message, ReconcileReply):
            with self._cond:
                self._replies[message.body.correlation_id] = (message, self._clock())
                self._cond.notify_all()
        return []

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish through the agent, waiting up to the timeout for the link; at once refused when the link
        was already found down this night and is still down (a night without a link takes one timeout,
        not one per step)."""
        if self._unreachable and not self.agent.connected_event.is_set():
            raise NoAnswer(_NO_LINK)
        deadline = time.monotonic() + self.timeout_s
        while not self.agent.publish(topic, payload):
            if time.monotonic() > deadline:
                self._unreachable = True
                raise NoAnswer(f"could not publish on {topic}: the link is down")
            self.agent.connected_event.wait(min(1.0, max(0.0, deadline - time.monotonic())))

    def ask(
        self, message: Envelope, correlation_id: uuid.UUID, channel: topics.Up = topics.Up.RECONCILE
    ) -> tuple[ReconcileReply, float]:
        """Send ``message`` on ``up/<channel>`` and wait for the reply that repeats ``correlation_id``.

        Returns the reply and the hub's clock offset from ours in seconds (its ``sent_at`` against the
        midpoint of our send and receive), for the clock check."""
        if self.agent.hub_online is False and (self._hub_gone or not self._until(lambda: self.agent.hub_online)):
            self._hub_gone = True  # its last will stands: no one would answer, now or at the next step
            raise NoAnswer(f"the hub is offline (its last will stands): up/{channel.value} not asked")
        sent = self._clock()
        started = time.monotonic()
        self.publish(topics.up(self.terminal, channel), message.encode())
        with self._cond:
            while correlation_id not in self._replies:
                left = self.timeout_s - (time.monotonic() - started)
                if left <= 0:
                    raise NoAnswer(f"the hub did not answer on up/{channel.value} in time")
                self._cond.wait(left)
            reply, received = self._replies.pop(correlation_id)
        midpoint = sent + (received - sent) / 2
        return reply, (reply.sent_at - midpoint).total_seconds()
