"""Case submissions (edge → hub), acknowledgements after commit and case events (hub → edge)."""

from __future__ import annotations

import enum
import uuid
from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from protocol.envelope import DeadLetterReason, Envelope, Int64, MessageType, Strict
from protocol.lookup import HolderKey
from protocol.typed import RECEIPT_PATTERN

__all__ = [
    "Ack",
    "AckBody",
    "Applicant",
    "CaseBatch",
    "CaseBatchBody",
    "CaseEvent",
    "CaseEvents",
    "CaseEventsBody",
    "CaseStatus",
    "CaseSubmission",
    "Rejection",
    "SealedCase",
]

PHONE_PATTERN = r"^1[3-9]\d{9}$"
"""A mainland mobile number (11 digits), the only kind an SMS notice can reach."""


def _absent(value: object) -> bool:
    return value is None


def _empty(value: dict[object, object]) -> bool:
    return not value


class CaseStatus(enum.StrEnum):
    """States a centre really uses; their official terms are in :mod:`protocol.statuses`."""

    SUBMITTED = "submitted"  # 已提交
    ACCEPTED = "accepted"  # 已受理
    UNDER_REVIEW = "under_review"  # 审核中
    MORE_MATERIALS = "more_materials"  # 待补正
    COMPLETED = "completed"  # 已办结
    REFUSED = "refused"  # 不予受理: turned down at acceptance
    REJECTED = "rejected"  # 不予批准: decided against after review
    WITHDRAWN = "withdrawn"  # 已撤回


class Applicant(Strict):
    """The card holder's facts, as read from the card. The photo is never part of them."""

    id_number: str = Field(pattern=r"^[0-9]{17}[0-9X]$", description="GB 11643 number; check digit checked by the hub")
    name: str = Field(min_length=1, max_length=64)
    sex: Literal["M", "F", "U"] = "U"
    birth_date: date | None = None
    card_type: Literal["id_card", "sscard", "qr", "manual"] = "id_card"


class CaseSubmission(Strict):
    """One case as accepted at a terminal; identical on every redelivery."""

    case_id: uuid.UUID = Field(description="UUIDv7 made at the terminal; the hub upserts by it")
    receipt_no: str = Field(pattern=RECEIPT_PATTERN, description="committee code - YYYYMMDD - local sequence")
    query_code: str = Field(pattern=r"^[0-9A-Z]{6}$", description="printed on the receipt for public look-ups")
    item_code: str = Field(min_length=1, max_length=64)
    committee: str = Field(min_length=1, max_length=16)
    created_at: AwareDatetime = Field(description="terminal clock when the case was accepted")
    applicant: Applicant
    agent: str | None = Field(default=None, max_length=64, description="staff id for a case made on behalf (代办)")
    form: dict[str, str] = Field(default_factory=dict)
    materials: list[str] = Field(default_factory=list, description="materials ticked as received")
    notify_phone: str | None = Field(
        default=None,
        pattern=PHONE_PATTERN,
        exclude_if=_absent,
        description="mobile number the resident gave, consenting, for SMS notices of the case's progress; "
        "absent (as from older terminals): no notices",
    )
    item_hash: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        exclude_if=_absent,
        description="content hash of the item as the terminal accepted the case under it (ServiceItem."
        "content_hash): the hub promises and finishes the case by that item when it published it, as the "
        "receipt did, though another version came into force meanwhile; absent (older terminals): the "
        "catalogue in force at the hub",
    )


SEALED_MAX_CHARS = 64 * 1024
"""A case is a few kB; sealing adds 48 bytes and base64 a third. The envelope bounds the whole batch."""


CLOCK_FIX_MAX_S = 10 * 366 * 86400.0
"""The largest clock correction a terminal may report (a clock years off is not unusual without NTP)."""


class SealedCase(Strict):
    """One case as it waits in a terminal's outbox and travels: sealed to the hub's public key
    (:mod:`protocol.sealed`), with only its random id in clear for acks, rejections and duplicates."""

    case_id: uuid.UUID = Field(description="the case's id, in clear: the hub upserts and acks by it")
    sealed: str = Field(
        min_length=1,
        max_length=SEALED_MAX_CHARS,
        pattern=r"^[A-Za-z0-9_-]+={0,2}$",
        description="URL-safe base64 of a libsodium sealed box holding the CaseSubmission's JSON",
    )
    clock_fix_s: float | None = Field(
        default=None,
        ge=-CLOCK_FIX_MAX_S,
        le=CLOCK_FIX_MAX_S,
        allow_inf_nan=False,
        description="seconds the terminal's clock was set by after it accepted the case (same boot): the case"
        " was accepted at created_at plus this (a Raspberry Pi without a clock battery, set by NTP once its"
        " link came back)",
    )


class CaseBatchBody(Strict):
    cases: list[SealedCase] = Field(min_length=1, max_length=1000)


class CaseBatch(Envelope):
    message_type: ClassVar[MessageType] = MessageType.CASE_BATCH
    type: Literal[MessageType.CASE_BATCH] = MessageType.CASE_BATCH
    body: CaseBatchBody


class Rejection(Strict):
    """An item (or a whole message) the hub dead-lettered; the terminal parks it and raises an alarm."""

    item_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    reason: DeadLetterReason
    detail: str = ""


class AckBody(Strict):
    acked: list[uuid.UUID] = Field(default_factory=list, description="items committed at the hub (or already there)")
    rejected: list[Rejection] = Field(default_factory=list)
    in_reply_to: uuid.UUID | None = Field(default=None, description="id of the message answered")
    holder_keys: dict[uuid.UUID, HolderKey] = Field(
        default_factory=dict,
        description="holder key of each case acked (see protocol.lookup): a case accepted while the terminal had "
        "no lookup key gets its holder key here",
    )
    renumbered: dict[uuid.UUID, Annotated[str, Field(pattern=RECEIPT_PATTERN)]] = Field(
        default_factory=dict,
        exclude_if=_empty,
        description="cases acked under a receipt number of the hub's own: another case of the committee holds the "
        "printed one (this terminal gave it before and forgot it, its storage losing the last writes at a power "
        "cut); the printed number still finds the case. Absent when empty, so a terminal of an older release "
        "parses every ack without it",
    )


class Ack(Envelope):
    """Published only after the hub's commit; the only thing that clears an outbox row."""

    message_type: ClassVar[MessageType] = MessageType.ACK
    type: Literal[MessageType.ACK] = MessageType.ACK
    body: AckBody


class CaseEvent(Strict):
    """A state change of one case; ``version`` grows by one per change, ``event_id`` across the hub."""

    event_id: Int64 = Field(ge=1)
    case_id: uuid.UUID
    version: Int64 = Field(ge=1)
    status: CaseStatus
    at: AwareDatetime
    note: str = Field(default="", max_length=2000, description="reason the resident can read")
    department: str = ""
    due_date: date | None = None
    tag: str = Field(
        default="",
        max_length=64,
        description="the hub's tag of the event (hub.cases.eventtag): the terminal keeps it and sends it back with"
        " the event in reconciliation, where the hub restores only events it tagged",
    )


class CaseEventsBody(Strict):
    events: list[CaseEvent] = Field(min_length=1, max_length=1000)


class CaseEvents(Envelope):
    message_type: ClassVar[MessageType] = MessageType.CASE_EVENTS
    type: Literal[MessageType.CASE_EVENTS] = MessageType.CASE_EVENTS
    body: CaseEventsBody
