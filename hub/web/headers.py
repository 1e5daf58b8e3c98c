"""The headers every answer of the hub carries, error pages and redirects included.

Back-office pages show names, masked ID numbers and case details: nothing of them may stay in a browser's
or a proxy's cache on a shared counter PC (``Cache-Control: no-store``; only the stylesheets under
``/static`` may be cached). A Content Security Policy admits only the hub's own stylesheets, pictures and
sounds (the chime of a resident's call for staff) and no script
at all (the pages have none), so markup that slipped past escaping could neither run code nor load or send
anything elsewhere. The API documentation under ``/schema`` is the one exception to the policy: it is
Litestar's page, which loads its viewer from a CDN and holds no personal data.

An answer over HTTPS (the hub's own, or its TLS proxy's as ``X-Forwarded-Proto`` says, from the trusted
proxies only) tells the browser to come back over HTTPS alone for a year (``Strict-Transport-Security``):
a counter PC on the centre's network, once it has been to the hub, no longer follows a plain-HTTP link to
a sign-in page someone on that network could answer. Not its subdomains (the hub's name may share a
domain with the district's other services), and never over plain HTTP, where browsers ignore it anyway.

A ``before_send`` hook, not ``after_request``: that one misses the answers the exception handlers make.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "STRICT_TRANSPORT", "add_security_headers"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",  # no page of the back office inside someone else's frame (clickjacking)
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # case ids in URLs stay on the hub
}
STRICT_TRANSPORT = "max-age=31536000"


async def add_security_headers(message: Message, scope: Scope) -> None:
    """Add the headers to a response's start, unless the handler set its own."""
    if message["type"] != "http.response.start":
        return
    path: str = scope.get("path", "")
    headers = MutableScopeHeaders.from_message(message)
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if scope.get("scheme") == "https":
        headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT)
    if not path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    if not (path == "/schema" or path.startswith("/schema/")):
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
