"""Signed tokens of the portal: the QR code on a printed record, and the resident's short-lived pass to
download the record of the case they just looked up.

A token is ``<payload>.<mac>``: URL-safe base64 (unpadded) of a small JSON object, and of
HMAC-SHA256 over it under a key derived from the hub's private case key (as the terminals' lookup keys
are, :mod:`hub.cases.lookup`), so every hub process derives the same key, nothing new is stored or
provisioned, and the key is never in the database. Each use has its own derived key (``purpose``), so a
download pass is no record token and the other way round. :meth:`TokenSeal.open` refuses anything
tampered with, signed by another hub, for another purpose, or expired (:class:`BadToken`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

from nacl.public import PrivateKey

from hub import casekey
from hub.errors import HubError

__all__ = ["DOWNLOAD", "RECORD", "BadToken", "TokenSeal"]

RECORD = "record"
"""A printed record's QR code: case, receipt, status and version at printing, when printed."""
DOWNLOAD = "download"
"""A resident's pass to download their record, minutes long."""
_DOMAIN = b"shegong/portal-token/v1\x00"


class BadToken(HubError):
    """Not a token of this hub for this purpose, altered, or expired."""

    status_code = 400


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSeal:
    def __init__(self, case_key: PrivateKey) -> None:
        self._master = casekey.derive(case_key, _DOMAIN)

    def _key(self, purpose: str) -> bytes:
        return hmac.new(self._master, purpose.encode("ascii"), hashlib.sha256).digest()

    def digest(self, purpose: str, text: str) -> str:
        """A keyed hash of ``text`` for ``purpose`` (hex): what may be stored in place of something a
        resident typed, and cannot be found again by trying every value (as a plain hash of an ID number
        can: a district's birth dates in about a second)."""
        return hmac.new(self._key(purpose), text.encode("utf-8"), hashlib.sha256).hexdigest()

    def make(self, purpose: str, facts: dict[str, Any], expires: datetime) -> str:
        """A token carrying ``facts`` (JSON-able) until ``expires``."""
        body = json.dumps({**facts, "exp": int(expires.timestamp())}, separators=(",", ":"), ensure_ascii=False)
        payload = _b64(body.encode("utf-8"))
        mac = hmac.new(self._key(purpose), payload.encode("ascii"), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}"

    def open(self, purpose: str, token: str, now: datetime) -> dict[str, Any]:
        """The facts of a good token; :class:`BadToken` for any other."""
        payload, dot, mac = token.strip().partition(".")
        try:
            given = _unb64(mac)
            expected = hmac.new(self._key(purpose), payload.encode("ascii"), hashlib.sha256).digest()
            if not dot or not hmac.compare_digest(given, expected):
                raise BadToken("the token's signature does not match")
            facts = json.loads(_unb64(payload))
        except (binascii.Error, ValueError, UnicodeError) as exc:
            raise BadToken(f"not a token: {type(exc).__name__}") from None
        if not isinstance(facts, dict) or not isinstance(facts.get("exp"), int):
            raise BadToken("the token has no expiry")
        if now.timestamp() > facts["exp"]:
            raise BadToken("the token has expired")
        return facts

    @staticmethod
    def until(now: datetime, seconds: float) -> datetime:
        return now + timedelta(seconds=seconds)
