"""The terminal as a witness of the hub's audit chain, and its own chain's copy at the hub (issue 15).

- :meth:`Witness.on_anchor` (a retained handler of the sync agent) keeps each signed daily anchor the hub
  publishes on ``shegong/v1/hub/anchor``: the first of each day; a different one for a day already held
  is logged and not taken (the hub's history does not change). An anchor is kept only when it carries the
  signature of the hub's audit key (``hub_audit_public_key``): anything else that got to publish on the
  topic could otherwise take a day before the hub's own anchor, which would then be refused. One that
  fails is logged and raises the ``anchor_refused`` alarm (in every heartbeat, on the fleet dashboard),
  cleared when the hub's next anchor is kept. A terminal set up before the key was given to terminals
  keeps anchors unchecked, with a warning; once the key is set, an anchor kept unchecked that is not the
  hub's gives way to the hub's own of that day.
- :meth:`Witness.upload` (the night's ``audit`` step) sends this terminal's audit entries the hub does not
  hold yet, with the anchors kept here, in :class:`~protocol.witness.AuditSegment` messages; the hub
  answers with the last entry it holds in an unbroken chain, from which the next one starts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Engine, RowMapping, delete
from sqlalchemy.dialects.sqlite import insert
from sqlmodel import col, select

from edge.errors import EdgeError
from edge.night.link import AgentLink
from edge.store import audit
from edge.store.alarms import Alarms
from edge.store.db import read_counter, set_counter
from edge.store.models import AuditEntryRow, HubAnchorRow
from edge.text import text as words
from protocol import topics
from protocol.codec import decode
from protocol.envelope import Envelope, ProtocolError, utcnow
from protocol.witness import (
    MAX_ANCHORS,
    MAX_ENTRIES,
    AnchorBody,
    AuditSegment,
    AuditSegmentBody,
    HubAnchor,
    SegmentEntry,
    WitnessRequest,
    anchor_signed,
)

__all__ = ["ANCHOR_ALARM", "Witness"]

log = logging.getLogger(__name__)
_SENT = "audit_sent_id"  # meta counter: the last entry of ours the hub said it holds
ANCHOR_ALARM = "anchor_refused"


class HubRefusedSegment(EdgeError):
    """The hub's copy of this terminal's chain does not go as far as what was sent: a break it reports."""


class Witness:
    """``hub_key``: the hub's audit verification key (hex), or "" to keep anchors unchecked."""

    def __init__(self, engine: Engine, terminal: str, hub_key: str, alarms: Alarms) -> None:
        self._engine = engine
        self._terminal = terminal
        self._hub_key = hub_key
        self._alarms = alarms
        self._warned = False

    def on_anchor(self, payload: bytes) -> list[tuple[str, bytes]]:
        if not payload:
            return []
        try:
            message = decode(payload, ignore_unknown=True)  # the hub may be newer (protocol.codec)
        except ProtocolError as exc:
            log.error("refused a hub anchor: %s", exc)
            return []
        if not isinstance(message, HubAnchor):
            return []
        self.keep(message.body)
        return []

    def on_request(self, message: Envelope) -> list[tuple[str, bytes]]:
        """The hub asks for the anchors kept here (``shegong hub audit verify --witnesses``): answer at once
        with an audit segment of no entries, carrying them and the request's correlation id."""
        if not isinstance(message, WitnessRequest):
            return []
        with self._engine.connect() as conn:
            after = read_counter(conn, _SENT)
            key = audit.key_of(conn)
        body = AuditSegmentBody(
            correlation_id=message.body.correlation_id,
            after_id=after,
            anchors=self.anchors(),
            public_key=None if key is None else key.public_hex,
        )
        answer = AuditSegment(terminal=self._terminal, sent_at=utcnow(), body=body)
        log.info("the hub asked for the anchors witnessed here: %d sent", len(body.anchors))
        return [(topics.up(self._terminal, topics.Up.AUDIT), answer.encode())]

    def keep(self, a: AnchorBody, at: datetime | None = None) -> bool:
        """Keep ``a`` unless it is not signed with the hub's audit key or an anchor of its day is held; True
        when it was kept."""
        if self._hub_key and not anchor_signed(self._hub_key, a):
            log.error(
                "refused a hub anchor of %s: not signed with the hub's audit key (hub_audit_public_key); "
                "something other than the hub published on %s (check the broker's ACL)",
                a.day,
                topics.hub_anchor(),
            )
            self._alarms.raise_(ANCHOR_ALARM, words("alarm.anchor_refused", day=a.day.isoformat()))
            return False
        if not self._hub_key and not self._warned:
            self._warned = True
            log.warning(
                "hub_audit_public_key is not set: the hub's audit anchors are kept without checking their "
                "signature; set it to what `shegong hub keys audit-public` prints"
            )
        with self._engine.begin() as conn:
            held = conn.execute(select(HubAnchorRow).where(HubAnchorRow.day == a.day.isoformat())).mappings().first()
            if held is not None:
                kept = _body(held)
                if kept == a:
                    return False
                if not self._hub_key or anchor_signed(self._hub_key, kept):
                    if (kept.head, kept.entries) != (a.head, a.entries):
                        log.error("the hub published a different anchor for %s than the one kept here", a.day)
                    return False
                # Kept unchecked before the hub's key was set here, and not the hub's: the hub's own takes its place.
                log.warning("the anchor of %s kept unchecked is not the hub's: replaced by the hub's own", a.day)
                conn.execute(delete(HubAnchorRow).where(col(HubAnchorRow.day) == a.day.isoformat()))
            conn.execute(
                insert(HubAnchorRow).values(
                    day=a.day.isoformat(),
                    entries=a.entries,
                    last_id=a.last_id,
                    head_hash=a.head,
                    at=a.at,
                    signature=a.signature,
                    received_at=at or utcnow(),
                )
            )
        if self._hub_key:
            self._alarms.clear(ANCHOR_ALARM)
        return True

    def anchors(self) -> list[AnchorBody]:
        """The anchors kept here, newest last (at most the protocol's bound, the newest ones)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(HubAnchorRow).order_by(col(HubAnchorRow.day).desc()).limit(MAX_ANCHORS)
            ).mappings()
            return [_body(r) for r in reversed(list(rows))]

    def upload(self, link: AgentLink, clock_now: datetime) -> Mapping[str, int]:
        """Send the entries the hub lacks and the anchors kept here; returns counts."""
        anchors = self.anchors()
        sent = 0
        rounds = 0
        while True:
            with self._engine.connect() as conn:
                after = read_counter(conn, _SENT)
                rows = conn.execute(
                    select(AuditEntryRow)
                    .where(col(AuditEntryRow.id) > after)
                    .order_by(col(AuditEntryRow.id))
                    .limit(MAX_ENTRIES)
                ).mappings()
                entries = [
                    SegmentEntry(
                        id=r["id"],
                        at=r["at"],
                        actor=r["actor"],
                        action=r["action"],
                        subject=r["subject"],
                        data=r["data"],
                        prev_hash=r["prev_hash"],
                        hash=r["hash"],
                        sig=r["sig"],
                    )
                    for r in rows
                ]
                key = audit.key_of(conn)
            body = AuditSegmentBody(
                after_id=after,
                entries=entries,
                anchors=anchors if rounds == 0 else [],
                public_key=None if key is None else key.public_hex,
            )
            message = AuditSegment(terminal=self._terminal, sent_at=clock_now, body=body)
            reply, _ = link.ask(message, body.correlation_id, topics.Up.AUDIT)
            rounds += 1
            held = reply.body.audit_last_id
            with self._engine.begin() as conn:
                set_counter(conn, _SENT, held)
            if entries and held < entries[-1].id:
                raise HubRefusedSegment(
                    f"the hub holds this terminal's chain up to entry {held} only (sent up to {entries[-1].id})"
                )
            sent += len(entries)
            if len(entries) < MAX_ENTRIES:
                return {"entries": sent, "anchors": len(anchors), "hub_holds_to": held}


def _body(r: RowMapping) -> AnchorBody:
    """An anchor as kept here (a ``hub_anchors`` row)."""
    return AnchorBody(
        day=datetime.strptime(r["day"], "%Y-%m-%d").date(),
        entries=r["entries"],
        last_id=r["last_id"],
        head=r["head_hash"],
        at=r["at"],
        signature=r["signature"],
    )
