"""Classified routing (后台分类处理): every catalogue item goes to one department's queue."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["UNROUTED", "Router"]

UNROUTED = "centre"
"""Queue of the centre's general window, for items no department claims (a manager routes them)."""


class Router:
    """Item code → department code; an unknown item lands in :data:`UNROUTED`, never nowhere."""

    def __init__(self, departments_by_item: Mapping[str, str]) -> None:
        self._by_item = dict(departments_by_item)

    def department(self, item_code: str) -> str:
        return self._by_item.get(item_code, UNROUTED)

    def __len__(self) -> int:
        return len(self._by_item)
