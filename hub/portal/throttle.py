"""Limits on wrong progress look-ups: per client and per receipt number, shared by every hub process.

A receipt number is printed and guessable; the query code has 32⁶ values and the ID number little
entropy, so a look-up must not be tried at will. Each wrong look-up is counted against the client (its
address, an IPv6 /64 whole: :func:`hub.people.throttle.client_key`) and against the receipt number it
named together with the ID number (hashed: a stranger trying other ID numbers on a resident's receipt
cannot lock the resident out; anyone trying the resident's own gets as few tries), in buckets of a
twelfth of the window. A client or a receipt with ``client_failures`` /
``receipt_failures`` wrong look-ups within the last ``window_s`` seconds is refused — the right answer
too — until enough of them have aged out of the window. A refused look-up is not counted, so a lock
ends by itself.

The check, the look-up and the count run in one transaction that this serialises with every other
(SQLite's BEGIN IMMEDIATE does already; on PostgreSQL a table lock that plain reads do not wait for),
so a burst of parallel guesses cannot all pass before the first is counted.

A look-up with the receipt's number and query code right and the ID number wrong comes from someone
holding the receipt (or its photograph): the receipt prints the ID number masked, with only the eight
digits of the birth date hidden, and about 33 of the days of a year give a valid check character. Each
guess names another ID number, so the receipt's limit above never tripped, and from enough addresses the
whole number was found in a few hundred tries (a web review: 172 tries from 18 addresses). Those look-ups
count against the receipt alone (``held``): ``held_failures`` within ``held_window_s`` (5 a day) and
the receipt is refused on the web until they age out; its holder still finds it at the kiosk or the
counter. Only someone holding the receipt can make them, so a stranger cannot lock its owner out.

Keys are keyed hashes (:meth:`hub.portal.token.TokenSeal.digest`), never the ID number or a plain hash of
it: a stored hash of an ID number is found by trying a district's birth dates in about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select

from hub.db.models import PortalFailureRow, table
from kernel.db import upsert_insert

__all__ = ["LookupPolicy", "LookupThrottle"]

_t = table(PortalFailureRow)
CLIENT, RECEIPT, HELD = "client", "receipt", "held"


@dataclass(frozen=True, slots=True)
class LookupPolicy:
    """From the hub settings ``[portal]`` (:meth:`from_settings`)."""

    client_failures: int = 10
    receipt_failures: int = 5
    window_s: int = 3600
    held_failures: int = 5
    held_window_s: int = 86400

    @classmethod
    def from_settings(cls, portal: Any) -> LookupPolicy:
        return cls(
            int(portal.client_failures),
            int(portal.receipt_failures),
            int(portal.window_s),
            int(portal.held_failures),
            int(portal.held_window_s),
        )

    def limits(self, client: str, receipt: str, held: str) -> list[tuple[str, str, int, int]]:
        """(kind, key, failures allowed, window in seconds) of each count a look-up is held to."""
        return [
            (CLIENT, client, self.client_failures, self.window_s),
            (RECEIPT, receipt, self.receipt_failures, self.window_s),
            (HELD, held, self.held_failures, self.held_window_s),
        ]

    @property
    def bucket_s(self) -> int:
        return max(1, self.window_s // 12)


class LookupThrottle:
    def __init__(self, policy: LookupPolicy | None = None) -> None:
        self.policy = policy or LookupPolicy()

    def _bucket(self, now: datetime) -> datetime:
        step = self.policy.bucket_s
        return datetime.fromtimestamp(int(now.timestamp()) // step * step, tz=now.tzinfo)

    def lock(self, conn: Connection) -> None:
        """Serialise this transaction with every other look-up's (see the module's note)."""
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE portal_failures IN SHARE ROW EXCLUSIVE MODE")

    def retry_in(self, conn: Connection, client: str, receipt: str, held: str, now: datetime) -> float:
        """Seconds until ``client``, ``receipt`` (with the ID number named) and ``held`` (the receipt alone)
        may look up again (0: now): until enough of their wrong look-ups have aged out of their window, as the
        page tells the resident."""
        wait = 0.0
        for kind, key, limit, window_s in self.policy.limits(client, receipt, held):
            since = self._bucket(now - timedelta(seconds=window_s))
            rows = conn.execute(
                select(_t.c.bucket, _t.c.failures)
                .where(_t.c.kind == kind, _t.c.key == key[:64], _t.c.bucket > since)
                .order_by(_t.c.bucket)
            ).all()
            total = sum(int(f) for _, f in rows)
            for bucket, failures in rows:  # the oldest age out first
                if total < limit:
                    break
                total -= int(failures)
                ages_out = bucket + timedelta(seconds=window_s)  # then `since` passes it
                wait = max(wait, (ages_out - now).total_seconds())
        return wait

    def count(self, conn: Connection, client: str, receipt: str, held: str | None, now: datetime) -> None:
        """Count one wrong look-up against the client and the receipt with the ID number named, and against
        ``held`` (the receipt alone) when it had the receipt's number and query code right; drop buckets
        that left their window long ago."""
        bucket = self._bucket(now)
        insert = upsert_insert(conn)
        for kind, key, _limit, window_s in self.policy.limits(client, receipt, held or ""):
            if key:
                stmt = insert(_t).values(kind=kind, key=key[:64], bucket=bucket, failures=1)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["kind", "key", "bucket"], set_={"failures": _t.c.failures + 1}
                    )
                )
            old = bucket - timedelta(seconds=2 * window_s)
            conn.execute(delete(_t).where(_t.c.kind == kind, _t.c.bucket < old))
