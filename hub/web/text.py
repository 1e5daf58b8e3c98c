"""The hub's words as the templates see them: the one message catalogue of :mod:`hub.text` (every section
side by side as ``t``), with the case statuses, actions and deadline lights of :mod:`hub.cases.messages`
(``STATUS`` from the shared glossary, ``ACTIONS``, ``LIGHTS``)."""

from __future__ import annotations

from typing import Any

from hub.cases.messages import ACTION_LABELS, LIGHT_LABELS, STATUS_LABELS
from hub.text import LANGS, catalogue, section

__all__ = ["PORTAL_LANGS", "fleet_labels", "portal_words", "template_globals", "words"]

PORTAL_LANGS = LANGS
"""The resident portal's languages, Chinese first (the default)."""


def words() -> dict[str, dict[str, str]]:
    """Every section of the hub's message catalogue (:func:`hub.text.catalogue`)."""
    return catalogue()


fleet_labels = words
"""The operators' sections (``state``, ``alert``, ``action`` …) by the name the fleet's callers know."""


def template_globals() -> dict[str, Any]:
    """The labels every template may use."""
    return {"t": words(), "STATUS": STATUS_LABELS, "ACTIONS": ACTION_LABELS, "LIGHTS": LIGHT_LABELS}


def portal_words(lang: str = "zh") -> dict[str, str]:
    """The resident portal's words (``portal`` of the catalogue): Chinese, or English for ``en``."""
    return section("portal", lang)
