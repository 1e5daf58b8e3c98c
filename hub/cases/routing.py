"""Classified routing (后台分类处理): every catalogue item goes to one department's queue.

A running hub routes by the catalogue in force (:class:`CatalogueRouter` over
:meth:`hub.catalogue.in_force.CatalogueInForce.current`), so an item moved to another department in a
published version goes there from the next case on. A fixed :class:`Router` is for tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from hub.people.roles import Permission, Principal, can
from hub.text import text
from protocol.catalogue import Catalogue

__all__ = ["UNROUTED", "CatalogueRouter", "Router", "Routes", "may_route", "unrouted_name"]

UNROUTED = "centre"
"""Queue of the centre's general window, for items no department claims (a manager routes them)."""


def unrouted_name() -> str:
    """The centre's general window as people call it."""
    return text("case_note", "unrouted")


def may_route(who: Principal, held_by: str, to: str) -> bool:
    """Whether ``who`` may send a case ``held_by`` one department's queue to ``to``'s: a manager anywhere;
    a clerk of the department holding it back to the centre's general window (a case routed to the wrong
    department: refusing it would tell the resident 不予受理); a clerk of the centre's window from there to
    any department (the single window's own routing)."""
    if can(who, Permission.CASE_ROUTE, held_by):
        return True
    if to == UNROUTED:
        return can(who, Permission.CASE_ACT, held_by)
    return held_by == UNROUTED and can(who, Permission.CASE_ACT, UNROUTED)


class Routes(Protocol):
    """What ingest asks: the department whose queue a case of ``item_code`` goes to."""

    def department(self, item_code: str) -> str: ...


class Router:
    """A fixed map item code → department code; an unknown item lands in :data:`UNROUTED`, never nowhere."""

    def __init__(self, departments_by_item: Mapping[str, str]) -> None:
        self._by_item = dict(departments_by_item)

    @classmethod
    def of(cls, catalogue: Catalogue) -> Router:
        """Each item of ``catalogue`` to its department, fixed at this version."""
        return cls({item.code: item.department for item in catalogue.items})

    def department(self, item_code: str) -> str:
        return self._by_item.get(item_code, UNROUTED)

    def __len__(self) -> int:
        return len(self._by_item)


class CatalogueRouter:
    """Routing by whatever catalogue ``catalogue()`` returns at the moment a case arrives."""

    def __init__(self, catalogue: Callable[[], Catalogue]) -> None:
        self._catalogue = catalogue

    def department(self, item_code: str) -> str:
        item = self._catalogue().get(item_code)
        return item.department if item is not None else UNROUTED
