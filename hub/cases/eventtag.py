"""Tags on the case events the hub sends, so that a terminal's copy of them can be told from a forgery.

A terminal keeps the events of its cases with their tags. When the hub is restored from an older backup
it has lost the events made since; the night's reconciliation finds that terminals hold newer versions
and asks them for those events back (round 3, :mod:`hub.night.reconcile`). A terminal holding MQTT
credentials could otherwise write any state into the hub that way ("completed", with a note of its
own). Only events carrying the hub's tag are restored. The key is derived from the hub's private case
key, as terminals' lookup keys are (:mod:`hub.cases.lookup`), so every process of the hub derives the
same one, nothing new is stored, and a terminal, which holds only the public half, cannot make one:

    key = SHA-256("shegong/event-tag/v1" || 0x00 || case private key)
    tag = HMAC-SHA256(key, JSON [case id, version, status, at (UTC, microseconds), note]) as 64 hex digits
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC

from nacl.public import PrivateKey

from protocol.cases import CaseEvent

__all__ = ["EventTags"]

_DOMAIN = b"shegong/event-tag/v1\x00"


class EventTags:
    def __init__(self, case_key: PrivateKey) -> None:
        self._key = hashlib.sha256(_DOMAIN + bytes(case_key)).digest()

    def tag(self, event: CaseEvent) -> str:
        """The tag of what a terminal keeps of ``event`` (its department and due date it does not keep)."""
        facts = [
            str(event.case_id),
            event.version,
            event.status.value,
            event.at.astimezone(UTC).isoformat(timespec="microseconds"),
            event.note,
        ]
        text = json.dumps(facts, ensure_ascii=False, separators=(",", ":"))
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def tagged(self, events: Sequence[CaseEvent]) -> list[CaseEvent]:
        """``events``, each with its tag."""
        return [e.model_copy(update={"tag": self.tag(e)}) for e in events]

    def genuine(self, event: CaseEvent) -> bool:
        """Whether ``event`` carries the tag the hub gave it: the same facts, sent by this hub."""
        return hmac.compare_digest(event.tag, self.tag(event))
