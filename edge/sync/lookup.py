"""The terminal's side of holder lookups (:mod:`protocol.lookup`): the lookup key, asked for on connect.

On every connect the terminal asks the hub for its lookup key ``K`` and for the holder keys of acked
cases that have none (after the schema change that cleared them, or if ``K`` changed). Each reply gives
``K`` (kept in the case store's memory only) and holder keys; while acked cases it has not asked about
yet still lack one, it asks again. Cases not yet at the hub get their holder key with their ack
(:meth:`edge.sync.agent.SyncAgent` hands it to the case store).

Runs in the sync agent's thread: ``on_online`` is one of its ``on_online`` hooks, ``on_reply`` its
handler of ``down/lookup``.
"""

from __future__ import annotations

import logging
import uuid

from edge.store.cases import CaseStore
from protocol import topics
from protocol.envelope import Envelope
from protocol.lookup import MAX_CASES, LookupReply, LookupRequest, LookupRequestBody, LookupStatus, decode_key

__all__ = ["LookupSync"]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]


class LookupSync:
    def __init__(self, cases: CaseStore, terminal: str, batch: int = MAX_CASES) -> None:
        self.cases = cases
        self.terminal = terminal
        self.batch = min(batch, MAX_CASES)
        self._asked: set[str] = set()  # this connection's: the hub's reply leaves out what it does not have

    def on_online(self) -> list[Outgoing]:
        """Ask for the lookup key (and holder keys that are missing) on every connect."""
        self._asked.clear()
        return [self._request(self.cases.missing_holder_keys(self.batch))]

    def on_reply(self, message: Envelope) -> list[Outgoing]:
        if not isinstance(message, LookupReply):
            return []
        body = message.body
        if body.status is not LookupStatus.OK:
            log.warning("the hub refused a lookup request: %s", body.error)
            return []
        try:
            key = decode_key(body.key)
        except ValueError as exc:
            log.error("lookup reply without a usable key: %s", exc)
            return []
        self.cases.set_lookup_key(key)
        filled = self.cases.set_holder_keys({str(c): k for c, k in body.holder_keys.items()})
        if filled:
            log.info("%d holder key(s) filled from the hub", filled)
        more = self.cases.missing_holder_keys(self.batch, exclude=self._asked)
        return [self._request(more)] if more else []

    def _request(self, case_ids: list[str]) -> Outgoing:
        self._asked.update(case_ids)
        body = LookupRequestBody(cases=[uuid.UUID(c) for c in case_ids])
        request = LookupRequest(terminal=self.terminal, body=body)
        return topics.up(self.terminal, topics.Up.LOOKUP), request.encode()
