"""Keying the hub's audit chain with a secret kept outside the database (issue 15).

The hash chain (:mod:`hub.audit.chain`) catches an edited entry, but someone who can write the database
can recompute every hash after an edit and move the anchor too. So:

- each entry gets a MAC, ``HMAC-SHA256(mac key, entry hash)``, in ``audit.mac``, as it is appended (every
  hub process loads the key file at start); the nightly ``anchor`` step checks every entry since the last
  anchor, so an edit cannot be hidden by recomputing hashes without the key file, and an entry without a
  seal fails the night as it fails ``audit verify``;
- each night the hub signs an anchor (day, entry count, last id, head hash, time) with an Ed25519 key,
  keeps it (``audit_day_anchors``) and publishes it retained to every terminal, which keeps what it
  received and sends it back as a witness (:mod:`hub.night.witness`); a hub rewritten whole, with the key
  file in hand, still disagrees with what the terminals saw.

Both keys derive from one 32-byte secret in ``audit_key_file`` (0600, beside the case key), made once by
``shegong hub keys init``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import Connection, Row
from sqlmodel import col, select

from hub.db.models import AuditEntry
from hub.errors import HubError
from hub.settings import HubSettings
from kernel.keyfile import KEY_BYTES, KeyFile
from protocol.auditchain import GENESIS, entry_hash

__all__ = ["AuditKey", "AuditKeyError", "SealBreak", "check_from", "key_path", "seal_problem", "verify_macs"]


class AuditKeyError(HubError):
    """The audit key file is missing, unreadable, too open or not a key."""


_FILE = KeyFile(
    "audit key",
    made_by="run `shegong hub keys init` (once)",
    replacing_would="break every seal made with it",
    error=AuditKeyError,
)


def key_path(settings: HubSettings) -> Path:
    """``audit_key_file``, or ``<case_key_file>.audit`` beside the case key."""
    return Path(settings.audit_key_file or f"{settings.case_key_file}.audit")


@dataclass(frozen=True)
class AuditKey:
    secret: bytes

    @classmethod
    def init(cls, path: Path) -> AuditKey:
        """Make the key file (which must not exist)."""
        secret = os.urandom(KEY_BYTES)
        _FILE.create(path, secret)
        return cls(secret)

    @classmethod
    def load(cls, path: Path) -> AuditKey:
        return cls(_FILE.read(path))

    def _derive(self, label: bytes) -> bytes:
        return hmac.new(self.secret, b"shegong/audit/" + label, hashlib.sha256).digest()

    def mac(self, entry_hash_hex: str) -> str:
        return hmac.new(self._derive(b"mac"), entry_hash_hex.encode("ascii"), hashlib.sha256).hexdigest()

    @property
    def signing_key(self) -> SigningKey:
        return SigningKey(self._derive(b"sign"))

    @property
    def backup_signing_key(self) -> SigningKey:
        """Signs the hub's backups (hub.night.backup): a key of its own, so no backup signature can be taken
        for an anchor's or the other way round."""
        return SigningKey(self._derive(b"backup"))

    @property
    def verify_key(self) -> VerifyKey:
        return self.signing_key.verify_key

    @property
    def public_hex(self) -> str:
        """The anchors' verification key as terminals are given it (``hub_audit_public_key``)."""
        return bytes(self.verify_key).hex()

    def sign(self, message: bytes) -> str:
        return self.signing_key.sign(message).signature.hex()


@dataclass(frozen=True, slots=True)
class SealBreak:
    entry_id: int
    problem: str


def check_from(conn: Connection, key: AuditKey, after_id: int = 0, batch: int = 5000) -> tuple[int, SealBreak | None]:
    """Check every entry after ``after_id`` (the last entry a signed daily anchor covers, itself checked),
    in id order: it follows the one before (its hash recomputed) and its MAC holds. Every hub process seals
    entries as it appends them (:func:`hub.audit.chain.bind_key_file`), so an entry without a seal is a
    break — its seal was removed — never something to seal now. Returns (entries that hold, the first break)."""
    prev = GENESIS
    if after_id:
        last = conn.execute(select(AuditEntry.hash, AuditEntry.mac).where(AuditEntry.id == after_id)).first()
        if last is None or last[1] is None or not hmac.compare_digest(str(last[1]), key.mac(str(last[0]))):
            return 0, SealBreak(
                after_id, "the entry the last signed anchor ends at is gone or not sealed with this key"
            )
        prev = str(last[0])
    good = 0
    for row in _after(conn, after_id, batch):
        if row.prev_hash != prev or row.hash != entry_hash(
            row.prev_hash, row.at, row.actor, row.action, row.subject, row.data
        ):
            return good, SealBreak(int(row.id), "an entry does not follow the chain")
        if (problem := seal_problem(key, row)) is not None:
            return good, SealBreak(int(row.id), problem)
        prev = row.hash
        good += 1
    return good, None


def verify_macs(conn: Connection, key: AuditKey, batch: int = 5000) -> tuple[int, SealBreak | None]:
    """Check every entry's MAC. Returns (sealed entries that hold, the first break)."""
    good = 0
    for row in _after(conn, 0, batch):
        if (problem := seal_problem(key, row)) is not None:
            return good, SealBreak(int(row.id), problem)
        good += 1
    return good, None


def seal_problem(key: AuditKey, row: Any) -> str | None:
    """What is wrong with an entry's seal (``row.hash``, ``row.mac``), or None when it holds."""
    if row.mac is None:
        return "it is not sealed: its seal was removed (every hub process seals what it appends)"
    if not hmac.compare_digest(str(row.mac), key.mac(str(row.hash))):
        return "its MAC does not hold: rewritten without the audit key"
    return None


def _after(conn: Connection, after_id: int, batch: int) -> Iterator[Row[Any]]:
    last = after_id
    while rows := conn.execute(
        select(AuditEntry).where(col(AuditEntry.id) > last).order_by(col(AuditEntry.id)).limit(batch)
    ).all():
        yield from rows
        last = int(rows[-1].id)
