"""Committees' names by code, set where provisioning registers a terminal (``shegong hub terminal
register T --committee JW001 --committee-name 某某居委会``). The hub's pages show the name, and the code
only where no name is known (:meth:`CommitteeNames.label`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, update

from hub.audit.chain import AuditRecord, append
from hub.db.models import CommitteeRow, TerminalRegisterRow, table
from hub.errors import HubError
from kernel.db import read_only
from protocol.envelope import utcnow

__all__ = ["CommitteeNames", "names", "set_name"]

_com, _reg = table(CommitteeRow), table(TerminalRegisterRow)
_MAX = 64


def set_name(engine: Engine, code: str, name: str, actor: str) -> bool:
    """Name committee ``code`` (or rename it); audited. Returns whether anything changed."""
    name = name.strip()
    if not name or len(name) > _MAX:
        raise HubError(f"committee name must be 1-{_MAX} characters")
    now = utcnow()
    with engine.begin() as conn:
        before = conn.execute(select(_com.c.name).where(_com.c.code == code)).scalar()
        if before == name:
            return False
        values = {"name": name, "updated_at": now, "updated_by": actor}
        if before is None:
            conn.execute(_com.insert().values(code=code, **values))
        else:
            conn.execute(update(_com).where(_com.c.code == code).values(**values))
        data = {"name": name, **({"was": before} if before else {})}
        append(conn, [AuditRecord(now, actor, "committee.named", code, data)])
    return True


def names(conn: Connection) -> dict[str, str]:
    """Every named committee: code → name."""
    return {code: name for code, name in conn.execute(select(_com.c.code, _com.c.name))}


@dataclass(frozen=True, slots=True)
class CommitteeNames:
    """The names the pages show, read fresh (a handful of rows) at each call."""

    engine: Engine

    def all(self) -> dict[str, str]:
        with read_only(self.engine).connect() as conn:
            return names(conn)

    def by_terminal(self) -> dict[str, str]:
        """Each registered terminal's committee: its name, or its code where none is known."""
        with read_only(self.engine).connect() as conn:
            named = names(conn)
            return {t: named.get(c, c) for t, c in conn.execute(select(_reg.c.terminal_id, _reg.c.committee))}

    def label(self, code: str) -> str:
        """The committee's name, or its code where none is known."""
        return self.all().get(code, code)
