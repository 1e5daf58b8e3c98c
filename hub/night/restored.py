"""What ``shegong hub restore`` does beside writing the backup: nothing the lost database gave out is given
again, and no access taken away after the backup comes back.

A backup written over the database takes it back to the backup's numbers: catalogue versions published
after it and partner (Open311) requests numbered after it are gone from the hub, but terminals may run those
versions and partners hold those request ids. It takes access back too: a user disabled, a password changed
or a partner key revoked after the backup would be as it was before. Before the restore, the database being
replaced is read, if it can be (:func:`read_replaced`: it may be the broken one the restore is for); after
it, :func:`record`

- adds a ``hub_restores`` row with the numbers each continues above (:func:`continue_above`);
- ends every sign-in (``web_sessions``: browser sessions and API tokens; everyone signs in again);
- carries over from the replaced database what took access away: users it had disabled, partner keys it
  had revoked; disables the users whose password it had changed since (a newer ``updated_at`` and another
  hash: the backup's password may be why it was changed, the replaced database's may be what the restore
  undoes) until an administrator sets one; names the users and partners it had that the backup lacks (made
  after it: to make again). A restore never grants access; it may take some away;
- appends a ``hub.restored`` entry to the audit chain saying all of it.

With the replaced database unreadable, the numbers move far ahead and the access the backup holds stands:
the command says to check ``shegong hub user list`` and ``shegong hub partner list``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, insert, inspect, select, update
from sqlalchemy.exc import SQLAlchemyError

from hub.audit.chain import AuditRecord, append
from hub.cases.partnered import RESTORED_AHEAD, last_receipt, restored_receipts_above
from hub.catalogue.store import MAX_AHEAD, newest_version, restored_above
from hub.db.engine import DatabaseUnreachable, open_engine
from hub.db.models import HubRestoreRow, PartnerRow, UserRow, WebSessionRow, table
from hub.errors import HubError
from hub.leader import Leadership
from protocol.localtime import local_date

__all__ = [
    "Access",
    "HubRunning",
    "Numbers",
    "Replaced",
    "Restored",
    "continue_above",
    "read_replaced",
    "record",
    "refuse_while_running",
]

log = logging.getLogger(__name__)
_restores, _users, _partners, _sessions = table(HubRestoreRow), table(UserRow), table(PartnerRow), table(WebSessionRow)


@dataclass(frozen=True, slots=True)
class Numbers:
    """The highest numbers a database gave or passed: catalogue version, the day's partner receipt."""

    catalogue: int
    open311_today: int


@dataclass(frozen=True, slots=True)
class Access:
    """Who could sign in or call in the replaced database: users (password hash, disabled, last change) and
    partners (when revoked, None if not), by name."""

    users: dict[str, tuple[str, bool, datetime]]
    partners: dict[str, datetime | None]


@dataclass(frozen=True, slots=True)
class Replaced:
    """What the replaced database said, read before the restore."""

    numbers: Numbers
    access: Access | None  # None: its users or partners could not be read


@dataclass(frozen=True, slots=True)
class Restored:
    """The numbers a restored database continues above, and what the restore did to access."""

    catalogue_above: int
    open311_above: int
    sessions_ended: int
    carried: dict[str, list[str]]  # users_disabled, passwords, partners_revoked, users_lost, partners_lost


class HubRunning(HubError):
    """A hub process runs on the database a restore would write over."""


def refuse_while_running(url: str) -> None:
    """:class:`HubRunning` when a hub process runs on the database at ``url`` (one of them holds the leader
    lock): written over under it, its SQLite file would be a deleted one it goes on writing to, its
    PostgreSQL tables dropped in its middle. A database that cannot be asked has nobody running on it."""
    try:
        engine = open_engine(url, upgrade=False)
    except DatabaseUnreachable:
        return
    try:
        if not Leadership(engine, "restore").nobody_leads():
            raise HubRunning(
                "a hub process is running on this database (it holds the leader lock): stop every hub process "
                "first (systemctl stop shegong-hub.target), then restore"
            )
    except SQLAlchemyError:
        return
    finally:
        engine.dispose()


