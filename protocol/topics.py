"""Typed topic builders and the one parser of topics: every topic string of the system is made here."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = [
    "ROOT",
    "Down",
    "TopicError",
    "TerminalTopic",
    "Up",
    "calendar",
    "catalogue",
    "down",
    "hub_anchor",
    "hub_state",
    "parse",
    "sender",
    "state",
    "subscriptions_edge",
    "subscriptions_hub",
    "up",
    "valid_terminal_id",
]

ROOT = "shegong/v1"
_TERMINAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Up(enum.StrEnum):
    """Edge → hub channels below ``shegong/v1/t/T/up/``."""

    CASES = "cases"
    HEALTH = "health"
    RATINGS = "ratings"
    AUDIT = "audit"
    RECONCILE = "reconcile"
    CATALOGUE = "catalogue"
    LOOKUP = "lookup"


class Down(enum.StrEnum):
    """Hub → edge channels below ``shegong/v1/t/T/down/``."""

    ACKS = "acks"
    EVENTS = "events"
    COMMANDS = "commands"
    RECONCILE = "reconcile"
    CATALOGUE = "catalogue"
    LOOKUP = "lookup"
    AUDIT = "audit"


class TopicError(ValueError):
    """A topic that is not ours or names an impossible terminal."""


def valid_terminal_id(terminal: str) -> bool:
    """Terminal ids fill one whole topic level (broker ACLs use ``%u``): letters, digits, ``-``, ``_``."""
    return bool(_TERMINAL_ID.match(terminal))


def _terminal(terminal: str) -> str:
    if not valid_terminal_id(terminal):
        raise TopicError(f"invalid terminal id {terminal!r}")
    return f"{ROOT}/t/{terminal}"


def state(terminal: str) -> str:
    """Retained birth/death of one terminal (its Will is the death)."""
    return f"{_terminal(terminal)}/state"


def up(terminal: str, channel: Up) -> str:
    return f"{_terminal(terminal)}/up/{channel.value}"


def down(terminal: str, channel: Down) -> str:
    return f"{_terminal(terminal)}/down/{channel.value}"


def hub_state() -> str:
    """The hub consumer's retained online/offline state (its Will)."""
    return f"{ROOT}/hub/state"


def hub_anchor() -> str:
    """Retained: the hub's latest signed daily audit anchor, which every terminal keeps (protocol.witness)."""
    return f"{ROOT}/hub/anchor"


def catalogue() -> str:
    """Retained desired catalogue version and hash."""
    return f"{ROOT}/catalogue"


def calendar() -> str:
    """Retained: the hub's holiday calendar in force (protocol.workdays), which every terminal counts by."""
    return f"{ROOT}/hub/calendar"


def subscriptions_hub(share_group: str | None = None) -> list[str]:
    """What a hub ingest worker subscribes to, the terminals' up/ channels first and their states second;
    with a share group, as an MQTT v5 shared subscription."""
    filters = [f"{ROOT}/t/+/up/#", f"{ROOT}/t/+/state"]
    if share_group:
        return [f"$share/{share_group}/{f}" for f in filters]
    return filters


def subscriptions_edge(terminal: str) -> list[str]:
    """What a terminal subscribes to: its own down channels, the hub's state, the catalogue, the hub's
    daily audit anchor and its holiday calendar."""
    return [f"{_terminal(terminal)}/down/#", hub_state(), catalogue(), hub_anchor(), calendar()]


@dataclass(frozen=True, slots=True)
class TerminalTopic:
    """A parsed terminal topic: ``kind`` is ``state``, ``up`` or ``down``; ``channel`` is set for up/down."""

    terminal: str
    kind: str
    channel: Up | Down | None


def parse(topic: str) -> TerminalTopic:
    """Parse a per-terminal topic; raise :class:`TopicError` for anything else."""
    parts = topic.split("/")
    if parts[:3] != ["shegong", "v1", "t"] or len(parts) < 5 or not valid_terminal_id(parts[3]):
        raise TopicError(f"not a terminal topic: {topic!r}")
    terminal, kind = parts[3], parts[4]
    try:
        if kind == "state" and len(parts) == 5:
            return TerminalTopic(terminal, kind, None)
        if kind == "up" and len(parts) == 6:
            return TerminalTopic(terminal, kind, Up(parts[5]))
        if kind == "down" and len(parts) == 6:
            return TerminalTopic(terminal, kind, Down(parts[5]))
    except ValueError as exc:
        raise TopicError(f"unknown channel in {topic!r}") from exc
    raise TopicError(f"not a terminal topic: {topic!r}")


def sender(topic: str) -> str | None:
    """The terminal a topic under ``…/t/<terminal>/`` belongs to, whatever follows (an unknown channel
    too), or None. The broker's ACL lets a terminal write only there, so the hub can hold a refused
    message to its sender's account even when the rest of the topic makes no sense."""
    parts = topic.split("/", 4)
    if parts[:3] == ["shegong", "v1", "t"] and len(parts) > 4 and valid_terminal_id(parts[3]):
        return parts[3]
    return None
