"""The one glossary of case statuses: the official term of each, in Chinese and English.

Kiosk, receipts, hub pages, reports and the docs all name a status by :func:`term` (the words live in
``protocol/seed/statuses.json``, never in code). 不予受理 (``refused``: turned down at acceptance) and
不予批准 (``rejected``: decided against after review) are different outcomes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from protocol.cases import CaseStatus

__all__ = ["Term", "glossary", "term"]


@dataclass(frozen=True, slots=True)
class Term:
    """A status's official words: ``zh`` (what every screen and paper shows), ``en``, and what it means."""

    zh: str
    en: str
    meaning: str


@cache
def glossary() -> Mapping[CaseStatus, Term]:
    """Every :class:`CaseStatus` with its term, in the order of the enum."""
    data = json.loads(resources.files("protocol.seed").joinpath("statuses.json").read_text("utf-8"))
    return {status: Term(**data[status.value]) for status in CaseStatus}


def term(status: str, lang: str = "zh") -> str:
    """The official term of ``status`` in ``lang`` (``zh`` or ``en``)."""
    t = glossary()[CaseStatus(status)]
    return t.en if lang == "en" else t.zh
