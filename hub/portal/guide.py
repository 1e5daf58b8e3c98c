"""The service guide (办事指南): the catalogue in force as residents read it, searchable by name, keyword,
category, department and description, in Chinese or English."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from protocol.catalogue import Catalogue, ServiceItem

__all__ = ["ServiceGuide", "ServiceSummary"]


@dataclass(frozen=True, slots=True)
class ServiceSummary:
    """One item of the guide, as the public API lists it."""

    code: str
    name: str
    name_en: str
    department: str
    department_name: str
    category: str
    promised_days: int
    statutory_days: int
    fee_fen: int
    handled_at: str
    """``committee`` (居委会's terminal or the centre) or ``centre`` only."""
    materials: list[str]


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

    def summaries(self, query: str = "") -> list[ServiceSummary]:
        """:meth:`search` as :class:`ServiceSummary` lines."""
        catalogue, items = self.search(query)
        names = {d.code: d.name for d in catalogue.departments}
        return [
            ServiceSummary(
                code=i.code,
                name=i.name,
                name_en=i.name_en,
                department=i.department,
                department_name=names.get(i.department, ""),
                category=i.category,
                promised_days=i.promised_days,
                statutory_days=i.statutory_days,
                fee_fen=i.fee_fen,
                handled_at=i.handled_at.value,
                materials=[m.name for m in i.materials],
            )
            for i in items
        ]
