"""Staff PINs: scrypt hashes (stdlib), compared in constant time, with a lockout after repeated failures.

A PIN entry is ``staff_id:scrypt$n$r$p$salt_b64$hash_b64``; several are separated by commas. Make one with
``python -m edge.kiosk.staff STAFF_ID`` (asks for the PIN, prints the entry). No PIN ships with the kiosk:
with no entry provisioned, staff mode is off (no login offered, every login refused).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["LOCKED_ALARM", "StaffDirectory", "StaffLocked", "hash_pin", "verify_pin"]

_N, _R, _P = 2**14, 8, 1
_STAFF_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: The alarm a lockout raises (the kiosk raises it; a staff sign-in clears it): someone may be guessing PINs.
LOCKED_ALARM = "staff_locked"


class StaffLocked(Exception):
    """Too many wrong PINs: staff login is refused until ``retry_in`` seconds have passed."""

    def __init__(self, retry_in: float) -> None:
        self.retry_in = retry_in
        super().__init__(f"locked for {retry_in:.0f} s")


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(want))
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


def _parse(entries: str | None) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in (entries or "").split(","))):
        staff_id, _, encoded = entry.partition(":")
        if not _STAFF_ID.match(staff_id) or not encoded.startswith("scrypt$"):
            raise ValueError(f"bad staff PIN entry for {staff_id[:32]!r}: want staff_id:scrypt$…")
        hashes[staff_id] = encoded
    return hashes


class StaffDirectory:
    """Staff who may log in at this kiosk. ``max_failures`` wrong PINs in a row lock login for ``lockout_s``."""

    def __init__(
        self,
        entries: str | None,
        *,
        max_failures: int = 5,
        lockout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hashes = _parse(entries)
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._clock = clock
        self._failures = 0
        self._locked_until = 0.0
        self._lock = threading.Lock()

    def reload(self, entries: str) -> None:
        """Take ``entries`` in place of the PINs held (a PIN reset, read again from the configuration);
        entries that do not parse leave the PINs held as they were (ValueError)."""
        hashes = _parse(entries)
        self._hashes = hashes  # one assignment: a login sees the old PINs or the new, never half of each

    def __contains__(self, staff_id: str) -> bool:
        return staff_id in self._hashes

    @property
    def enabled(self) -> bool:
        """Whether any staff PIN is provisioned here; without one there is no staff mode at all."""
        return bool(self._hashes)

    def locked_for(self) -> float:
        """Seconds until staff login opens again; 0 while it is open."""
        with self._lock:
            return max(0.0, self._locked_until - self._clock())

    def login(self, staff_id: str, pin: str) -> bool:
        """True when the PIN is this staff member's; raises :class:`StaffLocked` while locked out.
        Always False while no PIN is provisioned."""
        if not self._hashes:
            return False
        with self._lock:
            now = self._clock()
            if now < self._locked_until:
                raise StaffLocked(self._locked_until - now)
        encoded = self._hashes.get(staff_id.strip())
        # Unknown ids cost a hash too, so timing does not tell which ids exist.
        ok = verify_pin(pin, encoded or hash_pin("", b"0" * 16)) and encoded is not None
        with self._lock:
            if ok:
                self._failures = 0
            else:
                self._failures += 1
                if self._failures >= self.max_failures:
                    self._failures = 0
                    self._locked_until = self._clock() + self.lockout_s
        return ok


if __name__ == "__main__":  # python -m edge.kiosk.staff STAFF_ID
    if len(sys.argv) != 2 or not _STAFF_ID.match(sys.argv[1]):
        sys.exit("usage: python -m edge.kiosk.staff STAFF_ID   (then type the PIN)")
    pin = getpass.getpass("PIN: ")
    if not pin.isdigit() or len(pin) < 6:
        sys.exit("a PIN is at least 6 digits")
    print(f"{sys.argv[1]}:{hash_pin(pin)}")
