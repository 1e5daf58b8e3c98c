"""The service guide (办事指南): the catalogue in force as residents read it, searchable by name, keyword,
category, department and description, in Chinese or English."""

from __future__ import annotations

from collections.abc import Callable

from protocol.catalogue import Catalogue, ServiceItem

__all__ = ["ServiceGuide"]

MAX_QUERY = 64


class ServiceGuide:
    def __init__(self, catalogue: Callable[[], Catalogue]) -> None:
        self.catalogue = catalogue

    def search(self, query: str = "") -> tuple[Catalogue, list[ServiceItem]]:
        """The catalogue in force and its items matching every word of ``query`` (all of them for none),
        names matching first, each group in catalogue order."""
        catalogue = self.catalogue()
        words = [w.casefold() for w in query[:MAX_QUERY].split()]
        if not words:
            return catalogue, list(catalogue.items)
        departments = {d.code: f"{d.name} {d.name_en}" for d in catalogue.departments}

        def text(item: ServiceItem) -> str:
            parts = [item.code, item.name, item.name_en, item.category, item.description, item.description_en]
            return " ".join([*parts, *item.keywords, departments.get(item.department, "")]).casefold()

        found = [i for i in catalogue.items if all(w in text(i) for w in words)]
        in_name = [
            i for i in found if any(w in f"{i.name} {i.name_en} {' '.join(i.keywords)}".casefold() for w in words)
        ]
        return catalogue, in_name + [i for i in found if i not in in_name]

    def item(self, code: str) -> tuple[Catalogue, ServiceItem | None]:
        catalogue = self.catalogue()
        return catalogue, catalogue.get(code)
