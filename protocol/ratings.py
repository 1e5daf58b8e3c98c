"""Satisfaction ratings (好差评, five levels) from the kiosk to the hub, one per case or visit."""

from __future__ import annotations

import enum
import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from protocol.envelope import Envelope, MessageType, Strict

__all__ = ["BAD_LEVELS", "Rating", "RatingBatch", "RatingBatchBody", "RatingLevel"]


class RatingLevel(enum.IntEnum):
    """The national five levels; the labels (非常满意 … 非常不满意) live in the message catalogues."""

    VERY_SATISFIED = 5  # 非常满意
    SATISFIED = 4  # 满意
    BASICALLY_SATISFIED = 3  # 基本满意
    DISSATISFIED = 2  # 不满意
    VERY_DISSATISFIED = 1  # 非常不满意


BAD_LEVELS = frozenset({RatingLevel.DISSATISFIED, RatingLevel.VERY_DISSATISFIED})
"""差评: each gets a return call and rectification at the centre."""


class Rating(Strict):
    rating_id: uuid.UUID = Field(description="made at the terminal; the hub upserts by it")
    case_id: uuid.UUID | None = Field(default=None, description="the case rated; None for a visit without one")
    receipt_no: str = Field(default="", max_length=40)
    item_code: str = Field(default="", max_length=64)
    committee: str = Field(min_length=1, max_length=16)
    level: RatingLevel
    reason: str = Field(
        default="",
        max_length=500,
        description="the resident's words in clear: only from terminals before sealed_reason",
    )
    sealed_reason: str = Field(
        default="",
        max_length=4400,  # 500 characters at their longest in JSON (\\u0001: 6 bytes), sealed, base64
        description="the resident's words (up to 500 characters), sealed to the hub's case key, bound to rating_id"
        " (protocol.sealed.Sealer.seal_text): a stolen terminal cannot read what it has queued",
    )
    rated_at: AwareDatetime


class RatingBatchBody(Strict):
    ratings: list[Rating] = Field(min_length=1, max_length=1000)


class RatingBatch(Envelope):
    message_type: ClassVar[MessageType] = MessageType.RATING_BATCH
    type: Literal[MessageType.RATING_BATCH] = MessageType.RATING_BATCH
    body: RatingBatchBody
