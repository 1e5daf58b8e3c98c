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

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from edge.errors import EdgeError
from kernel.keyfile import KEY_BYTES, KeyFile
from protocol.auditchain import signed_text

__all__ = ["AuditKeyError", "TerminalAuditKey"]

log = logging.getLogger(__name__)


class AuditKeyError(EdgeError):
    """The terminal's audit key file is unreadable, readable by others or not a key."""


_FILE = KeyFile(
    "audit key",
    made_by="run `shegong edge keys init` (once)",
    replacing_would="break every signature made with it",
    error=AuditKeyError,
)


@dataclass(frozen=True)
class TerminalAuditKey:
    signing_key: SigningKey

    @classmethod
    def init(cls, path: Path) -> TerminalAuditKey:
        """Make the key file (which must not exist)."""
        seed = os.urandom(KEY_BYTES)
        _FILE.create(path, seed)
        return cls(SigningKey(seed))

    @classmethod
    def load(cls, path: Path) -> TerminalAuditKey:
        return cls(SigningKey(_FILE.read(path)))

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
