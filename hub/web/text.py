"""The one place the hub's pages take their Chinese words from.

The back office's labels of statuses, actions and deadline lights come from :mod:`hub.cases.messages`;
the operators' labels of terminal states, alerts with the suggested action, device states and link
events from ``messages/fleet.zh.json``; the navigation, roles, the help calls' page and the other words
of the pages from ``messages/pages.zh.json``; the resident portal's, in Chinese and English, from
``messages/portal.zh.json`` and ``portal.en.json`` (:func:`portal_words`). Templates see all but the portal's
as globals (``STATUS``, ``ACTIONS``, ``LIGHTS``, ``t``: the two JSON files' sections side by side); the
portal's pages get theirs as ``w``, in the page's language."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from hub.cases.messages import ACTION_LABELS, LIGHT_LABELS, STATUS_LABELS

__all__ = ["PORTAL_LANGS", "fleet_labels", "page_words", "portal_words", "template_globals", "words"]


def _load(name: str) -> dict[str, dict[str, str]]:
    data = resources.files("hub.web").joinpath(f"messages/{name}").read_text(encoding="utf-8")
    labels: dict[str, dict[str, str]] = json.loads(data)
    return labels


@cache
def fleet_labels() -> dict[str, dict[str, str]]:
    """``{"state"|"alert"|"action"|"device"|"link": {key: label}}`` for the operators' pages."""
    return _load("fleet.zh.json")


@cache
def page_words() -> dict[str, dict[str, str]]:
    """``{"nav"|"role"|"help"|"case"|"case_when"|"case_resident"|"case_reason": {key: text}}``: the pages'
    other words."""
    return _load("pages.zh.json")


PORTAL_LANGS = ("zh", "en")
"""The resident portal's languages, Chinese first (the default)."""


@cache
def portal_words(lang: str = "zh") -> dict[str, str]:
    """The resident portal's words (``messages/portal.<lang>.json``): Chinese, or English for ``en``."""
    return _load(f"portal.{'en' if lang == 'en' else 'zh'}.json")["portal"]


@cache
def words() -> dict[str, dict[str, str]]:
    """Every section of both files (their section names differ)."""
    fleet, pages = fleet_labels(), page_words()
    clash = fleet.keys() & pages.keys()
    if clash:
        raise ValueError(f"sections in both message files: {sorted(clash)}")
    return {**fleet, **pages}


def template_globals() -> dict[str, Any]:
    """The labels every template may use."""
    return {"t": words(), "STATUS": STATUS_LABELS, "ACTIONS": ACTION_LABELS, "LIGHTS": LIGHT_LABELS}
