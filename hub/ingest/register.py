"""The terminal register: which committee each terminal serves, set at provisioning.

A sealed case names its committee and receipt number, and the hub cannot check either against anything
the terminal says: a terminal that is wrong (or a thief's copy of one) would file cases under another
committee. So the hub keeps its own record — ``shegong hub terminal register T --committee JW001``,
beside ``shegong hub broker add T`` (docs/broker.md) — and ingest takes a case only from a registered
terminal and only for its committee, with a receipt number of that committee (``JW001-…``).

Every change is in the audit chain. Receipt numbers are made offline per terminal (committee, day,
sequence), and a case whose receipt number another case of its committee holds is taken under a number
of the hub's own (``…-9nnnnn``, :func:`hub.ingest.handler.hub_number`), which is not the number on the
resident's receipt. So each terminal of a committee gets its own receipt series, a digit 1-9 given
here (``--series N``) and in the terminal's ``receipt_series`` setting, which the terminal puts first in
its sequence (``JW001-20261204-20001``); two terminals of one committee cannot hold the same series.
:attr:`Registration.clashes` names the terminals whose numbers could still collide (none of them with a
series).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, select, update

from hub.audit.chain import AuditRecord, append
from hub.db.models import TerminalRegisterRow, table
from hub.errors import HubError, NotFound
from kernel.db import among
from protocol import topics
from protocol.envelope import utcnow

__all__ = [
    "SERIES",
    "Registration",
    "RegisterError",
    "committee_of",
    "committees_of",
    "entries",
    "register",
    "register_many",
    "remove",
]

_reg = table(TerminalRegisterRow)
_COMMITTEE = re.compile(r"^[A-Za-z0-9]{1,16}$")  # as a terminal's committee_code, the receipt number's prefix
SERIES = range(1, 10)  # one digit, first in the receipt's sequence (edge receipt_series)


class RegisterError(HubError):
    """A terminal id or committee code that cannot be registered."""


@dataclass(frozen=True, slots=True)
class Registration:
    terminal_id: str
    committee: str
    registered_at: datetime
    registered_by: str
    others: tuple[str, ...] = ()  # other terminals registered to the same committee
    series: int | None = None  # its receipt series (None: registered without one)
    clashes: tuple[str, ...] = ()  # others whose receipt numbers could equal its own: no series on either


def register(engine: Engine, terminal: str, committee: str, actor: str, series: int | None = None) -> Registration:
    """Register ``terminal`` to ``committee`` (or move it there) with receipt ``series`` (None: the one it
    has in that committee, if any); audited.

    Raises :class:`RegisterError` for a series outside 1-9 or one another terminal of the committee holds."""
    register_many(engine, {terminal: committee}, actor, None if series is None else {terminal: series})
    with engine.connect() as conn:
        row = conn.execute(select(_reg).where(_reg.c.terminal_id == terminal)).mappings().one()
        others = conn.execute(
            select(_reg.c.terminal_id, _reg.c.receipt_series).where(
                _reg.c.committee == committee, _reg.c.terminal_id != terminal
            )
        ).all()
        mine = row["receipt_series"]
        return Registration(
            row["terminal_id"],
            row["committee"],
            row["registered_at"],
            row["registered_by"],
            tuple(t for t, _ in others),
            mine,
            tuple(t for t, s in others if s is None and mine is None),
        )


def register_many(
    engine: Engine, committees: Mapping[str, str], actor: str, series: Mapping[str, int | None] | None = None
) -> int:
    """Register each terminal to its committee (``{terminal: committee}``) and, for those in ``series``, its
    receipt series, in one transaction, one audit entry per change; returns how many changed."""
    series = series or {}
    for terminal, committee in committees.items():
        if not topics.valid_terminal_id(terminal):
            raise RegisterError(f"invalid terminal id {terminal!r}: 1-64 letters, digits, '-' or '_'")
        if not _COMMITTEE.match(committee):
            raise RegisterError(f"invalid committee code {committee!r}: 1-16 letters or digits")
        if series.get(terminal) not in (None, *SERIES):
            raise RegisterError(f"invalid receipt series {series[terminal]!r}: one digit, 1-9")
    now = utcnow()
    records: list[AuditRecord] = []
    with engine.begin() as conn:
        held = {
            t: (c, n) for t, c, n in conn.execute(select(_reg.c.terminal_id, _reg.c.committee, _reg.c.receipt_series))
        }
        for terminal, committee in committees.items():
            before, had = held.get(terminal, (None, None))
            number = series.get(terminal, had if before == committee else None)
            if before == committee and had == number:
                continue
            if number is not None:
                taken = [t for t, (c, n) in held.items() if c == committee and n == number and t != terminal]
                if taken:
                    raise RegisterError(
                        f"receipt series {number} of committee {committee} is held by terminal {taken[0]}: "
                        "give each terminal of a committee its own"
                    )
            values = {"committee": committee, "receipt_series": number, "registered_at": now, "registered_by": actor}
            if before is None:
                conn.execute(_reg.insert().values(terminal_id=terminal, **values))
            else:
                conn.execute(update(_reg).where(_reg.c.terminal_id == terminal).values(**values))
            held[terminal] = (committee, number)
            data: dict[str, object] = {"committee": committee, **({"was": before} if before else {})}
            if number is not None or had is not None:
                data["series"] = number
            records.append(AuditRecord(now, actor, "terminal.registered", terminal, data))
        if records:
            append(conn, records)
    return len(records)


def remove(engine: Engine, terminal: str, actor: str) -> None:
    """Take ``terminal`` out of the register (retired): the hub takes no more cases from it; audited."""
    with engine.begin() as conn:
        before = committee_of(conn, terminal)
        if before is None:
            raise NotFound(f"terminal {terminal!r} is not registered")
        conn.execute(delete(_reg).where(_reg.c.terminal_id == terminal))
        append(conn, [AuditRecord(utcnow(), actor, "terminal.unregistered", terminal, {"committee": before})])


def committee_of(conn: Connection, terminal: str) -> str | None:
    """The committee ``terminal`` is registered to, or None."""
    return conn.execute(select(_reg.c.committee).where(_reg.c.terminal_id == terminal)).scalar()


def committees_of(conn: Connection, terminals: list[str]) -> dict[str, str]:
    """The committee of each of ``terminals`` that is registered, in one query."""
    found = conn.execute(select(_reg.c.terminal_id, _reg.c.committee).where(among(conn, _reg.c.terminal_id, terminals)))
    return {terminal: committee for terminal, committee in found}


def entries(engine: Engine) -> list[Registration]:
    with engine.connect() as conn:
        rows = conn.execute(select(_reg).order_by(_reg.c.committee, _reg.c.terminal_id)).mappings().all()
    return [
        Registration(
            r["terminal_id"], r["committee"], r["registered_at"], r["registered_by"], series=r["receipt_series"]
        )
        for r in rows
    ]
