"""The hub's case key: the private half opens the cases terminals seal to its public half.

``init(path)`` makes a pair once (the file is created 0600 and never overwritten) and returns the public
key to give every terminal (``hub_public_key`` in its settings, set at provisioning). ``load(path)`` reads
the private key at start-up; a missing, unreadable or group/world-readable file stops the hub with a
message that says what to do.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from nacl.public import PrivateKey

from hub.errors import HubError
from protocol.sealed import InvalidKey, generate_keypair, private_key

__all__ = ["CaseKeyError", "for_one_machine", "init", "load", "public_text"]


class CaseKeyError(HubError):
    """The case key file is missing, unreadable, too open or not a key."""


def init(path: Path) -> str:
    """Make a key pair in ``path`` (which must not exist); return the public key's text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    secret, public = generate_keypair()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CaseKeyError(f"{path} exists already: a new key would strand every case sealed to the old one") from None
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return public


def load(path: Path) -> PrivateKey:
    try:
        mode = path.stat().st_mode
        text = path.read_text("ascii")
    except FileNotFoundError:
        raise CaseKeyError(f"no case key at {path}: run `shegong hub keys init` (once) and set case_key_file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseKeyError(f"cannot read the case key {path}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CaseKeyError(f"the case key {path} is readable by others: chmod 600 it")
    try:
        return private_key(text)
    except InvalidKey as exc:
        raise CaseKeyError(f"{path}: {exc}") from None


def public_text(key: PrivateKey) -> str:
    """The public half, as terminals are given it."""
    return base64.urlsafe_b64encode(bytes(key.public_key)).decode("ascii")


def for_one_machine(folder: Path) -> dict[str, str]:
    """A key pair made in ``folder`` for a hub and terminals on this machine (demo, benchmarks): the
    variables that give the hub its private key file and the terminals its public key. The hub's audit key
    is made beside it (``<case key file>.audit``), as ``shegong hub keys init`` does."""
    from hub.audit.keyed import AuditKey

    path = folder / "hub-case.key"
    public = public_text(load(path)) if path.exists() else init(path)
    if not Path(f"{path}.audit").exists():
        AuditKey.init(Path(f"{path}.audit"))
    return {"SHEGONG_HUB_CASE_KEY_FILE": str(path), "SHEGONG_HUB_PUBLIC_KEY": public}
