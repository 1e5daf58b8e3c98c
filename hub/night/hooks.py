"""Wiring the night's ingest hooks into a :class:`~hub.ingest.handler.Handler`."""

from __future__ import annotations

from hub.ingest.handler import Handler
from hub.night.reconcile import Reconciler
from hub.night.results import on_report
from hub.night.witness import on_segment
from protocol.envelope import MessageType

__all__ = ["attach"]


def attach(handler: Handler) -> None:
    """Answer reconciliations, keep nightly results and audit segments, in ingest's transaction like every message."""
    handler.hooks.setdefault(MessageType.RECONCILE_REQUEST, []).append(Reconciler(tags=handler.event_tags).on_request)
    handler.hooks.setdefault(MessageType.NIGHT_REPORT, []).append(on_report)
    handler.hooks.setdefault(MessageType.AUDIT_SEGMENT, []).append(on_segment)
