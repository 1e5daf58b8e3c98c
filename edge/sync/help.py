"""A resident's call for staff (呼叫工作人员) at this terminal, and the hub's answer.

:meth:`HelpCall.call` raises the ``help_requested`` alarm and asks the sync agent for a heartbeat at once,
so the hub's fleet hears of it within a moment (heartbeats carry the active alarms). When someone at the
hub answers, a ``help_coming`` command brings their name (:meth:`HelpCall.on_command`): the call is
answered, the alarm cleared (the next heartbeat tells the hub), and the ``on_answer`` callables (the
kiosk's pages) learn who is coming. Staff signing in at the kiosk ends a call too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from edge.store.alarms import Alarms
from protocol.envelope import Envelope, utcnow
from protocol.state import Command, CommandName

__all__ = ["ALARM", "Answer", "HelpCall"]

log = logging.getLogger(__name__)
ALARM = "help_requested"


@dataclass(frozen=True, slots=True)
class Answer:
    responder: str
    at: datetime


class HelpCall:
    def __init__(self, alarms: Alarms, poke: Callable[[], None], message: str = "") -> None:
        """``poke``: ask for a heartbeat now; ``message``: the alarm's text for the terminal's own log."""
        self._alarms = alarms
        self._poke = poke
        self._message = message
        self._lock = threading.Lock()
        self._answer: Answer | None = None
        self.on_answer: list[Callable[[Answer], None]] = []

    @property
    def answer(self) -> Answer | None:
        """Who answered the latest call, if anyone has."""
        with self._lock:
            return self._answer

    def call(self) -> None:
        """A resident asked for staff: a new call, unanswered."""
        with self._lock:
            self._answer = None
        self._alarms.raise_(ALARM, self._message)
        self._poke()

    def ended(self) -> None:
        """Staff are here (signed in at the kiosk): the call is over."""
        self._alarms.clear(ALARM)
        self._poke()

    def on_command(self, message: Envelope) -> None:
        """The sync agent's handler of ``help_coming``: the hub answered."""
        if not isinstance(message, Command) or message.body.command is not CommandName.HELP_COMING:
            return
        answer = Answer(message.body.responder, utcnow())
        with self._lock:
            repeated = self._answer is not None and self._answer.responder == answer.responder
            self._answer = answer
        self._alarms.clear(ALARM)
        self._poke()
        if repeated:
            return  # the hub sent its answer again before it heard the alarm had gone
        log.info("the hub answered the call for staff")
        for notify in self.on_answer:
            try:
                notify(answer)
            except Exception:
                log.exception("telling the pages who is coming failed")
