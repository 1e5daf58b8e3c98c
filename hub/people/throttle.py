"""Sign-in backoff per client instead of account lockout, and the bounded tally of failed sign-ins.

A lock after five wrong passwords let anyone shut any clerk out for 15 minutes, and an audit entry per
attempt let a stranger grow the audit chain at will. Here nothing ever locks an account:

- A client (an IPv4 address, or an IPv6 /64, which one subscriber holds whole) with ``free_failures``
  recent failures must wait before its next attempt, 2 s and doubling with each further failure up to
  ``backoff_max_s``; until then it gets :class:`TooManyAttempts` (HTTP 429) and its password is not even
  looked at. A client with no recent failure never waits, whatever others did.
- A user name that many clients guess at (``account_free_failures`` recent failures in all) slows down
  every client that has failed, by the same doubling, counted from that client's own last failure: a
  guess spread over many addresses gains one try per address, and a clerk who mistyped once waits at
  most ``backoff_max_s`` — never longer, and not at all from a PC that has not failed.
- Failures are counted in ``login_failures``: one row per hour, client and user name, with every name
  that is no user's counted as ``(unknown)``. A thousand made-up names are one row, not a thousand
  entries; rows older than ``keep_days`` are dropped as new ones come. The audit chain keeps sign-ins.

"Recent" is the current and the previous hour's rows. Every attempt is charged as a failure before the
password is checked (in one short transaction that also decides the wait, serialised per database), so
a burst of parallel guesses cannot all pass before the first is counted; a good password takes its
charge back.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, literal, select, update

from hub.db.models import LoginFailureRow, table
from hub.errors import HubError
from hub.settings import WebSettings
from hub.text import text
from kernel.db import UTCDateTime, upsert_insert

__all__ = ["UNKNOWN_USER", "Charge", "LoginPolicy", "LoginThrottle", "TooManyAttempts", "client_key"]

UNKNOWN_USER = "(unknown)"
"""How the tally names any user name that is no user's (a real name cannot hold parentheses)."""

_t = table(LoginFailureRow)
_HOUR = timedelta(hours=1)


class TooManyAttempts(HubError):
    """This client must wait ``retry_after_s`` seconds before it may try to sign in again."""

    status_code = 429

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(text("people_error", "too_many_attempts", seconds=retry_after_s))
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How patient sign-in is; from the hub's ``[web] login_…`` settings (:meth:`from_settings`)."""

    free_failures: int = 3
    backoff_max_s: int = 300
    account_free_failures: int = 10
    keep_days: int = 90

    @classmethod
    def from_settings(cls, settings: WebSettings) -> LoginPolicy:
        return cls(
            free_failures=int(settings.login_free_failures),
            backoff_max_s=int(settings.login_backoff_max_s),
            account_free_failures=int(settings.login_account_free_failures),
            keep_days=int(settings.login_failures_keep_days),
        )

    def wait_s(self, failures: int, free: int) -> float:
        """The wait after ``failures`` recent failures of which ``free`` cost nothing: 2, 4, 8 … s, capped."""
        if failures < free:
            return 0.0
        return float(min(self.backoff_max_s, 2 ** min(failures - free + 1, 30)))


@dataclass(frozen=True, slots=True)
class Charge:
    """One attempt counted as a failure until :meth:`LoginThrottle.forgive` takes it back."""

    window_start: datetime
    client: str
    username: str
    at: datetime
    previous_last_at: datetime | None


def client_key(address: str | None) -> str:
    """The client a failure is counted against: an IPv4 address, the /64 of an IPv6 one (an IPv4 address
    mapped into IPv6 counts as itself); anything else (no address, a test client's name) as given, cut."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


class LoginThrottle:
    def __init__(self, policy: LoginPolicy | None = None) -> None:
        self.policy = policy or LoginPolicy()

    def admit(self, conn: Connection, client: str, username: str, now: datetime) -> Charge:
        """Let this attempt go ahead, charged as a failure, or raise :class:`TooManyAttempts`.

        ``conn`` is in a transaction, which this serialises with every other admission (SQLite's
        BEGIN IMMEDIATE does already; on PostgreSQL a table lock that plain reads do not wait for).
        ``username`` is a user's name or :data:`UNKNOWN_USER`.
        """
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE login_failures IN SHARE ROW EXCLUSIVE MODE")
        self.check(conn, client, username, now)
        return self.charge(conn, client, username, now)

    def check(self, conn: Connection, client: str, username: str, now: datetime) -> None:
        """Raise :class:`TooManyAttempts` if ``client`` must still wait; count nothing. For credentials that
        cannot be guessed (a partner's 256-bit key), where only the cost of checking is to be bounded: a
        caller charges a failure after it (:meth:`charge`), so attempts in parallel are not refused for
        each other's charges, as :meth:`admit`'s would be."""
        recent = _t.c.window_start >= _hour(now) - _HOUR
        mine = conn.execute(
            select(func.coalesce(func.sum(_t.c.failures), 0), func.max(_t.c.last_at)).where(
                _t.c.client == client, recent
            )
        ).one()
        failures, last = int(mine[0]), mine[1]
        if failures and last is not None:
            wait = self.policy.wait_s(failures, self.policy.free_failures)
            on_account = conn.execute(
                select(func.coalesce(func.sum(_t.c.failures), 0)).where(_t.c.username == username, recent)
            ).scalar_one()
            wait = max(wait, self.policy.wait_s(int(on_account), self.policy.account_free_failures))
            left = (last + timedelta(seconds=wait) - now).total_seconds()
            if left > 0:
                raise TooManyAttempts(max(1, math.ceil(left)))

    def forgive(self, conn: Connection, charge: Charge) -> None:
        """Take back the charge of an attempt whose password was right."""
        row = and_(
            _t.c.window_start == charge.window_start, _t.c.client == charge.client, _t.c.username == charge.username
        )
        last_at: Any = (
            case((_t.c.last_at == charge.at, literal(charge.previous_last_at, UTCDateTime())), else_=_t.c.last_at)
            if charge.previous_last_at is not None
            else _t.c.last_at
        )
        conn.execute(update(_t).where(row).values(failures=_t.c.failures - 1, last_at=last_at))
        conn.execute(delete(_t).where(row, _t.c.failures <= 0))

    def charge(self, conn: Connection, client: str, username: str, now: datetime) -> Charge:
        """Count one failure of ``client`` on ``username`` (in the caller's transaction)."""
        window = _hour(now)
        key = and_(_t.c.window_start == window, _t.c.client == client, _t.c.username == username)
        previous = conn.execute(select(_t.c.last_at).where(key)).scalar()
        insert = upsert_insert(conn)
        stmt = insert(_t).values(window_start=window, client=client, username=username, failures=1, last_at=now)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["window_start", "client", "username"],
                set_={"failures": _t.c.failures + 1, "last_at": now},
            )
        )
        if previous is None:  # a new row: the time to drop old ones, at most once per client, name and hour
            conn.execute(delete(_t).where(_t.c.window_start < window - timedelta(days=self.policy.keep_days)))
        return Charge(window, client, username, now, previous)