def read_replaced(url: str, now: datetime) -> Replaced | None:
    """What the database at ``url`` (about to be replaced; any schema since the catalogue's) gave out, its own
    restores included, and who had access; None when it cannot be read."""
    try:
        engine = open_engine(url, upgrade=False)
    except DatabaseUnreachable as exc:
        log.warning("%s: numbering taken from the backup", exc)
        return None
    try:
        with engine.connect() as conn:
            restores = inspect(conn).has_table("hub_restores")  # a database from before restores were recorded
            numbers = Numbers(
                max(newest_version(conn), restored_above(conn) if restores else 0),
                max(last_receipt(conn, now), restored_receipts_above(conn, now) if restores else 0),
            )
    except (SQLAlchemyError, ValueError) as exc:
        log.warning(
            "the database being replaced cannot be read (%s): numbering taken from the backup", type(exc).__name__
        )
        engine.dispose()
        return None
    try:
        with engine.connect() as conn:
            users = {
                r.username: (r.password_hash, bool(r.disabled), r.updated_at)
                for r in conn.execute(
                    select(_users.c.username, _users.c.password_hash, _users.c.disabled, _users.c.updated_at)
                )
            }
            partners: dict[str, datetime | None] = {}
            if inspect(conn).has_table("open311_partners"):
                partners = {
                    name: revoked for name, revoked in conn.execute(select(_partners.c.name, _partners.c.revoked_at))
                }
        return Replaced(numbers, Access(users, partners))
    except (SQLAlchemyError, ValueError) as exc:
        log.warning("the users of the database being replaced cannot be read (%s)", type(exc).__name__)
        return Replaced(numbers, None)
    finally:
        engine.dispose()


def record(engine: Engine, backup: str, replaced: Replaced | None, actor: str, now: datetime) -> Restored:
    """Record that ``backup`` was written over the database (``engine``, at the schema's head, its audit key
    bound), with the numbers it continues above; end every sign-in; carry over the access the replaced
    database had taken away."""
    numbers = replaced.numbers if replaced else None
    with engine.begin() as conn:
        catalogue_above = continue_above(
            newest_version(conn), numbers.catalogue if numbers else None, MAX_AHEAD, restored_above(conn)
        )
        open311_above = continue_above(
            last_receipt(conn, now),
            numbers.open311_today if numbers else None,
            RESTORED_AHEAD,
            restored_receipts_above(conn, now),
        )
        ended = conn.execute(delete(_sessions)).rowcount
        carried = _carry_access(conn, replaced.access, now) if replaced and replaced.access else {}
        conn.execute(
            insert(_restores).values(
                restored_at=now,
                backup=backup[:255],
                restored_by=actor,
                catalogue_above=catalogue_above,
                open311_day=local_date(now),
                open311_above=open311_above,
            )
        )
        data = {
            "backup": backup,
            "overwritten": None if numbers is None else dataclasses.asdict(numbers),
            "catalogue_above": catalogue_above,
            "open311_above": open311_above,
            "sessions_ended": ended,
            "access": carried if replaced and replaced.access else None,
        }
        append(conn, [AuditRecord(now, actor, "hub.restored", "database", data)])
    return Restored(catalogue_above, open311_above, ended, carried)


def continue_above(restored: int, overwritten: int | None, ahead: int, earlier: int) -> int:
    """The number a restored database's numbering continues above: ``restored``, the backup's highest;
    ``overwritten``, the replaced database's (None: it could not be read); ``earlier``, what earlier restores
    of the backup's history said. At or above the backup's, ``overwritten`` was the hub's highest number.
    Otherwise (unreadable, or a database made new on a replaced machine) what was given after the backup is
    unknown: ``ahead`` above the backup's, more than any restore loses (:data:`MAX_AHEAD` versions,
    :data:`RESTORED_AHEAD` partner receipts of a day). Terminals running a lost catalogue version are passed
    anyway once they are heard (``CatalogueStore.highest_reported``); this covers a publication before they
    are, and those never heard."""
    lost = restored + ahead if overwritten is None or overwritten < restored else overwritten
    return max(lost, earlier)


def _carry_access(conn: Connection, access: Access, now: datetime) -> dict[str, list[str]]:
    """Take away in the restored database what the replaced one had taken away since the backup."""
    carried: dict[str, list[str]] = {
        "users_disabled": [],
        "passwords": [],
        "partners_revoked": [],
        "users_lost": [],
        "partners_lost": [],
    }
    held = {r.username: r for r in conn.execute(select(_users))}
    for name, (password_hash, disabled, changed_at) in sorted(access.users.items()):
        row = held.get(name)
        if row is None:
            carried["users_lost"].append(name)
            continue
        values: dict[str, object] = {}
        if disabled and not row.disabled:
            values["disabled"] = True
            carried["users_disabled"].append(name)
        if password_hash != row.password_hash and changed_at > row.updated_at and not row.disabled:
            # Neither password can be trusted: the backup's may be why it was changed, and the replaced
            # database's may be what the restore is undoing. Disabled until an administrator sets one.
            values["disabled"] = True
            carried["passwords"].append(name)
        if values:
            values |= {"session_epoch": row.session_epoch + 1, "updated_at": now}
            conn.execute(update(_users).where(_users.c.username == name).values(**values))
    partners = {name: revoked for name, revoked in conn.execute(select(_partners.c.name, _partners.c.revoked_at))}
    for name, revoked_at in sorted(access.partners.items()):
        if name not in partners:
            carried["partners_lost"].append(name)
        elif revoked_at is not None and partners[name] is None:
            conn.execute(update(_partners).where(_partners.c.name == name).values(revoked_at=revoked_at))
            carried["partners_revoked"].append(name)
    return carried
