"""Catalogue publishing as desired and reported state (the device-shadow idea), in four messages.

1. The hub keeps a retained :class:`CatalogueAnnouncement` on ``shegong/v1/catalogue``: the *desired*
   version, its content hash and the hash of its manifest. A terminal ignores an announcement whose
   version is not newer than what it runs, so an older announcement never overwrites a newer one (one
   of other content is reported as a failure: a hub restored from an older backup); it fetches the
   version it runs announced with other content (that number published again by such a hub).
2. A terminal that is behind sends a :class:`CatalogueRequest` on ``up/catalogue`` with a fresh
   correlation id, naming the version it wants and the version and content hash it runs. ``fetch``
   names item codes when it already holds the manifest; without ``fetch`` the hub sends the items that
   changed between the two versions (or the manifest alone when it cannot tell).
3. The hub answers with a :class:`CatalogueReply` on ``down/catalogue``: the same correlation id, a status
   and error, the full manifest, the departments and the items asked for (as many as fit one payload;
   ``complete`` says whether all did). The terminal checks every item against the manifest and asks
   again for what is still missing.
4. Having applied the version in one transaction, the terminal sends a :class:`CatalogueReport`: the
   *reported* version (also in every birth and heartbeat). A failure is reported too, with its error.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from protocol.catalogue import ITEM_CODE, CatalogueManifest, Department, ServiceItem, content_hash
from protocol.envelope import Envelope, Int64, MessageType, Strict

__all__ = [
    "AnnouncementBody",
    "CatalogueAnnouncement",
    "CatalogueReply",
    "CatalogueReplyBody",
    "CatalogueReport",
    "CatalogueReportBody",
    "CatalogueRequest",
    "CatalogueRequestBody",
    "MAX_FETCH",
    "ReplyStatus",
    "ReportStatus",
    "manifest_hash",
]

ItemCode = Annotated[str, Field(pattern=ITEM_CODE)]
MAX_FETCH = 2000
"""Item codes one request names; a terminal missing more asks for the rest in the next."""


def manifest_hash(manifest: CatalogueManifest) -> str:
    """Hash of a manifest (``sha256:`` hex of its canonical JSON): a terminal checks a manifest it receives."""
    return content_hash(manifest)


class AnnouncementBody(Strict):
    version: Int64 = Field(ge=1, description="desired catalogue version")
    content_hash: str = Field(description="Catalogue.content_hash() of that version")
    manifest_hash: str = Field(description="manifest_hash() of its manifest")
    items: Int64 = Field(ge=0, description="number of items, for people reading the broker")
    published_at: AwareDatetime


class CatalogueAnnouncement(Envelope):
    """Retained on ``shegong/v1/catalogue``; ``terminal`` is ``hub``."""

    message_type: ClassVar[MessageType] = MessageType.CATALOGUE_ANNOUNCE
    type: Literal[MessageType.CATALOGUE_ANNOUNCE] = MessageType.CATALOGUE_ANNOUNCE
    body: AnnouncementBody


class CatalogueRequestBody(Strict):
    correlation_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="repeated in the reply")
    version: Int64 = Field(ge=1, description="the version wanted (the one announced)")
    have_version: Int64 = Field(ge=0, description="the version the terminal runs")
    have_hash: str = Field(default="", description="content hash of what the terminal runs")
    fetch: list[ItemCode] | None = Field(
        default=None, max_length=MAX_FETCH, description="item codes wanted; None: the items changed since have_version"
    )


class CatalogueRequest(Envelope):
    message_type: ClassVar[MessageType] = MessageType.CATALOGUE_REQUEST
    type: Literal[MessageType.CATALOGUE_REQUEST] = MessageType.CATALOGUE_REQUEST
    body: CatalogueRequestBody


class ReplyStatus(enum.StrEnum):
    OK = "ok"
    ERROR = "error"  # e.g. the version asked for is not published (any more)


class CatalogueReplyBody(Strict):
    correlation_id: uuid.UUID
    status: ReplyStatus = ReplyStatus.OK
    error: str = Field(default="", max_length=300)
    version: Int64 = Field(ge=0)
    manifest: CatalogueManifest | None = None
    departments: list[Department] = Field(default_factory=list)
    items: list[ServiceItem] = Field(default_factory=list)
    complete: bool = Field(default=True, description="false when not every item asked for fitted this reply")


class CatalogueReply(Envelope):
    message_type: ClassVar[MessageType] = MessageType.CATALOGUE_REPLY
    type: Literal[MessageType.CATALOGUE_REPLY] = MessageType.CATALOGUE_REPLY
    body: CatalogueReplyBody


class ReportStatus(enum.StrEnum):
    APPLIED = "applied"
    FAILED = "failed"


class CatalogueReportBody(Strict):
    correlation_id: uuid.UUID | None = Field(default=None, description="the request this report closes")
    version: Int64 = Field(ge=0, description="the version the terminal runs now (0: the shipped seed)")
    content_hash: str = ""
    status: ReportStatus = ReportStatus.APPLIED
    error: str = Field(default="", max_length=300, description="why applying failed")
    failed_version: Int64 = Field(default=0, ge=0, description="the version that could not be applied")
    applied_at: AwareDatetime


class CatalogueReport(Envelope):
    message_type: ClassVar[MessageType] = MessageType.CATALOGUE_REPORT
    type: Literal[MessageType.CATALOGUE_REPORT] = MessageType.CATALOGUE_REPORT
    body: CatalogueReportBody
