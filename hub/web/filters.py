"""Jinja filters for the back office: local times, dates, shares, masked numbers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from jinja2 import Environment

from hub.calendar.duedates import LOCAL_TZ
from protocol.idnumber import mask

__all__ = ["install"]

_WEEKDAYS = "一二三四五六日"


def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if value is None else value.astimezone(LOCAL_TZ).strftime(fmt)


def day(value: date | None) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d}（周{_WEEKDAYS[value.weekday()]}）"


def share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def install(env: Environment) -> None:
    filters: dict[str, Any] = {"local": local, "day": day, "share": share, "num": num, "mask": mask}
    env.filters.update(filters)
