"""Where SMS notices go: any :class:`SmsGateway`; the one shipped is :class:`HttpGateway`, which POSTs
``{"phone": …, "text": …, "id": …}`` as JSON to a configured URL with a bearer token (most SMS providers,
or the government's unified SMS platform, take this through a small relay).

A redirect is not followed: urllib would repeat a POST answered 301/302/303 as a GET without the message
(and with the bearer token, to wherever it points), and a 200 to that GET — an ``http://`` URL sent on to
``https://``, a network's sign-in page — would count the notice as sent when no SMS went out. A 3xx is a
failure like any other, tried again later and logged with its status, so the operator fixes the URL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Protocol

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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # not followed: the 3xx answer itself is raised as an HTTPError


class HttpGateway:
    """POST one JSON message per notice; any 2xx answer means taken, anything else (a redirect too) not."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise GatewayError(f"SMS gateway URL must be http(s): {url!r}")
        self.url = url
        self.token = token
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, phone: str, text: str, message_id: str) -> None:
        body = json.dumps({"phone": phone, "text": text, "id": message_id}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as answer:  # http(s): checked above
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise GatewayError(f"SMS gateway answered {exc.code}") from None
        except (OSError, urllib.error.URLError) as exc:
            raise GatewayError(f"SMS gateway unreachable: {type(exc).__name__}") from None
        if not 200 <= status < 300:
            raise GatewayError(f"SMS gateway answered {status}")
