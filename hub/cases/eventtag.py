"""Tags on the case events the hub sends, so that a terminal's copy of them can be told from a forgery.

A terminal keeps the events of its cases with their tags. When the hub is restored from an older backup
it has lost the events made since; the night's reconciliation finds that terminals hold newer versions
and asks them for those events back (round 3, :mod:`hub.night.reconcile`). A terminal holding MQTT
credentials could otherwise write any state into the hub that way ("completed", with a note of its
own). Only events carrying the hub's tag are restored. The key is derived from the hub's private case
key, as terminals' lookup keys are (:mod:`hub.cases.lookup`), so every process of the hub derives the
same one, nothing new is stored, and a terminal, which holds only the public half, cannot make one:

    key = SHA-256("shegong/event-tag/v1" || 0x00 || case private key)
    tag = HMAC-SHA256(key, case id || 0x1F || version || 0x1F || status || 0x1F || at || 0x1F || note)

as 64 hex digits; the case id in its 36-character form, version and ``at`` (microseconds since 1970-01-01
UTC) in decimal, the note in UTF-8. Only the note is free text, and it comes last: no two events give the
same bytes. It is made once per event sent, so it is made cheaply (a few µs): the hub's first event of
each case is made with its tag (:meth:`EventTags.tag_of`, from the row's values).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from nacl.public import PrivateKey

from hub import casekey
from protocol.cases import CaseEvent

__all__ = ["EventTags"]

_DOMAIN = b"shegong/event-tag/v1\x00"


_EPOCH, _MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)


class EventTags:
    def __init__(self, case_key: PrivateKey) -> None:
        self._key = casekey.derive(case_key, _DOMAIN)

    def tag_of(self, case_id: str, version: int, status: str, at: datetime, note: str) -> str:
        """The tag of an event with these values (what a terminal keeps of it)."""
        facts = b"%s\x1f%d\x1f%s\x1f%d\x1f%s" % (
            case_id.encode("ascii"),
            version,
            status.encode("ascii"),
            (at - _EPOCH) // _MICROSECOND,
            note.encode("utf-8"),
        )
        return hmac.digest(self._key, facts, "sha256").hex()

    def tag(self, event: CaseEvent) -> str:
        """The tag of ``event`` (its department and due date a terminal does not keep)."""
        return self.tag_of(str(event.case_id), event.version, event.status.value, event.at, event.note)

    def tagged(self, events: Sequence[CaseEvent]) -> list[CaseEvent]:
        """``events``, each with its tag (those made with one are kept as they are)."""
        return [e if e.tag else e.model_copy(update={"tag": self.tag(e)}) for e in events]

    def genuine(self, event: CaseEvent) -> bool:
        """Whether ``event`` carries the tag the hub gave it: the same facts, sent by this hub."""
        return hmac.compare_digest(event.tag, self.tag(event))
