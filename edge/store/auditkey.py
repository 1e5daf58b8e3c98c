"""The terminal's audit signing key (issue 15): an Ed25519 key in a file of its own, outside the database.

Every audit entry is signed as it is appended (:mod:`edge.store.audit`), so someone who rewrites the
database — an entry edited and every hash after it recomputed — cannot make the signatures hold without
this file. The hub is given only the public half (``shegong hub terminal register --audit-key``, or the
first one the terminal's own MQTT login presents): it checks this terminal's chain and cannot forge it,
which a shared MAC key would allow.

The file (0600) is made at provisioning by ``shegong edge keys init``; a terminal started without one
makes it itself, once, and says so in its log.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from edge.errors import EdgeError
from protocol.auditchain import signed_text

__all__ = ["AuditKeyError", "TerminalAuditKey"]

log = logging.getLogger(__name__)
SEED_BYTES = 32


class AuditKeyError(EdgeError):
    """The terminal's audit key file is unreadable, readable by others or not a key."""


@dataclass(frozen=True)
class TerminalAuditKey:
    signing_key: SigningKey

    @classmethod
    def init(cls, path: Path) -> TerminalAuditKey:
        """Make the key file (which must not exist)."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        seed = os.urandom(SEED_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise AuditKeyError(f"{path} exists already: a new key would break every signature made with it") from None
        with os.fdopen(fd, "w") as f:
            f.write(base64.urlsafe_b64encode(seed).decode("ascii") + "\n")
        return cls(SigningKey(seed))

    @classmethod
    def load(cls, path: Path) -> TerminalAuditKey:
        try:
            mode = path.stat().st_mode
            text = path.read_text("ascii").strip()
        except FileNotFoundError:
            raise AuditKeyError(f"no audit key at {path}: run `shegong edge keys init` (once)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise AuditKeyError(f"cannot read the audit key {path}: {exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AuditKeyError(f"the audit key {path} is readable by others: chmod 600 it")
        try:
            seed = base64.urlsafe_b64decode(text.encode("ascii"))
        except ValueError:
            seed = b""
        if len(seed) != SEED_BYTES:
            raise AuditKeyError(f"{path} does not hold a {SEED_BYTES}-byte audit key")
        return cls(SigningKey(seed))

    @classmethod
    def load_or_init(cls, path: Path) -> TerminalAuditKey:
        """The key at ``path``; made there first when no file exists (a terminal provisioned before keys)."""
        if not path.exists():
            log.warning("no audit key at %s: made one; register its public half at the hub", path)
            try:
                return cls.init(path)
            except AuditKeyError:  # another process of this terminal made it just now
                pass
        return cls.load(path)

    @property
    def public_hex(self) -> str:
        return bytes(self.signing_key.verify_key).hex()

    def sign(self, hash_hex: str) -> str:
        return self.signing_key.sign(signed_text(hash_hex)).signature.hex()
