"""Answers to terminals' catalogue requests, inside the ingest transaction (a hook of the Handler).

A request names the version wanted and what the terminal runs (version and content hash). Without a
``fetch`` list the hub sends the items that differ from the published version with that content hash,
or just the manifest when it knows no such version (the terminal then asks for items by code). Replies
never exceed the payload limit: what does not fit is left for the terminal's next request.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection

from hub.catalogue.store import CatalogueStore
from hub.errors import NotFound
from protocol import topics
from protocol.catalogue import ServiceItem
from protocol.catalogue_sync import CatalogueReply, CatalogueReplyBody, CatalogueRequest, ReplyStatus
from protocol.envelope import MAX_PAYLOAD_BYTES, Envelope

__all__ = ["CatalogueRequests"]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]
_SLACK = 1024  # what the reply's encoding may add beyond the sizes counted (the list's commas, its flag)


class CatalogueRequests:
    def __init__(self, store: CatalogueStore) -> None:
        self.store = store
        self.replies = 0

    def on_request(self, conn: Connection, message: Envelope, at: datetime) -> list[Outgoing]:
        if not isinstance(message, CatalogueRequest):
            return []
        r = message.body
        topic = topics.down(message.terminal, topics.Down.CATALOGUE)
        try:
            wanted = self.store.published(r.version, conn)
        except NotFound as exc:
            body = CatalogueReplyBody(
                correlation_id=r.correlation_id, status=ReplyStatus.ERROR, error=str(exc), version=r.version
            )
            return [(topic, CatalogueReply(terminal=message.terminal, body=body).encode())]
        manifest = wanted.manifest
        if r.fetch is not None:
            codes = [code for code in dict.fromkeys(r.fetch) if code in manifest.items]
        else:
            base = self.store.version_with_hash(r.have_hash, conn)
            codes = manifest.diff(self.store.published(base, conn).manifest.items)[0] if base is not None else []
        bare = CatalogueReplyBody(
            correlation_id=r.correlation_id,
            version=r.version,
            manifest=manifest,
            departments=list(wanted.catalogue.departments),
            complete=not codes,
        )
        # The room for items is what the manifest, the departments and the envelope leave: a fixed share
        # left a 1,000-item catalogue's replies over the limit, refused by every terminal (a review).
        room = MAX_PAYLOAD_BYTES - len(CatalogueReply(terminal=message.terminal, body=bare).encode()) - _SLACK
        if room < 0:
            log.error(
                "catalogue version %d cannot be sent: its manifest of %d items alone exceeds a message",
                r.version,
                len(manifest.items),
            )
            error = f"version {r.version}: {len(manifest.items)} items are more than one message carries"
            body = bare.model_copy(update={"status": ReplyStatus.ERROR, "error": error, "manifest": None})
            return [(topic, CatalogueReply(terminal=message.terminal, body=body).encode())]
        items: list[ServiceItem] = []
        size = 0
        for code in codes:
            size += wanted.sizes[code] + 1
            if size > room:
                break
            items.append(wanted.catalogue.item(code))
        body = bare.model_copy(update={"items": items, "complete": len(items) == len(codes)})
        self.replies += 1
        return [(topic, CatalogueReply(terminal=message.terminal, body=body).encode())]
