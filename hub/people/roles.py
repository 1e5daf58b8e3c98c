"""Roles, permissions and the one policy that decides who may do what.

Every check — the web guard on a route, the workflow on one case — goes through :func:`authorize`;
a button hidden in a page is never the boundary.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from hub.errors import PermissionDenied
from hub.text import text

__all__ = ["ROLE_PERMISSIONS", "Permission", "Principal", "Role", "actor_of", "authorize", "can"]


def actor_of(username: str) -> str:
    """How the audit chain (and what else records who did it) names a user: ``user:<name>``."""
    return f"user:{username}"


class Role(enum.StrEnum):
    MANAGER = "manager"  # 中心主任: everything of the centre, routes unclaimed cases
    CLERK = "clerk"  # 窗口/后台经办人: the cases of the departments they are bound to
    AUDITOR = "auditor"  # 电子监察: reads everything, the audit trail included; acts on nothing
    OPERATOR = "operator"  # 运维: terminals, dead letters, the catalogue and the calendar


class Permission(enum.StrEnum):
    CASE_READ = "case.read"
    CASE_ACT = "case.act"
    CASE_ROUTE = "case.route"
    OVERDUE_READ = "overdue.read"
    REPORT_READ = "report.read"
    AUDIT_READ = "audit.read"
    FLEET_READ = "fleet.read"
    CALENDAR_READ = "calendar.read"
    CALENDAR_WRITE = "calendar.write"
    HELP_ANSWER = "help.answer"  # see and answer residents' calls for staff at the kiosks


_P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.MANAGER: frozenset(_P),
    Role.CLERK: frozenset({_P.CASE_READ, _P.CASE_ACT, _P.OVERDUE_READ, _P.CALENDAR_READ, _P.HELP_ANSWER}),
    Role.AUDITOR: frozenset(
        {_P.CASE_READ, _P.OVERDUE_READ, _P.REPORT_READ, _P.AUDIT_READ, _P.FLEET_READ, _P.CALENDAR_READ}
    ),
    Role.OPERATOR: frozenset({_P.FLEET_READ, _P.CALENDAR_READ, _P.CALENDAR_WRITE, _P.HELP_ANSWER}),
}
"""What each role may do. Department scoping applies to clerks only (see :func:`authorize`)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user a request acts for; ``actor`` is how the audit trail names them."""

    user_id: int
    username: str
    display_name: str
    role: Role
    departments: frozenset[str] = frozenset()
    session_epoch: int = 0
    """The user's session generation: a session or token made under an older one is void (password changed)."""

    @property
    def actor(self) -> str:
        return actor_of(self.username)

    @property
    def scoped(self) -> bool:
        """Whether this user sees only the cases of their own departments."""
        return self.role is Role.CLERK

    def visible_departments(self, all_departments: Iterable[str]) -> list[str]:
        return [d for d in all_departments if not self.scoped or d in self.departments]


def can(who: Principal, permission: Permission, department: str | None = None) -> bool:
    if permission not in ROLE_PERMISSIONS[who.role]:
        return False
    return department is None or not who.scoped or department in who.departments


def authorize(who: Principal, permission: Permission, department: str | None = None) -> None:
    """Raise :class:`PermissionDenied` unless ``who`` may do ``permission`` (on ``department``'s cases)."""
    if not can(who, permission, department):
        if department and permission in ROLE_PERMISSIONS[who.role]:
            raise PermissionDenied(text("people_error", "denied_department", department=department))
        raise PermissionDenied(text("people_error", "denied"))
