"""Where SMS notices go: any :class:`SmsGateway`; the one shipped is :class:`HttpGateway`, which POSTs
``{"phone": …, "text": …, "id": …}`` as JSON to a configured URL with a bearer token (most SMS providers,
or the government's unified SMS platform, take this through a small relay)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Protocol

from hub.errors import HubError

__all__ = ["GatewayError", "HttpGateway", "SmsGateway", "mask_phone"]


class GatewayError(HubError):
    """The gateway did not take the message (it is tried again later)."""


class SmsGateway(Protocol):
    def send(self, phone: str, text: str, message_id: str) -> None:
        """Hand one message over; raise :class:`GatewayError` when it was not taken. ``message_id`` is the
        same on every retry of one notice, so a gateway can drop a duplicate."""


def mask_phone(phone: str) -> str:
    """A phone number as logs show it: ``138****5678``."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


class HttpGateway:
    """POST one JSON message per notice; any 2xx answer means taken."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise GatewayError(f"SMS gateway URL must be http(s): {url!r}")
        self.url = url
        self.token = token
        self.timeout_s = timeout_s

    def send(self, phone: str, text: str, message_id: str) -> None:
        body = json.dumps({"phone": phone, "text": text, "id": message_id}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310 (http(s) checked)
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise GatewayError(f"SMS gateway answered {exc.code}") from None
        except (OSError, urllib.error.URLError) as exc:
            raise GatewayError(f"SMS gateway unreachable: {type(exc).__name__}") from None
        if not 200 <= status < 300:
            raise GatewayError(f"SMS gateway answered {status}")
