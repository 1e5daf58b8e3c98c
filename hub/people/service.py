"""Users of the back office: add, change password, disable, sign in. Every change and sign-in is audited;
failed sign-ins are counted by :mod:`hub.people.throttle` instead, which also slows down a client that
keeps failing (no account is ever locked)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from hub.audit.chain import AuditRecord, append
from hub.db.models import UserRow, table
from hub.errors import HubError, NotFound
from hub.people.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from hub.people.roles import Principal, Role, actor_of
from hub.people.throttle import UNKNOWN_USER, Charge, LoginThrottle
from hub.text import text
from protocol.envelope import utcnow

__all__ = ["BadCredentials", "InvalidUser", "UserInfo", "Users"]

_users = table(UserRow)
_USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
_NEXT_EPOCH = {"session_epoch": _users.c.session_epoch + 1}


class InvalidUser(HubError):
    """A user that cannot be made as asked (name taken, weak password, clerk without a department …)."""

    status_code = 422


class BadCredentials(HubError):
    """Wrong user name or password, or a disabled user: the same answer for all."""

    status_code = 401


@dataclass(frozen=True, slots=True)
class UserInfo:
    user_id: int
    username: str
    display_name: str
    role: str
    departments: list[str]
    disabled: bool


def _principal(row: Any) -> Principal:
    return Principal(
        user_id=int(row["user_id"]),
        username=row["username"],
        display_name=row["display_name"] or row["username"],
        role=Role(row["role"]),
        departments=frozenset(d for d in row["departments"].split(",") if d),
        session_epoch=int(row["session_epoch"]),
    )


class Users:
    def __init__(
        self,
        engine: Engine,
        known_departments: Callable[[], Iterable[str]] | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        """``known_departments``: the department codes a clerk may be bound to now (those of the
        catalogue in force); without it, any. ``throttle``: the sign-in backoff (a default policy without it)."""
        self.engine = engine
        self.known_departments = known_departments
        self.throttle = throttle or LoginThrottle()

    # ------------------------------------------------------------------ administration
    def add(
        self,
        username: str,
        password: str,
        role: Role | str,
        departments: Iterable[str] = (),
        display_name: str = "",
        actor: str = "cli",
    ) -> Principal:
        role = self._role(role)
        if not _USERNAME.match(username):
            raise InvalidUser("user name: lower-case letters, digits, '.', '_' or '-', starting with a letter")
        depts = self._departments(role, departments)
        _check_password(password)
        now = utcnow()
        with self.engine.begin() as conn:
            if conn.execute(select(_users.c.user_id).where(_users.c.username == username)).first():
                raise InvalidUser(f"user {username} exists")
            user_id = conn.execute(
                insert(_users)
                .values(
                    username=username,
                    display_name=display_name[:64],
                    role=role.value,
                    departments=",".join(depts),
                    password_hash=hash_password(password),
                    disabled=False,
                    session_epoch=0,
                    created_at=now,
                    updated_at=now,
                )
                .returning(_users.c.user_id)
            ).scalar_one()
            data = {"role": role.value, "departments": depts, "display_name": display_name}
            append(conn, [AuditRecord(now, actor, "user.added", username, data)])
        return Principal(int(user_id), username, display_name or username, role, frozenset(depts))

    def set_password(self, username: str, password: str, actor: str = "cli") -> None:
        """A new password (by an administrator); every session and token of the user ends."""
        _check_password(password)
        self._change(username, actor, "user.password_changed", {}, password_hash=hash_password(password), **_NEXT_EPOCH)

    def change_own_password(self, username: str, current: str, new: str, client: str = "unknown") -> None:
        """The user's own change, proven by the current password (throttled like a sign-in); every session
        and token of the user ends, the one asking included."""
        _check_password(new)
        row, charge = self._check(username, current, client)
        with self.engine.begin() as conn:
            self.throttle.forgive(conn, charge)
        self.set_password(row["username"], new, actor=actor_of(row["username"]))

    def disable(self, username: str, actor: str = "cli") -> None:
        """The user can no longer sign in, and every open session of theirs ends (also if enabled again)."""
        self._change(username, actor, "user.disabled", {}, disabled=True, **_NEXT_EPOCH)

    def enable(self, username: str, actor: str = "cli") -> None:
        self._change(username, actor, "user.enabled", {}, disabled=False)

    def all(self) -> list[UserInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(_users).order_by(_users.c.username)).mappings().all()
        return [
            UserInfo(
                int(r["user_id"]),
                r["username"],
                r["display_name"],
                r["role"],
                [d for d in r["departments"].split(",") if d],
                bool(r["disabled"]),
            )
            for r in rows
        ]

    def display_names(self) -> dict[str, str]:
        """User name → the name people know them by (their user name where none was given)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_users.c.username, _users.c.display_name)).all()
        return {username: display or username for username, display in rows}

    def actor_names(self) -> dict[str, str]:
        """Actor (``user:<name>``, as the audit chain and the calendar record who) → display name."""
        return {actor_of(username): name for username, name in self.display_names().items()}

    # ------------------------------------------------------------------ sign-in
    def authenticate(self, username: str, password: str, client: str = "unknown") -> Principal:
        """The principal for good credentials of an enabled user; :class:`BadCredentials` else.

        ``client`` is the :func:`~hub.people.throttle.client_key` of the address asking: one that keeps
        failing gets :class:`~hub.people.throttle.TooManyAttempts` for a while, nobody else does. A
        sign-in is in the audit trail; a failure only in the tally of failures.
        """
        row, charge = self._check(username, password, client)
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                self.throttle.forgive(conn, charge)
                if needs_rehash(row["password_hash"]):
                    new_hash = hash_password(password)
                    conn.execute(
                        update(_users).where(_users.c.user_id == row["user_id"]).values(password_hash=new_hash)
                    )
                principal = _principal(row)
                append(conn, [AuditRecord(now, principal.actor, "auth.login", principal.username, {})])
        except SQLAlchemyError:
            # The right password is never a failure: the database failing after the check (a failover, a
            # dropped connection) left it charged, and a few such sign-ins held every clerk behind one proxy
            # back (a chaos review). Forgiven on its own, on a fresh connection; the sign-in still fails.
            with contextlib.suppress(SQLAlchemyError), self.engine.begin() as conn:
                self.throttle.forgive(conn, charge)
            raise
        return principal

    def _check(self, username: str, password: str, client: str) -> tuple[Any, Charge]:
        """The user's row if ``password`` is theirs and they are enabled, with the attempt's charge."""
        with self.engine.begin() as conn:
            row = conn.execute(select(_users).where(_users.c.username == username)).mappings().first()
            name = row["username"] if row is not None else UNKNOWN_USER
            charge = self.throttle.admit(conn, client, name, utcnow())
        # the slow hash outside any transaction: a guess holds no database lock
        good = verify_password(row["password_hash"] if row else None, password)
        if row is None or not good or row["disabled"] or not self._unchanged(row):
            raise BadCredentials(text("people_error", "bad_credentials"))  # the charge stays: it was a failure
        return row, charge

    def _unchanged(self, row: Any) -> bool:
        """Whether the user still has the password, epoch and state checked (nothing changed meanwhile)."""
        columns = (_users.c.password_hash, _users.c.session_epoch, _users.c.disabled)
        with self.engine.connect() as conn:
            now = conn.execute(select(*columns).where(_users.c.user_id == row["user_id"])).first()
        return now is not None and tuple(now) == (row["password_hash"], row["session_epoch"], row["disabled"])

    def principal(self, user_id: int, session_epoch: int | None = None) -> Principal | None:
        """The current principal of an enabled user (role changes take effect at the next request); None
        also when ``session_epoch`` is given and is not the user's (the password changed since)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_users).where(_users.c.user_id == user_id)).mappings().first()
        if row is None or row["disabled"]:
            return None
        if session_epoch is not None and session_epoch != row["session_epoch"]:
            return None
        return _principal(row)

    def record_logout(self, who: Principal) -> None:
        with self.engine.begin() as conn:
            append(conn, [AuditRecord(utcnow(), who.actor, "auth.logout", who.username, {})])

    # ------------------------------------------------------------------ helpers
    def _role(self, role: Role | str) -> Role:
        try:
            return Role(role)
        except ValueError:
            raise InvalidUser(f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}") from None

    def _departments(self, role: Role, departments: Iterable[str]) -> list[str]:
        depts = sorted({d.strip() for d in departments if d.strip()})
        if role is Role.CLERK and not depts:
            raise InvalidUser("a clerk needs at least one department")
        if role is not Role.CLERK and depts:
            raise InvalidUser("only clerks are bound to departments")
        known = set(self.known_departments()) if self.known_departments is not None else None
        unknown = [d for d in depts if known is not None and d not in known]
        if unknown:
            raise InvalidUser(f"unknown department(s): {', '.join(unknown)}")
        return depts

    def _change(self, username: str, actor: str, action: str, data: dict[str, Any], **values: Any) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            done = conn.execute(update(_users).where(_users.c.username == username).values(updated_at=now, **values))
            if done.rowcount == 0:
                raise NotFound(f"no user {username}")
            append(conn, [AuditRecord(now, actor, action, username, data)])


def _check_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidUser(f"password too short: at least {MIN_LENGTH} characters")
    if password.isdigit() or password.isalpha():
        raise InvalidUser("password needs letters and digits (or other characters) mixed")
