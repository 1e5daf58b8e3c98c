"""Births, deaths, the hub's own state and commands: who is listening, and since when.

Taken from Sparkplug B: a terminal's death is its MQTT Will and carries the ``bd_seq`` of the session it
ends; the next birth carries a new ``bd_seq``. The hub ignores a death whose ``bd_seq`` is not the one of
the current birth, so a late Will never marks a live terminal offline.
"""

from __future__ import annotations

import enum
import uuid
from typing import ClassVar, Literal

from pydantic import Field

from protocol.envelope import Envelope, Int64, MessageType, Strict

__all__ = [
    "Birth",
    "BirthBody",
    "Command",
    "CommandBody",
    "CommandName",
    "Death",
    "DeathBody",
    "HubState",
    "HubStateBody",
]


class BirthBody(Strict):
    bd_seq: Int64 = Field(ge=0, description="session epoch; grows at every connect")
    app_version: str = ""
    catalogue_version: Int64 = 0
    events_watermark: Int64 = Field(default=0, ge=0, description="highest hub event id applied at the terminal")
    outbox_depth: Int64 = Field(default=0, ge=0)


class Birth(Envelope):
    message_type: ClassVar[MessageType] = MessageType.BIRTH
    type: Literal[MessageType.BIRTH] = MessageType.BIRTH
    body: BirthBody


class DeathBody(Strict):
    bd_seq: Int64 = Field(ge=0)


class Death(Envelope):
    """Set as the Will at connect, so the broker publishes it when the link dies."""

    message_type: ClassVar[MessageType] = MessageType.DEATH
    type: Literal[MessageType.DEATH] = MessageType.DEATH
    body: DeathBody


class HubStateBody(Strict):
    online: bool
    instance: str = Field(default="", description="which hub worker")


class HubState(Envelope):
    message_type: ClassVar[MessageType] = MessageType.HUB_STATE
    type: Literal[MessageType.HUB_STATE] = MessageType.HUB_STATE
    body: HubStateBody


class CommandName(enum.StrEnum):
    REBIRTH = "rebirth"  # publish a birth again and resend every unacked item
    RESYNC = "resync"  # resend every unacked item
    HELP_COMING = "help_coming"  # a resident's call for staff was answered: ``responder`` is on the way


class CommandBody(Strict):
    command: CommandName
    correlation_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    reason: str = ""
    responder: str = Field(
        default="", max_length=64, description="help_coming: the name of who answered the call and is coming"
    )


class Command(Envelope):
    message_type: ClassVar[MessageType] = MessageType.COMMAND
    type: Literal[MessageType.COMMAND] = MessageType.COMMAND
    body: CommandBody
