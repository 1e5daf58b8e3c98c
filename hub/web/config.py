"""The web side's options, read from the hub settings once at start-up (with safe defaults)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

__all__ = ["WebConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WebConfig:
    secret: str
    """Signs CSRF tokens; the same on every worker behind one address (``SHEGONG_HUB_WEB_SECRET``)."""
    cookie_secure: bool = True
    """Session and CSRF cookies only over HTTPS; browsers also keep them on http://localhost."""
    session_max_age_s: int = 8 * 3600
    """A browser session lasts a working day from its last use."""
    session_absolute_s: int = 12 * 3600
    """…and never longer than this from sign-in, however busy: a stolen cookie does not live for ever."""
    token_max_age_s: int = 8 * 3600
    """An API token lasts this long from sign-in."""

    @classmethod
    def from_settings(cls, settings: Any) -> WebConfig:
        """From ``web_secret``, ``web_cookie_secure``, ``web_session_…`` if the settings have them."""
        secret = getattr(settings, "web_secret", None)
        if not secret:
            log.warning("no web_secret set: CSRF tokens are signed with a per-process key (set SHEGONG_HUB_WEB_SECRET)")
            secret = secrets.token_hex(32)
        return cls(
            secret=str(secret),
            cookie_secure=bool(getattr(settings, "web_cookie_secure", True)),
            session_max_age_s=int(getattr(settings, "web_session_max_age_s", 8 * 3600)),
            session_absolute_s=int(getattr(settings, "web_session_absolute_s", 12 * 3600)),
            token_max_age_s=int(getattr(settings, "web_token_max_age_s", 8 * 3600)),
        )
