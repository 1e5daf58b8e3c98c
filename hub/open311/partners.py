"""Partner systems and their API keys (``shegong hub partner add|list|revoke``).

A key is ``<key id>.<secret>``: the id finds the partner's row, the secret is checked against its argon2
hash (the same hasher as users' passwords, :mod:`hub.people.passwords`). The hub prints a new key once and
keeps only the hash; a revoked key stops working at once, in every process (each request reads the row).

argon2 costs about half a second on purpose, which a partner polling its requests' status should not pay
on every call: a secret verified once is remembered in this process, as a SHA-256 digest beside its key
id, for ``VERIFIED_S`` seconds (the row is still read each time, so a revocation still counts at once).

Anyone may send a key, and each one not remembered costs that half second and argon2's 64 MiB: unlimited,
a few clients sending made-up keys would hold every web thread and both cores. So a wrong key is counted
in the sign-in backoff's tally (:class:`hub.people.throttle.LoginThrottle`, per client, under the name
:data:`PARTNER_KEYS`), and a client whose keys keep failing waits, doubling, before its next key is even
looked at (:class:`~hub.people.throttle.TooManyAttempts`, HTTP 429 with ``Retry-After``). Only a wrong
key is counted, after its check — not every key before it, as a password is: a key cannot be guessed, the
tally only bounds what checking costs, and a partner's calls in parallel must not be refused for each
other's pending charges. A burst of wrong keys in parallel is thus checked before it is counted, and then
waits the longer for it. A partner whose key is remembered never touches the tally.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from hub.audit.chain import AuditRecord, append
from hub.db.models import PartnerRow, table
from hub.errors import HubError, NotFound
from hub.people.passwords import hash_password, verify_password
from hub.people.throttle import LoginThrottle
from kernel.db import read_only
from protocol.envelope import utcnow

__all__ = ["PARTNER_KEYS", "Partner", "PartnerError", "Partners"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
VERIFIED_S = 300.0
_partners = table(PartnerRow)
_KEY = re.compile(r"^([0-9a-f]{12})\.([A-Za-z0-9_-]{20,128})$")
PARTNER_KEYS = "(open311)"
"""The name the failed-credentials tally counts partner keys under (no user's name holds parentheses)."""


class PartnerError(HubError):
    """A partner name that cannot be used or is taken."""


@dataclass(frozen=True, slots=True)
class Partner:
    """A partner as the Open311 side sees it: who, and whether its key still works."""

    partner_id: int
    name: str
    key_id: str
    created_at: datetime
    revoked_at: datetime | None
    refused: int = 0
    """POSTs refused over the request limit, in all (``[open311] partner_requests``)."""
    last_refused_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _partner(row: PartnerRow) -> Partner:
    assert row.partner_id is not None
    return Partner(
        row.partner_id, row.name, row.key_id, row.created_at, row.revoked_at, row.refused, row.last_refused_at
    )


class Partners:
    """The partner register over the hub database."""

    def __init__(
        self, engine: Engine, clock: Callable[[], datetime] = utcnow, throttle: LoginThrottle | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.throttle = throttle or LoginThrottle()
        self._verified: dict[str, tuple[bytes, float]] = {}  # key id -> (SHA-256 of its secret, until)
        self._lock = threading.Lock()

    def add(self, name: str, actor: str = "cli") -> tuple[Partner, str]:
        """A new partner and its key (shown to the caller once; only its hash is stored); audited."""
        if not _NAME.match(name):
            raise PartnerError(f"partner name {name!r}: letters, digits, '-' and '_' only, at most 64")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with Session(self.engine) as s:
            if s.exec(select(PartnerRow).where(col(PartnerRow.name) == name)).first() is not None:
                raise PartnerError(f"partner {name} exists already (revoke it and add a new name to re-key)")
            row = PartnerRow(name=name, key_id=key_id, key_hash=hash_password(secret), created_at=self.clock())
            s.add(row)
            s.flush()
            data = {"name": name, "key_id": key_id}
            append(s.connection(), [AuditRecord(row.created_at, actor, "open311.partner.add", name, data)])
            s.commit()
            s.refresh(row)
            return _partner(row), f"{key_id}.{secret}"

    def list(self) -> list[Partner]:
        with Session(self.engine) as s:
            return [_partner(r) for r in s.exec(select(PartnerRow).order_by(col(PartnerRow.name)))]

    def revoke(self, name: str, actor: str = "cli") -> Partner:
        """Revoke the partner's key: from now on it opens nothing (its requests stay cases)."""
        with Session(self.engine) as s:
            row = s.exec(select(PartnerRow).where(col(PartnerRow.name) == name)).first()
            if row is None:
                raise NotFound(f"no partner {name}")
            if row.revoked_at is None:
                row.revoked_at = self.clock()
                s.add(row)
                s.flush()
                data = {"name": name, "key_id": row.key_id}
                append(s.connection(), [AuditRecord(row.revoked_at, actor, "open311.partner.revoke", name, data)])
                s.commit()
                s.refresh(row)
            return _partner(row)

    def refused(self, partner_id: int, at: datetime) -> datetime | None:
        """Count a POST refused over the partner's request limit; return the refusal before it (None: its
        first). One row per partner whatever the flood, not an entry each."""
        with self.engine.begin() as conn:
            before = conn.execute(
                select(_partners.c.last_refused_at).where(_partners.c.partner_id == partner_id)
            ).scalar()
            conn.execute(
                update(_partners)
                .where(_partners.c.partner_id == partner_id)
                .values(refused=_partners.c.refused + 1, last_refused_at=at)
            )
        return before

    def authenticate(self, key: str, client: str = "unknown") -> Partner | None:
        """The active partner holding ``key``; None for a malformed, unknown or revoked key (each costs
        one hash verification, so a caller cannot tell which). ``client``: the
        :func:`~hub.people.throttle.client_key` of the address asking; one whose keys keep failing gets
        :class:`~hub.people.throttle.TooManyAttempts` before any hash is computed."""
        m = _KEY.match(key.strip())
        row: PartnerRow | None = None
        if m is not None:
            with Session(self.engine) as s:
                row = s.exec(select(PartnerRow).where(col(PartnerRow.key_id) == m.group(1))).first()
        if m is not None and row is not None and self._remembered(row.key_id, m.group(2)):
            good = True
        else:
            good = self._verify(row.key_hash if row else None, m.group(2) if m else key, client)
        if not good or m is None or row is None:
            return None
        self._remember(row.key_id, m.group(2))
        if row.revoked_at is not None:
            return None
        return _partner(row)

    def _verify(self, key_hash: str | None, secret: str, client: str) -> bool:
        """One hash verification, unless ``client`` must wait; a wrong key is counted against it."""
        with read_only(self.engine).connect() as conn:
            self.throttle.check(conn, client, PARTNER_KEYS, self.clock())
        good = verify_password(key_hash, secret)  # outside any transaction: a guess holds no database lock
        if not good:
            with self.engine.begin() as conn:
                self.throttle.charge(conn, client, PARTNER_KEYS, self.clock())
        return good

    def _remembered(self, key_id: str, secret: str) -> bool:
        with self._lock:
            known = self._verified.get(key_id)
        digest = hashlib.sha256(secret.encode()).digest()
        return known is not None and known[1] > time.monotonic() and hmac.compare_digest(known[0], digest)

    def _remember(self, key_id: str, secret: str) -> None:
        with self._lock:
            self._verified[key_id] = (hashlib.sha256(secret.encode()).digest(), time.monotonic() + VERIFIED_S)
