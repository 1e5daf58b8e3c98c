"""What every page has: the signed-in user, the navigation their role allows, flash messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request
from litestar.response import Redirect, Template

from hub.people.roles import Permission, Principal, can

__all__ = ["field", "fields", "flash", "page", "redirect_back"]

_NAV = [
    ("/queue", "待办队列", Permission.CASE_READ),
    ("/overdue", "超期督办", Permission.OVERDUE_READ),
    ("/return-calls", "回访整改", Permission.CASE_READ),
    ("/reports", "绩效评估", Permission.REPORT_READ),
    ("/audit", "电子监察", Permission.AUDIT_READ),
    ("/calendar", "节假日", Permission.CALENDAR_READ),
]
ROLE_LABELS = {"manager": "中心主任", "clerk": "经办人", "auditor": "监察员", "operator": "运维"}


def flash(request: Request[Any, Any, Any], kind: str, text: str) -> None:
    """A message shown once on the next page (``kind``: ok or error)."""
    messages = list(request.session.get("flash", []))
    messages.append([kind, text])
    request.session["flash"] = messages[-5:]


def page(
    request: Request[Any, Any, Any],
    who: Principal | None,
    template: str,
    status_code: int = 200,
    *,
    names: Mapping[str, str] | None = None,
    **context: Any,
) -> Template:
    """``template`` with the user, their navigation and flash messages; ``names``: department code → name
    (:attr:`hub.cases.queries.CaseQueries.department_names`), to show the user's departments."""
    messages = request.session.pop("flash", []) if "session" in request.scope else []
    nav = [(href, label, href == request.url.path) for href, label, p in _NAV if who and can(who, p)]
    names = names or {}
    who_departments = "、".join(names.get(d, d) for d in sorted(who.departments)) if who else ""
    return Template(
        template,
        context={
            "who": who,
            "role_label": ROLE_LABELS.get(who.role.value, "") if who else "",
            "nav": nav,
            "who_departments": who_departments,
            "messages": messages,
            **context,
        },
        status_code=status_code,
    )


def redirect_back(path: str) -> Redirect:
    return Redirect(path, status_code=303)


def field(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    return str(value[-1] if isinstance(value, list) else value)


def fields(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    return [str(v) for v in (value if isinstance(value, list) else [value])]
