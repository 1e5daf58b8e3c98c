"""The hub's one source of the words people read: the message catalogues in ``messages/*.zh.json``.

Each file holds sections of keyed texts (``{"section": {"key": "text"}}``); a section's name is unique across
the files, so core and web alike ask for ``text("section", "key", name=value)``. Values are ``str.format``
templates with ``{name}`` placeholders, filled by :func:`text` and nowhere else. The case statuses are not
here: their official terms are the one glossary kiosk, receipts and hub share (:mod:`protocol.statuses`).
The files: ``cases`` (actions, deadline lights, the clerks' refusals, the resident's notices), ``core`` (the
other domain errors and report headers), ``fleet`` (the operators' terminal states, alerts, devices, links),
``pages`` (navigation, roles, the help calls' and case pages) and ``web`` (flash messages, error titles,
durations, charts)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = ["FILES", "catalogue", "section", "text"]

FILES = ("cases", "core", "fleet", "pages", "web")
"""The catalogue files, ``messages/<name>.zh.json``."""


def _load(name: str) -> dict[str, dict[str, str]]:
    data = resources.files("hub").joinpath(f"messages/{name}.zh.json").read_text(encoding="utf-8")
    sections: dict[str, dict[str, str]] = json.loads(data)
    return sections


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every section of every file, ``{section: {key: text}}``; a section named in two files is an error."""
    out: dict[str, dict[str, str]] = {}
    for name in FILES:
        sections = _load(name)
        clash = out.keys() & sections.keys()
        if clash:
            raise ValueError(f"sections in more than one message file: {sorted(clash)}")
        out.update(sections)
    return out


def section(name: str) -> dict[str, str]:
    """One section's texts, unformatted (labels a template or a table looks up by key)."""
    return catalogue()[name]


def text(section_name: str, key: str, /, **values: object) -> str:
    """The text ``key`` of ``section_name`` with its ``{name}`` placeholders filled from ``values``."""
    template = catalogue()[section_name][key]
    return template.format(**values) if values else template
