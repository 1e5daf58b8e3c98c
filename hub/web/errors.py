"""Errors to HTTP in one place: JSON ``{"error": …}`` under ``/api``, a Chinese page (or the sign-in
page) elsewhere. Anything unexpected too: it is a 500 in the same shape, and its kind and where it was raised
are logged (:func:`kernel.db.loggable`: never its message nor a statement's parameters, which may quote
resident data). Litestar's own fallback answered it in English JSON and, with the process's logging set
by the shegong command (``logging_config=None``), logged nothing."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, PermissionDeniedException, ValidationException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DataError

from hub.errors import HubError
from hub.text import section, text
from hub.web.auth import is_api
from kernel.db import loggable

__all__ = ["handlers", "log_failure", "retry_after", "status_and_message"]

log = logging.getLogger(__name__)
_CSRF_FAILED = "CSRF token verification failed"  # Litestar's CSRF middleware's words for a missing or wrong token


def status_and_message(exc: Exception) -> tuple[int, str]:
    """The status and the words an error is answered with, in every part of the web (pages, API, Open311)."""
    if isinstance(exc, HubError):
        return exc.status_code, str(exc)
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail)
    if isinstance(exc, DataError | OverflowError):  # input the database cannot hold: NUL in text, a huge number
        return 400, text("web", "bad_input")
    return 500, text("web", "internal")


def log_failure(request: Request[Any, Any, Any], exc: Exception, status: int) -> None:
    """Record an answer that is the hub's fault (5xx): what was asked, and what failed — a :class:`HubError`'s
    own words (they are written for the operator), of anything else :func:`kernel.db.loggable`."""
    if status >= 500:
        what = str(exc) if isinstance(exc, HubError) else loggable(exc)
        log.error("%s %s failed: %s", request.method, request.url.path, what)


def retry_after(exc: Exception) -> dict[str, str] | None:
    """The ``Retry-After`` header of the answer to ``exc``, when it tells the client (a sign-in throttled, an
    Open311 partner over its limit) how many seconds to wait: its ``retry_after_s``."""
    seconds = getattr(exc, "retry_after_s", None)
    return {"Retry-After": str(seconds)} if seconds is not None else None


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if request.url.path.startswith("/open311/"):  # before routing (no such path, a wrong method): as Open311 answers
        from hub.web.open311 import open311_error  # noqa: PLC0415 - it imports this module

        return open311_error(request, exc)
    status, message = status_and_message(exc)
    log_failure(request, exc, status)
    headers = retry_after(exc)
    if is_api(request):
        # ``error`` is our documented shape; ``status_code`` and ``detail`` are Litestar's own, which its
        # validation answers (400) document: every error body fits whichever of the two a route declares.
        body = {"error": message, "status_code": status, "detail": message}
        return Response(body, status_code=status, headers=headers)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={quote(target, safe='')}")
    home = "/portal/" if request.url.path.startswith(("/portal", "/open311")) else "/"  # a resident's, or a clerk's
    titles = section("http_title")
    title = titles.get(str(status), titles["other"])
    if isinstance(exc, ValidationException):  # Litestar's English, quoting the whole address: not for a page
        message = text("web", "bad_request")
    elif isinstance(exc, PermissionDeniedException) and str(exc.detail) == _CSRF_FAILED:
        # the form's token cookie is gone (a phone reopened the tab, the page sat for hours): refused still
        # (403), but not for want of a right, and in words a resident can act on
        title, message = titles["expired"], text("web", "form_expired")
        if home == "/portal/":
            message += " " + text("web", "form_expired_en")
    context = {"title": title, "message": message, "status": status, "home": home}
    return Template("error.html", context=context, status_code=status, headers=headers)


handlers: ExceptionHandlersMap = {
    HubError: _handle,
    HTTPException: _handle,
    DataError: _handle,
    OverflowError: _handle,
    Exception: _handle,
}
