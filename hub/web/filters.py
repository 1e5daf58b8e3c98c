"""Jinja filters for every hub page: local times, dates, durations, shares, masked numbers.

Times are shown in the one local zone of the hub (:data:`protocol.localtime.LOCAL_TZ`), the zone the
due dates are counted in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from jinja2 import Environment

from hub.text import section, text
from protocol.idnumber import mask
from protocol.localtime import LOCAL_TZ

__all__ = ["MINUTES", "SECONDS", "ago", "clock_offset", "day", "duration", "install", "local", "num", "share"]

MINUTES = "%Y-%m-%d %H:%M"
"""The back office's times: to the minute."""
SECONDS = "%Y-%m-%d %H:%M:%S"
"""The operators' times (heartbeats, alerts, versions): to the second."""


def local(value: datetime | None, fmt: str = MINUTES) -> str:
    """``value`` in the hub's local time; empty for none (``| local or '—'`` shows a dash)."""
    return "" if value is None else value.astimezone(LOCAL_TZ).strftime(fmt)


def day(value: date | None) -> str:
    if value is None:
        return "—"
    return text("time", "day", date=f"{value:%Y-%m-%d}", weekday=text("time", "weekdays")[value.weekday()])


def share(value: float | None) -> str:
    """A share to a tenth of a percent, rounded down above 99.9 % and up below 0.1 %: one late case in 2,000
    is 99.9 %, not 100.0 % (the CSV has it to two decimals, 99.95 %), and one in time is not 0.0 %."""
    if value is None:
        return "—"
    if 0.999 < value < 1:
        value = 0.999
    elif 0 < value < 0.001:
        value = 0.001
    return f"{value:.1%}"


def num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def duration(seconds: float | None) -> str:
    """A length of time as an operator reads it: 4.2 秒, 12 分钟, 3.5 小时, 2 天 (negative with a sign)."""
    if seconds is None:
        return "—"
    s = abs(seconds)
    if s < 0.05:
        return text("time", "zero")
    if s < 10:
        out = text("time", "seconds", value=f"{s:.1f}")
    elif s < 120:
        out = text("time", "seconds", value=f"{s:.0f}")
    elif s < 7200:
        out = text("time", "minutes", value=f"{s / 60:.0f}")
    elif s < 172800:
        out = text("time", "hours", value=f"{s / 3600:.1f}")
    else:
        out = text("time", "days", value=f"{s / 86400:.0f}")
    return ("-" if seconds < 0 else "") + out


def clock_offset(seconds: float | None) -> str:
    """A terminal's clock against the hub's (the terminal's minus the hub's), with its direction — and none
    under a second, which is mostly the message's transit time: 3.0 秒（终端比中心快）, 与中心一致（相差不到 1 秒）."""
    if seconds is None:
        return "—"
    words = section("clock")
    if abs(seconds) < 1:
        return words["same"]
    return text(
        "time", "offset", duration=duration(abs(seconds)), direction=words["ahead" if seconds > 0 else "behind"]
    )


def ago(seconds: float | None) -> str:
    return text("time", "never") if seconds is None else text("time", "ago", duration=duration(seconds))


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
