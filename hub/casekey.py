"""The hub's case key: the private half opens the cases terminals seal to its public half.

``init(path)`` makes a pair once (the file is created 0600 and never overwritten) and returns the public
key to give every terminal (``hub_public_key`` in its settings, set at provisioning). ``load(path)`` reads
the private key at start-up; a missing, unreadable or group/world-readable file stops the hub with a
message that says what to do.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from nacl.public import PrivateKey

from hub.errors import HubError
from kernel.keyfile import KeyFile

__all__ = ["CaseKeyError", "derive", "for_one_machine", "init", "load", "public_text"]


class CaseKeyError(HubError):
    """The case key file is missing, unreadable, too open or not a key."""


_FILE = KeyFile(
    "case key",
    made_by="run `shegong hub keys init` (once) and set case_key_file",
    replacing_would="strand every case sealed to the old one",
    error=CaseKeyError,
)


def init(path: Path) -> str:
    """Make a key pair in ``path`` (which must not exist); return the public key's text."""
    key = PrivateKey.generate()
    _FILE.create(path, bytes(key))
    return public_text(key)


def load(path: Path) -> PrivateKey:
    return PrivateKey(_FILE.read(path))


def derive(key: PrivateKey, domain: bytes) -> bytes:
    """A secret of its own for one use of the case key (``domain``, ending in a NUL byte), the same in every
    process of the hub and never stored: SHA-256(domain || private key). Terminals' lookup keys, the portal's
    tokens and the tags on case events are keyed so; a terminal holds only the public half."""
    return hashlib.sha256(domain + bytes(key)).digest()


def public_text(key: PrivateKey) -> str:
    """The public half, as terminals are given it."""
    return base64.urlsafe_b64encode(bytes(key.public_key)).decode("ascii")


def for_one_machine(folder: Path) -> dict[str, str]:
    """A key pair made in ``folder`` for a hub and terminals on this machine (demo, benchmarks): the
    variables that give the hub its private key file and the terminals its public key. The hub's audit key
    is made beside it (``<case key file>.audit``), as ``shegong hub keys init`` does, and the terminals
    are given its public half, which checks the hub's signed anchors."""
    from hub.audit.keyed import AuditKey

    path = folder / "hub-case.key"
    public = public_text(load(path)) if path.exists() else init(path)
    audit = Path(f"{path}.audit")
    audit_key = AuditKey.load(audit) if audit.exists() else AuditKey.init(audit)
    return {
        "SHEGONG_HUB_CASE_KEY_FILE": str(path),
        "SHEGONG_HUB_PUBLIC_KEY": public,
        "SHEGONG_HUB_AUDIT_PUBLIC_KEY": audit_key.public_hex,
    }
