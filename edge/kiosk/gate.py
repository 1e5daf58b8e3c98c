"""The kiosk serves its own browser only: a secret made at each start, given to that browser alone.

A card tap makes a claim token that the page's event stream (``/events``) carries to the browser; any
client of the kiosk's port could otherwise listen there and take the resident's session. So at each
start the kiosk makes a :class:`KioskGate`: a random ``key`` that opens the gate and a random cookie
value. The terminal writes the way in to its runtime folder, readable by its own user only (0600):

- ``kiosk.url``  — ``http://127.0.0.1:8600/kiosk/open?key=…``, one line;
- ``kiosk.html`` — a page that sends the browser there, for a launcher that should not put the key on
  a command line every local user can read (``chromium --kiosk file:///run/shegong/kiosk.html``).

``GET /kiosk/open?key=…`` with the right key sets the gate cookie (HttpOnly, SameSite=Strict) and sends
the page on to ``/`` from a page of its own (a meta refresh: a navigation the kiosk's own page starts,
so the browser sends the Strict cookie even when the way in came from a ``file://`` page). Every other
path but ``/static/`` answers 403 without the cookie: the event stream, claims, pages and forms. A
restart makes a new key and cookie, so a way in copied earlier opens nothing.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
from pathlib import Path

__all__ = ["GATE_COOKIE", "OPEN_PATH", "KioskGate", "is_loopback"]

log = logging.getLogger(__name__)

GATE_COOKIE = "kiosk_gate"
OPEN_PATH = "/kiosk/open"
URL_FILE = "kiosk.url"
PAGE_FILE = "kiosk.html"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address only this machine reaches (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name could resolve anywhere


class KioskGate:
    """This start's key and cookie value; compared in constant time."""

    def __init__(self) -> None:
        self.key = secrets.token_urlsafe(32)
        self.cookie_value = secrets.token_urlsafe(32)

    @property
    def open_path(self) -> str:
        """The path (with the key) that lets a browser in."""
        return f"{OPEN_PATH}?key={self.key}"

    def opens(self, key: str | None) -> bool:
        return bool(key) and hmac.compare_digest(str(key).encode(), self.key.encode())

    def admits(self, cookie: str | None) -> bool:
        return bool(cookie) and hmac.compare_digest(str(cookie).encode(), self.cookie_value.encode())

    def write(self, folder: Path, base_url: str) -> Path:
        """Write ``kiosk.url`` and ``kiosk.html`` (0600) into ``folder`` (made 0700); returns the URL file."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        url = base_url.rstrip("/") + self.open_path
        _write_private(folder / URL_FILE, url + "\n")
        page = (
            '<!doctype html><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="0; url={url}"><title>自助终端</title>\n'
        )
        _write_private(folder / PAGE_FILE, page)
        log.info("kiosk way in for its browser written to %s", folder / URL_FILE)
        return folder / URL_FILE

    @staticmethod
    def remove(folder: Path) -> None:
        """Remove the way in (the kiosk stopped: its key opens nothing any more)."""
        for name in (URL_FILE, PAGE_FILE):
            (folder / name).unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, the file 0600 from its first byte (never readable by others)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
