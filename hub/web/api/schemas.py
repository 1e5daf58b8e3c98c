"""Request and response bodies of the API, with their limits (they are in the OpenAPI document)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from hub.cases.states import Action

__all__ = [
    "ActionIn",
    "DayIn",
    "ErrorBody",
    "EventOut",
    "LoginIn",
    "MeOut",
    "RouteIn",
    "TokenOut",
    "errors",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]


@dataclass
class ErrorBody:
    error: str


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Not signed in (send Authorization: Bearer <token>)",
    403: "Signed in, but the role or department does not allow it",
    404: "No such thing",
    409: "The case moved on (version) or the action is not possible from its state",
    422: "Well-formed but not acceptable (a missing reason, a weekday as adjusted working day …)",
    429: "Too many failed sign-ins from this client: wait the seconds of the Retry-After header",
}


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for the error codes a route may answer with, all shaped as :class:`ErrorBody`."""
    return {
        code: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False)
        for code in codes
    }


class LoginIn(msgspec.Struct):
    username: Annotated[str, msgspec.Meta(max_length=64)]
    password: Annotated[str, msgspec.Meta(max_length=256)]


@dataclass
class MeOut:
    user_id: int
    username: str
    display_name: str
    role: str
    departments: list[str]
    permissions: list[str]


@dataclass
class TokenOut:
    token: str
    expires_in: int
    user: MeOut


class ActionIn(msgspec.Struct):
    action: Action
    expected_version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    reason: Text = ""
    materials: Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]], msgspec.Meta(max_length=30)] = []


class RouteIn(msgspec.Struct):
    department: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    expected_version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    note: Text = ""


@dataclass
class EventOut:
    event_id: int
    case_id: str
    version: int
    status: str
    at: datetime
    note: str
    department: str
    due_date: date | None
    published: bool


class DayIn(msgspec.Struct):
    kind: Literal["off", "work"]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
