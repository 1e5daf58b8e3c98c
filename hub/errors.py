"""The hub's one base error, translated at each boundary (CLI exit 2, HTTP status, dead letter)."""

from __future__ import annotations

__all__ = ["HubError", "NotFound", "PermissionDenied"]


class HubError(Exception):
    is_user_error = True
    status_code = 400


class NotFound(HubError):
    status_code = 404


class PermissionDenied(HubError):
    status_code = 403
