"""The kiosk serves its own browser only: a secret for this boot, given to that browser alone.

A card tap makes a claim token that the page's event stream (``/events``) carries to the browser; any
client of the kiosk's port could otherwise listen there and take the resident's session. So the kiosk
has a :class:`KioskGate`: a random ``key`` that opens the gate and a random cookie value, made once per
boot of the machine (:meth:`KioskGate.for_this_boot` keeps them in ``kiosk.key``, 0600, with the
kernel's boot id, so a restart of the terminal's service keeps the browser working and a reboot makes
new ones). The terminal writes the way in to its runtime folder, readable by its own user only:

- ``kiosk.url``  — ``http://127.0.0.1:8600/kiosk/open?key=…``, one line;
- ``kiosk.html`` — a page that sends the browser there, for a launcher that should not put the key on
  a command line every local user can read (``chromium --kiosk file:///run/shegong/kiosk.html``).

``GET /kiosk/open?key=…`` with the right key sets the gate cookie (HttpOnly, SameSite=Strict) and sends
the page on to ``/`` from a page of its own (a meta refresh: a navigation the kiosk's own page starts,
so the browser sends the Strict cookie even when the way in came from a ``file://`` page). Every other
path but ``/static/`` answers 403 without the cookie: the event stream, claims, pages and forms.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import secrets
import stat
from pathlib import Path

from edge.kiosk.i18n import DEFAULT_LANG, translator

__all__ = ["GATE_COOKIE", "OPEN_PATH", "KioskGate", "is_loopback"]

log = logging.getLogger(__name__)

GATE_COOKIE = "kiosk_gate"
OPEN_PATH = "/kiosk/open"
URL_FILE = "kiosk.url"
PAGE_FILE = "kiosk.html"
KEY_FILE = "kiosk.key"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")  # Linux: a new random id at every boot


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address only this machine reaches (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name could resolve anywhere


class KioskGate:
    """A key and a cookie value (new random ones unless given); compared in constant time."""

    def __init__(self, key: str | None = None, cookie_value: str | None = None) -> None:
        self.key = key or secrets.token_urlsafe(32)
        self.cookie_value = cookie_value or secrets.token_urlsafe(32)

    @classmethod
    def for_this_boot(cls, folder: Path, boot_id: Path = BOOT_ID) -> KioskGate:
        """The gate kept in ``folder`` if it was made since this boot (and only this user can read it);
        else a new one, kept there (0600) for the rest of the boot. Without a boot id: new at each start."""
        boot = _read(boot_id)
        path = folder / KEY_FILE
        if boot:
            kept = _kept(path)
            if kept is not None and kept.get("boot_id") == boot:
                return cls(kept["key"], kept["cookie"])
        gate = cls()
        _private_dir(folder)
        _write_private(path, json.dumps({"boot_id": boot, "key": gate.key, "cookie": gate.cookie_value}))
        return gate

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
        _private_dir(folder)
        url = base_url.rstrip("/") + self.open_path
        _write_private(folder / URL_FILE, url + "\n")
        title = translator(DEFAULT_LANG)("gate.title")
        page = (
            '<!doctype html><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="0; url={url}"><title>{title}</title>\n'
        )
        _write_private(folder / PAGE_FILE, page)
        log.info("kiosk way in for its browser written to %s", folder / URL_FILE)
        return folder / URL_FILE


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _kept(path: Path) -> dict[str, str] | None:
    """What ``kiosk.key`` holds, if it is this user's alone and well formed; else None (make a new gate)."""
    try:
        st = path.stat()
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
        log.warning("%s is readable by others: a new kiosk key is made", path)
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) and data[k] for k in ("key", "cookie")):
        return None
    return {k: str(v) for k, v in data.items()}


def _private_dir(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, the file 0600 from its first byte (never readable by others)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
