"""Staff PIN reset: a new random PIN for one staff member, its scrypt entry written into the terminal's
configuration file in place of the old one. The PIN is returned once to be shown to the technician; it is
never logged nor audited (the audit names the staff member only). The console then asks the running
terminal to read the PINs again (``staff_pins`` on :mod:`edge.control`): the new one holds at once; with the
service stopped, from its next start.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tomllib
from pathlib import Path

from edge.errors import EdgeError
from edge.kiosk.staff import hash_pin

__all__ = ["PIN_DIGITS", "reset_pin"]

PIN_DIGITS = 6
_STAFF_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_ENV = "SHEGONG_KIOSK_STAFF_PINS"
_TABLE = re.compile(r"^\[kiosk\]\s*$", re.MULTILINE)
_LINE = re.compile(r"^staff_pins\s*=.*$", re.MULTILINE)
_NEXT_TABLE = re.compile(r"^\[", re.MULTILINE)


def _with_pins(text: str, line: str) -> str:
    """``text`` with ``line`` as the ``staff_pins`` of its ``[kiosk]`` table (added if missing)."""
    table = _TABLE.search(text)
    if table is None:
        return f"{text.rstrip()}\n\n[kiosk]\n{line}\n".lstrip()
    body_end = m.start() if (m := _NEXT_TABLE.search(text, table.end())) else len(text)
    body = text[table.end() : body_end]
    body = _LINE.sub(lambda _m: line, body, count=1) if _LINE.search(body) else f"\n{line}{body}"
    return text[: table.end()] + body + text[body_end:]


def reset_pin(config: Path, staff_id: str, pin: str | None = None) -> str:
    """Give ``staff_id`` a new PIN (random unless given) in ``config``'s ``[kiosk] staff_pins``; return it.

    Raises :class:`EdgeError` when ``staff_id`` has no PIN here yet (a reset, not a new sign-in), the PINs
    come from the environment (the file would not count), the file cannot be read or written, or the entry
    is not a single line this can rewrite.
    """
    if not _STAFF_ID.match(staff_id):
        raise EdgeError("a staff id is 1-32 letters, digits, - or _")
    if _ENV in os.environ:
        raise EdgeError(f"staff PINs are set by {_ENV} in the environment: change them there")
    pin = pin or f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"
    try:
        text = config.read_text(encoding="utf-8") if config.exists() else ""
        current = str(tomllib.loads(text).get("kiosk", {}).get("staff_pins") or "")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EdgeError(f"cannot read {config}: {exc}") from None
    held = [e.strip() for e in current.split(",") if e.strip()]
    if staff_id not in {e.split(":", 1)[0].strip() for e in held}:
        # a typo would have made a new staff sign-in (one that applies for residents): staff come from provisioning
        raise EdgeError(f"no staff member {staff_id} at this terminal: staff are added by provisioning, not here")
    entries = [e for e in held if e.split(":", 1)[0].strip() != staff_id]
    entries.append(f"{staff_id}:{hash_pin(pin)}")
    value = ",".join(entries)
    updated = _with_pins(text, f"staff_pins = {json.dumps(value)}")  # a JSON string is a TOML basic string
    try:
        written = tomllib.loads(updated).get("kiosk", {}).get("staff_pins")
    except tomllib.TOMLDecodeError:
        written = None
    if written != value:
        raise EdgeError(f"[kiosk] staff_pins in {config} is not a single line: change it by hand")
    tmp = config.with_name(f".{config.name}.tmp")
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, config.stat().st_mode & 0o777 if config.exists() else 0o600
        )
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(updated)
        tmp.replace(config)
    except OSError as exc:
        raise EdgeError(f"cannot write {config}: {exc.strerror or exc}") from None
    return pin
