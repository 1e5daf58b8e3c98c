"""What every back-office page has: the signed-in user, their departments, flash messages (the navigation
is the frame's, :mod:`hub.web.chrome`, on every page alike)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request
from litestar.response import Redirect, Template

from hub.people.roles import Principal
from hub.text import text

__all__ = ["field", "fields", "flash", "page", "redirect_back"]


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
    """``template`` with the user and flash messages; ``names``: department code → name
    (:attr:`hub.cases.queries.CaseQueries.department_names`), to show the user's departments."""
    messages = request.session.pop("flash", []) if "session" in request.scope else []
    names = names or {}
    sep = text("web", "list_separator")
    who_departments = sep.join(names.get(d, d) for d in sorted(who.departments)) if who else ""
    return Template(
        template,
        context={
            "who": who,
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
