"""Users of the back office: add, change password, disable, sign in. Every change is audited."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from hub.audit.chain import AuditRecord, append
from hub.db.models import UserRow
from hub.errors import HubError, NotFound
from hub.people.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from hub.people.roles import Principal, Role
from protocol.envelope import utcnow

__all__ = ["BadCredentials", "InvalidUser", "UserInfo", "Users"]

_users = UserRow.__table__
_USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)


class InvalidUser(HubError):
    """A user that cannot be made as asked (name taken, weak password, clerk without a department …)."""

    status_code = 422


class BadCredentials(HubError):
    """Wrong user name or password, a disabled user or a locked one: the same answer for all."""

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
    )


class Users:
    def __init__(self, engine: Engine, known_departments: Callable[[], Iterable[str]] | None = None) -> None:
        """``known_departments``: the department codes a clerk may be bound to now (those of the
        catalogue in force); without it, any."""
        self.engine = engine
        self.known_departments = known_departments

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
                    failed_logins=0,
                    created_at=now,
                    updated_at=now,
                )
                .returning(_users.c.user_id)
            ).scalar_one()
            data = {"role": role.value, "departments": depts, "display_name": display_name}
            append(conn, [AuditRecord(now, actor, "user.added", username, data)])
        return Principal(int(user_id), username, display_name or username, role, frozenset(depts))

    def set_password(self, username: str, password: str, actor: str = "cli") -> None:
        _check_password(password)
        self._change(username, actor, "user.password_changed", {}, password_hash=hash_password(password))

    def disable(self, username: str, actor: str = "cli") -> None:
        """The user can no longer sign in, and every open session of theirs stops at its next request."""
        self._change(username, actor, "user.disabled", {}, disabled=True)

    def enable(self, username: str, actor: str = "cli") -> None:
        self._change(username, actor, "user.enabled", {}, disabled=False, failed_logins=0, locked_until=None)

    def set_role(self, username: str, role: Role | str, departments: Iterable[str] = (), actor: str = "cli") -> None:
        role = self._role(role)
        depts = self._departments(role, departments)
        data = {"role": role.value, "departments": depts}
        self._change(username, actor, "user.role_changed", data, role=role.value, departments=",".join(depts))

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

    # ------------------------------------------------------------------ sign-in
    def authenticate(self, username: str, password: str) -> Principal:
        """The principal for good credentials of an enabled, unlocked user; :class:`BadCredentials` else.

        Five failures in a row lock the user for 15 minutes. Each outcome is in the audit trail.
        """
        now = utcnow()
        principal: Principal | None = None
        with self.engine.begin() as conn:
            row = conn.execute(select(_users).where(_users.c.username == username)).mappings().first()
            good = verify_password(row["password_hash"] if row else None, password)
            locked = bool(row and row["locked_until"] and row["locked_until"] > now)
            if row is None or not good or row["disabled"] or locked:
                why = "unknown user" if row is None else "disabled" if row["disabled"] else "locked" if locked else ""
                if row is not None and not good and not locked:
                    failures = int(row["failed_logins"]) + 1
                    values: dict[str, Any] = {"failed_logins": failures}
                    if failures >= LOCK_AFTER:
                        values.update(failed_logins=0, locked_until=now + LOCK_FOR)
                        why = f"locked after {LOCK_AFTER} failures"
                    conn.execute(update(_users).where(_users.c.user_id == row["user_id"]).values(**values))
                record = AuditRecord(now, "anonymous", "auth.failed", username[:64], {"why": why or "bad password"})
                append(conn, [record])
            else:
                values = {"failed_logins": 0, "locked_until": None}
                if needs_rehash(row["password_hash"]):
                    values["password_hash"] = hash_password(password)
                conn.execute(update(_users).where(_users.c.user_id == row["user_id"]).values(**values))
                principal = _principal(row)
                append(conn, [AuditRecord(now, principal.actor, "auth.login", username, {})])
        if principal is None:  # raised after the commit: the failure and the lock are kept
            raise BadCredentials("用户名或密码错误，或账号已停用")
        return principal

    def principal(self, user_id: int) -> Principal | None:
        """The current principal of an enabled user (role changes take effect at the next request)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_users).where(_users.c.user_id == user_id)).mappings().first()
        if row is None or row["disabled"]:
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
