"""The audit hash chain, as both sides keep it: how an entry is hashed and how a chain is checked.

An entry's hash covers the hash of the entry before it and the canonical JSON of its own fields, so
editing, removing or reordering any entry breaks the chain from there on. Removing the newest entries
leaves a shorter chain that still holds; an :class:`Anchor` (entry count, last id, head hash), moved in
the same transaction as every append and also copied off the machine, catches that.

The hub (``hub/audit/chain.py``) and the terminal (``edge/store/audit.py``) store their chains in their
own tables; both hash and check them here, so an entry means the same thing on either side (and in the
audit segments a terminal will send up). Pure: no I/O, no SQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "GENESIS",
    "Anchor",
    "AuditBroken",
    "Break",
    "Entry",
    "StoredEntry",
    "canonical_data",
    "entry_hash",
    "link",
    "walk",
]

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry about to be appended: when, who, what, to what, and details (no personal data)."""

    at: datetime
    actor: str
    action: str
    subject: str
    data: Mapping[str, Any]


class StoredEntry(Protocol):
    """An entry as read back from a table (a SQLAlchemy row has these attributes)."""

    @property
    def id(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def data(self) -> str: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Anchor:
    """How long the chain is and how it ends: ``entries`` entries, the last ``last_id`` with hash ``head``."""

    entries: int
    last_id: int
    head: str

    def __str__(self) -> str:
        return f"{self.entries}:{self.last_id}:{self.head}"

    def as_dict(self) -> dict[str, int | str]:
        return {"entries": self.entries, "last_id": self.last_id, "head": self.head}

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """The form :meth:`__str__` prints (``entries:last_id:head``), or the JSON of :meth:`as_dict`."""
        text = text.strip()
        try:
            if text.startswith("{"):
                d = json.loads(text)
                return cls(int(d["entries"]), int(d["last_id"]), str(d["head"]))
            entries, last_id, head = text.split(":")
            return cls(int(entries), int(last_id), head)
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"not an audit anchor (entries:last_id:head or its JSON): {text!r}") from None


class AuditBroken(Exception):
    """An audit chain (the terminal's or the hub's) does not hold: an entry was edited, removed or
    reordered, or its anchor is gone. The commands report it and exit non-zero."""

    is_user_error = True


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain stops holding: ``entry_id`` is the first entry that does not fit."""

    entry_id: int
    problem: str


def canonical_data(data: Mapping[str, Any]) -> str:
    """The stored (and hashed) form of an entry's details: compact JSON, keys sorted, UTF-8 kept."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def entry_hash(prev_hash: str, at: datetime, actor: str, action: str, subject: str, data: str) -> str:
    """sha256 of the canonical JSON array of the previous hash and the entry's stored fields."""
    canonical = json.dumps(
        [prev_hash, at.isoformat(), actor, action, subject, data], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def link(head: str, entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """The rows to store for ``entries`` appended after ``head``: each with its data, prev_hash and hash."""
    rows = []
    for e in entries:
        data = canonical_data(e.data)
        h = entry_hash(head, e.at, e.actor, e.action, e.subject, data)
        rows.append(
            {
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "data": data,
                "prev_hash": head,
                "hash": h,
            }
        )
        head = h
    return rows


def walk(entries: Iterable[StoredEntry], anchors: Sequence[Anchor] = ()) -> tuple[int, Break | None]:
    """Check ``entries`` (in id order, from the first) and that the chain reaches every anchor.

    Returns how many entries hold and the first break, if any. ``entries`` may be a generator that
    reads the table page by page: the walk keeps nothing of entries it has passed but the anchors' ends.
    """
    prev = GENESIS
    last_id = 0
    checked = 0
    wanted = {a.last_id for a in anchors}
    seen: dict[int, tuple[int, str]] = {}  # anchor last_id -> (position, hash) once walked past
    for row in entries:
        if row.prev_hash != prev:
            if not checked:
                return checked, Break(row.id, "the chain does not start at genesis")
            return checked, Break(row.id, "an entry before it was removed or reordered")
        if row.hash != entry_hash(row.prev_hash, row.at, row.actor, row.action, row.subject, row.data):
            return checked, Break(row.id, "its content was edited")
        prev = row.hash
        last_id = row.id
        checked += 1
        if last_id in wanted:
            seen[last_id] = (checked, prev)
    for a in anchors:
        if a.entries == 0:
            continue
        if a.last_id not in seen:
            return checked, Break(
                a.last_id,
                f"the newest entries were removed: the chain ends after entry {last_id} ({checked} entries) "
                f"but its anchor records {a.entries} entries ending at entry {a.last_id}",
            )
        position, head = seen[a.last_id]
        if position != a.entries or head != a.head:
            return checked, Break(a.last_id, "the chain does not end where its anchor says (anchor or chain rewritten)")
    return checked, None
