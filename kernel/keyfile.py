"""Secret key files: 32 bytes as URL-safe base64 in a file of their own, 0600, made once, never overwritten.

The hub's case key (:mod:`hub.casekey`), the hub's audit key (:mod:`hub.audit.keyed`) and a terminal's
audit signing key (:mod:`edge.store.auditkey`) are all kept so. This is the one place that makes and reads
such a file: a missing, unreadable, group/world-readable or malformed file is refused with a message that
names the key, the file and what to do. Each side describes its key with a :class:`KeyFile` that raises
that side's own error class.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KEY_BYTES", "KeyFile"]

KEY_BYTES = 32


@dataclass(frozen=True)
class KeyFile:
    """One kind of key file: how its errors name it and what they tell the operator."""

    what: str
    """The key's name in messages ("audit key")."""
    made_by: str
    """How to make it, said when it is missing ("run `shegong hub keys init` (once)")."""
    replacing_would: str
    """Why an existing file is never overwritten ("break every seal made with it")."""
    error: type[Exception]
    """The error raised, the caller's package's own."""

    def create(self, path: Path, secret: bytes) -> None:
        """Write ``secret`` to ``path``, which must not exist; the file is 0600 from its first byte."""
        if len(secret) != KEY_BYTES:
            raise ValueError(f"a {self.what} is {KEY_BYTES} bytes, not {len(secret)}")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise self.error(f"{path} exists already: a new {self.what} would {self.replacing_would}") from None
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(base64.urlsafe_b64encode(secret).decode("ascii") + "\n")

    def read(self, path: Path) -> bytes:
        """The secret in ``path``, if the file is this process's to read alone and holds a key."""
        try:
            mode = path.stat().st_mode
            text = path.read_text("ascii").strip()
        except FileNotFoundError:
            raise self.error(f"no {self.what} at {path}: {self.made_by}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise self.error(f"cannot read the {self.what} {path}: {exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise self.error(f"the {self.what} {path} is readable by others: chmod 600 it")
        try:
            secret = base64.urlsafe_b64decode(text.encode("ascii"))
        except (binascii.Error, ValueError):
            secret = b""
        if len(secret) != KEY_BYTES:
            raise self.error(f"{path} does not hold a {KEY_BYTES}-byte {self.what} (URL-safe base64)")
        return secret
