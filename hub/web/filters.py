"""Jinja filters for every hub page: local times, dates, durations, shares, masked numbers.

Times are shown in the one local zone of the hub (:data:`protocol.localtime.LOCAL_TZ`), the zone the
due dates are counted in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from jinja2 import Environment

from hub.web.text import fleet_labels
from protocol.idnumber import mask
from protocol.localtime import LOCAL_TZ

__all__ = ["MINUTES", "SECONDS", "ago", "clock_offset", "day", "duration", "install", "local", "num", "share"]

MINUTES = "%Y-%m-%d %H:%M"
"""The back office's times: to the minute."""
SECONDS = "%Y-%m-%d %H:%M:%S"
"""The operators' times (heartbeats, alerts, versions): to the second."""
_WEEKDAYS = "一二三四五六日"


def local(value: datetime | None, fmt: str = MINUTES) -> str:
    """``value`` in the hub's local time; empty for none (``| local or '—'`` shows a dash)."""
    return "" if value is None else value.astimezone(LOCAL_TZ).strftime(fmt)


def day(value: date | None) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d}（周{_WEEKDAYS[value.weekday()]}）"


def share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def duration(seconds: float | None) -> str:
    """A length of time as an operator reads it: 4.2 秒, 12 分钟, 3.5 小时, 2 天 (negative with a sign)."""
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


def clock_offset(seconds: float | None) -> str:
    """A terminal's clock against the hub's (the terminal's minus the hub's), with its direction — and none
    under a second, which is mostly the message's transit time: 3.0 秒（终端比中心快）, 与中心一致（相差不到 1 秒）."""
    if seconds is None:
        return "—"
    words = fleet_labels()["clock"]
    if abs(seconds) < 1:
        return words["same"]
    return f"{duration(abs(seconds))}（{words['ahead' if seconds > 0 else 'behind']}）"


def ago(seconds: float | None) -> str:
    return "从未" if seconds is None else f"{duration(seconds)}前"


def install(env: Environment) -> None:
    """Put the filters, and the time formats they take (``MINUTES``, ``SECONDS``), into ``env``."""
    filters: dict[str, Callable[..., Any]] = {
        "local": local,
        "day": day,
        "share": share,
        "num": num,
        "mask": mask,
        "duration": duration,
        "ago": ago,
        "clock_offset": clock_offset,
    }
    env.filters.update(filters)
    env.globals.update(MINUTES=MINUTES, SECONDS=SECONDS)
