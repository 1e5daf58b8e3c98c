"""The terminal register: which committee each terminal serves, set at provisioning.

A sealed case names its committee and receipt number, and the hub cannot check either against anything
the terminal says: a terminal that is wrong (or a thief's copy of one) would file cases under another
committee. So the hub keeps its own record — ``shegong hub terminal register T --committee JW001``,
beside ``shegong hub broker add T`` (docs/broker.md) — and ingest takes a case only from a registered
terminal and only for its committee, with a receipt number of that committee (``JW001-…``).

Every change is in the audit chain. Receipt numbers are made per terminal (committee, day, sequence), so
two terminals of one committee would make the same ones, and the hub refuses a case whose receipt number
another case of its committee holds: :func:`register` says so when a committee gets a second terminal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, insert, update
from sqlmodel import Session, col, select

from hub.audit.chain import AuditRecord, append
from hub.db.models import TerminalRegisterRow as Reg
from hub.errors import HubError, NotFound
from protocol import topics
from protocol.envelope import utcnow

__all__ = ["Registration", "RegisterError", "committee_of", "entries", "register", "register_many", "remove"]

_COMMITTEE = re.compile(r"^[A-Za-z0-9]{1,16}$")  # as a terminal's committee_code, the receipt number's prefix


class RegisterError(HubError):
    """A terminal id or committee code that cannot be registered."""


@dataclass(frozen=True, slots=True)
class Registration:
    terminal_id: str
    committee: str
    registered_at: datetime
    registered_by: str
    others: tuple[str, ...] = ()  # other terminals registered to the same committee


def register(engine: Engine, terminal: str, committee: str, actor: str) -> Registration:
    """Register ``terminal`` to ``committee`` (or move it there); audited."""
    register_many(engine, {terminal: committee}, actor)
    with Session(engine) as session:
        row = session.exec(select(Reg).where(col(Reg.terminal_id) == terminal)).one()
        others = session.exec(
            select(col(Reg.terminal_id)).where(col(Reg.committee) == committee, col(Reg.terminal_id) != terminal)
        )
        return Registration(row.terminal_id, row.committee, row.registered_at, row.registered_by, tuple(others))


def register_many(engine: Engine, committees: Mapping[str, str], actor: str) -> int:
    """Register each terminal to its committee (``{terminal: committee}``) in one transaction, one audit
    entry per change; returns how many changed."""
    for terminal, committee in committees.items():
        if not topics.valid_terminal_id(terminal):
            raise RegisterError(f"invalid terminal id {terminal!r}: 1-64 letters, digits, '-' or '_'")
        if not _COMMITTEE.match(committee):
            raise RegisterError(f"invalid committee code {committee!r}: 1-16 letters or digits")
    now = utcnow()
    records: list[AuditRecord] = []
    with engine.begin() as conn:
        held = {t: c for t, c in conn.execute(select(col(Reg.terminal_id), col(Reg.committee)))}
        for terminal, committee in committees.items():
            before = held.get(terminal)
            if before == committee:
                continue
            values = {"committee": committee, "registered_at": now, "registered_by": actor}
            if before is None:
                conn.execute(insert(Reg).values(terminal_id=terminal, **values))
            else:
                conn.execute(update(Reg).where(col(Reg.terminal_id) == terminal).values(**values))
            data = {"committee": committee, **({"was": before} if before else {})}
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
        conn.execute(delete(Reg).where(col(Reg.terminal_id) == terminal))
        append(conn, [AuditRecord(utcnow(), actor, "terminal.unregistered", terminal, {"committee": before})])


def committee_of(conn: Connection, terminal: str) -> str | None:
    """The committee ``terminal`` is registered to, or None."""
    return conn.execute(select(col(Reg.committee)).where(col(Reg.terminal_id) == terminal)).scalar()


def entries(engine: Engine) -> list[Registration]:
    with Session(engine) as session:
        rows = session.exec(select(Reg).order_by(col(Reg.committee), col(Reg.terminal_id))).all()
    return [Registration(r.terminal_id, r.committee, r.registered_at, r.registered_by) for r in rows]
