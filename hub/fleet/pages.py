"""Server-rendered pages of the fleet and catalogue: one Jinja environment, Chinese labels from
``messages/zh.json``, times shown in China Standard Time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from litestar import MediaType, Request, Response
from litestar.utils.scope.state import ScopeState

__all__ = ["CST", "html", "labels", "render"]

CST = timezone(timedelta(hours=8), "CST")  # China has one zone and no daylight saving


@cache
def labels() -> dict[str, dict[str, str]]:
    data = resources.files("hub.fleet").joinpath("messages/zh.json").read_text(encoding="utf-8")
    return json.loads(data)  # type: ignore[no-any-return]


def _local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return value.astimezone(CST).strftime(fmt) if value else "—"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = abs(seconds)
    if s < 0.05:
        return "0 秒"
    if s < 10:
        text = f"{s:.1f} 秒"
    elif s < 120:
        text = f"{s:.0f} 秒"
    elif s < 7200:
        text = f"{s / 60:.0f} 分钟"
    elif s < 172800:
        text = f"{s / 3600:.1f} 小时"
    else:
        text = f"{s / 86400:.0f} 天"
    return ("-" if seconds < 0 else "") + text


def _ago(seconds: float | None) -> str:
    return "从未" if seconds is None else f"{_duration(seconds)}前"


@cache
def _env() -> Environment:
    env = Environment(
        loader=ChoiceLoader([PackageLoader("hub.fleet", "templates"), PackageLoader("hub.catalogue", "templates")]),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(local=_local, duration=_duration, ago=_ago)
    env.globals["t"] = labels()
    return env


def render(template: str, request: Request[Any, Any, Any] | None = None, **context: Any) -> str:
    csrf = ""
    if request is not None:
        token = ScopeState.from_scope(request.scope).csrf_token
        csrf = token if isinstance(token, str) else ""
    return _env().get_template(template).render(csrf_token=csrf, now=datetime.now(UTC), **context)


def html(
    template: str, request: Request[Any, Any, Any] | None = None, status: int = 200, **context: Any
) -> Response[str]:
    return Response(
        render(template, request, **context),
        media_type=MediaType.HTML,
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )
