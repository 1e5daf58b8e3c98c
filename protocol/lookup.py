"""Holder lookups: how a terminal finds a resident's own cases without being able to test ID numbers.

An ID number has little entropy (region, birth date, a three-digit sequence, a check digit): any key a
terminal could compute from an ID number and what is on its own disk, a thief with that disk could
compute for every plausible number in seconds, and so link a person to what they applied for. So a
case's ``holder_key`` is ``HMAC-SHA256(K, id_number)`` under a *lookup key* ``K`` (32 bytes, one per
terminal) that the hub holds and the terminal keeps in memory only:

1. On every connect the terminal sends a :class:`LookupRequest` on ``up/lookup`` with a fresh
   correlation id, listing (up to 1,000) of its cases the hub has acked and it holds no holder key for.
2. The hub answers with a :class:`LookupReply` on ``down/lookup``: the same correlation id, a status,
   the terminal's ``key`` and the holder key of each listed case it has from this terminal (it opened
   the case, so it knows the ID number). The broker's ACL lets only that terminal read it.
3. Every ``ack`` of a case batch carries ``holder_keys`` for the cases it acks, so a case accepted while
   the terminal had no ``K`` (it restarted during an outage) gets its holder key once it reaches the hub.

Holder keys are 64 lowercase hex characters; ``K`` travels as URL-safe base64 of its 32 bytes.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import uuid
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from protocol.envelope import Envelope, MessageType, Strict

__all__ = [
    "KEY_BYTES",
    "HolderKey",
    "LookupReply",
    "LookupReplyBody",
    "LookupRequest",
    "LookupRequestBody",
    "LookupStatus",
    "decode_key",
    "encode_key",
    "holder_key",
]

KEY_BYTES = 32
MAX_CASES = 1000
HolderKey = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="HMAC-SHA256(K, id_number), hex")]


def holder_key(key: bytes, id_number: str) -> str:
    """The holder key of ``id_number`` under the lookup key ``key``: HMAC-SHA256, lowercase hex."""
    return hmac.new(key, id_number.encode("ascii"), hashlib.sha256).hexdigest()


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str) -> bytes:
    """``K`` from its wire form; ValueError unless it is 32 bytes of URL-safe base64."""
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"lookup key is not URL-safe base64: {exc}") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"lookup key must be {KEY_BYTES} bytes, not {len(raw)}")
    return raw


class LookupRequestBody(Strict):
    correlation_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="repeated in the reply")
    cases: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=MAX_CASES,
        description="cases of this terminal the hub acked and the terminal holds no holder key for",
    )


class LookupRequest(Envelope):
    message_type: ClassVar[MessageType] = MessageType.LOOKUP_REQUEST
    type: Literal[MessageType.LOOKUP_REQUEST] = MessageType.LOOKUP_REQUEST
    body: LookupRequestBody


class LookupStatus(enum.StrEnum):
    OK = "ok"
    ERROR = "error"


class LookupReplyBody(Strict):
    correlation_id: uuid.UUID
    status: LookupStatus = LookupStatus.OK
    error: str = Field(default="", max_length=300)
    key: str = Field(
        default="",
        pattern=r"^([A-Za-z0-9_-]{43}=)?$",
        description="the terminal's lookup key K (URL-safe base64 of 32 bytes); the terminal keeps it in memory only",
    )
    holder_keys: dict[uuid.UUID, HolderKey] = Field(
        default_factory=dict, description="holder key of each case asked for that the hub has from this terminal"
    )


class LookupReply(Envelope):
    message_type: ClassVar[MessageType] = MessageType.LOOKUP_REPLY
    type: Literal[MessageType.LOOKUP_REPLY] = MessageType.LOOKUP_REPLY
    body: LookupReplyBody
