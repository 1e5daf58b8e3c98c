"""What frames every page, back office and operators' alike: the signed-in user, their role, and the one
navigation their role allows — the same links on every page (issue 11). Templates call
``chrome(request)``; the user comes from the guard (:func:`hub.web.auth.principal_of`), so a page needs
no context of its own for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.people.roles import Permission, Principal, can
from hub.text import section
from hub.web.auth import principal_of

__all__ = ["NAV", "Chrome", "NavLink", "chrome", "landing", "navigation"]

NAV: list[tuple[str, str, Permission]] = [
    ("/queue", "queue", Permission.CASE_READ),
    ("/overdue", "overdue", Permission.OVERDUE_READ),
    ("/return-calls", "return_calls", Permission.CASE_READ),
    ("/help", "help", Permission.HELP_ANSWER),
    ("/reports", "reports", Permission.REPORT_READ),
    ("/audit", "audit", Permission.AUDIT_READ),
    ("/fleet/", "fleet", Permission.FLEET_READ),
    ("/fleet/alerts", "fleet_alerts", Permission.FLEET_READ),
    ("/fleet/catalogue/", "catalogue", Permission.FLEET_READ),
    ("/calendar", "calendar", Permission.CALENDAR_READ),
]
"""Every page of the navigation in its order: path, word (``nav`` section of hub/messages/pages.zh.json), permission."""


@dataclass(frozen=True, slots=True)
class NavLink:
    href: str
    label: str
    active: bool


@dataclass(frozen=True, slots=True)
class Chrome:
    who: Principal | None
    role_label: str
    nav: list[NavLink]


def _active(href: str, path: str) -> bool:
    """The link of this page: the longest navigation path the page's path starts with."""
    if href == path:
        return True
    matches = [h for h, _, _ in NAV if path.startswith(h.rstrip("/") + "/") or path == h.rstrip("/")]
    return bool(matches) and max(matches, key=len) == href


def navigation(who: Principal | None, path: str) -> list[NavLink]:
    """The links ``who``'s role may follow, in the one order; none for nobody."""
    if who is None:
        return []
    words = section("nav")
    return [NavLink(href, words[key], _active(href, path)) for href, key, p in NAV if can(who, p)]


_LANDING: list[tuple[str, Permission]] = [
    ("/queue", Permission.CASE_ACT),  # clerks and the manager: their work
    ("/overdue", Permission.OVERDUE_READ),  # auditors: what is late
    ("/fleet/", Permission.FLEET_READ),  # operators: the terminals
    ("/help", Permission.HELP_ANSWER),
    ("/calendar", Permission.CALENDAR_READ),
]


def landing(who: Principal) -> str:
    """Where a user lands after signing in: the page of their role's main work."""
    return next((target for target, p in _LANDING if can(who, p)), "/login")


def chrome(request: Any) -> Chrome:
    """The frame of the page answering ``request``."""
    who = principal_of(request) if request is not None else None
    role = section("role").get(who.role.value, "") if who else ""
    return Chrome(who, role, navigation(who, request.url.path if request is not None else ""))
