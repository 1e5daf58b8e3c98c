"""Each terminal's lookup key, held here and not on the terminal (see :mod:`protocol.lookup`).

A terminal's lookup key ``K`` is derived from the hub's private case key, so every ingest worker
derives the same one and nothing new is stored or provisioned:

    master = SHA-256("shegong/holder-lookup/v1" || 0x00 || case private key)
    K(T)   = HMAC-SHA256(master, terminal id T)

A thief holding a terminal's disk has neither: holder keys on it cannot be tested against ID numbers.
The case key never changes (``shegong hub keys init`` refuses to replace it), so neither does ``K``.

:meth:`HolderLookup.holder_keys` fills the ``holder_keys`` of a case batch's ack;
:meth:`HolderLookup.on_request` (an ingest hook) answers a terminal's :class:`LookupRequest` with its
``K`` and the holder keys of the cases it lists that the hub has *from that terminal*.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from nacl.public import PrivateKey
from sqlalchemy import Connection, select

from hub import casekey
from hub.db.models import CaseRow, table
from protocol import topics
from protocol.envelope import Envelope
from protocol.lookup import LookupReply, LookupReplyBody, LookupRequest, encode_key, holder_key

__all__ = ["HolderLookup"]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]
_cases = table(CaseRow)
_DOMAIN = b"shegong/holder-lookup/v1\x00"


class HolderLookup:
    def __init__(self, case_key: PrivateKey) -> None:
        self._master = casekey.derive(case_key, _DOMAIN)

    def key_for(self, terminal: str) -> bytes:
        """Terminal ``terminal``'s lookup key ``K``."""
        return hmac.new(self._master, terminal.encode("ascii"), hashlib.sha256).digest()

    def holder_keys(self, terminal: str, cases: Iterable[tuple[uuid.UUID, str]]) -> dict[uuid.UUID, str]:
        """``{case id: holder key}`` for cases (case id, ID number) of ``terminal``."""
        key = self.key_for(terminal)
        return {case_id: holder_key(key, id_number) for case_id, id_number in cases}

    def on_request(self, conn: Connection, message: Envelope, at: datetime) -> list[Outgoing]:
        """Answer a :class:`LookupRequest`: the terminal's ``K``, and the holder keys of the listed cases
        that came from it (others' cases, and cases not here, are left out)."""
        if not isinstance(message, LookupRequest):
            return []
        terminal = message.terminal
        wanted = [str(c) for c in message.body.cases]
        rows = (
            conn.execute(
                select(_cases.c.case_id, _cases.c.id_number).where(
                    _cases.c.terminal_id == terminal, _cases.c.case_id.in_(wanted)
                )
            )
            .mappings()
            .all()
            if wanted
            else []
        )
        body = LookupReplyBody(
            correlation_id=message.body.correlation_id,
            key=encode_key(self.key_for(terminal)),
            holder_keys=self.holder_keys(terminal, [(uuid.UUID(str(r["case_id"])), str(r["id_number"])) for r in rows]),
        )
        log.info("lookup key for %s, with %d of %d holder key(s) asked for", terminal, len(rows), len(wanted))
        return [(topics.down(terminal, topics.Down.LOOKUP), LookupReply(terminal=terminal, body=body).encode())]
