"""The hub's one source of the words people read: the message catalogues in ``messages/*.<lang>.json``.

Each file holds sections of keyed texts (``{"section": {"key": "text"}}``); a section's name is unique across
the files, so core and web alike ask for ``text("section", "key", name=value)``. Values are ``str.format``
templates with ``{name}`` placeholders, filled by :func:`text` and nowhere else. The case statuses are not here:
their official terms are the one glossary kiosk, receipts and hub share (:mod:`protocol.statuses`). The files:
``cases`` (actions, deadline lights, the clerks' refusals, the resident's notices), ``channels`` (Open311's
answers to partners, the SMS notices), ``core`` (the other domain errors and report headers), ``fleet`` (the
operators' terminal states, alerts, devices, links), ``pages`` (navigation, roles, the help calls' and case
pages), ``portal`` (the residents' portal and record, also in English: ``portal.en.json``) and ``web`` (flash
messages, error titles, durations, charts). Chinese is the catalogue; another language's files are laid over it,
section by section, where they exist."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = ["FILES", "LANGS", "catalogue", "catalogue_only", "section", "text"]

FILES = ("cases", "channels", "core", "fleet", "pages", "portal", "web")
"""The catalogue files, ``messages/<name>.zh.json`` (and ``<name>.<lang>.json`` where translated)."""

LANGS = ("zh", "en")
"""Chinese, the catalogue; English where a file has a translation (the residents' portal)."""


def _load(name: str, lang: str) -> dict[str, dict[str, str]]:
    path = resources.files("hub").joinpath(f"messages/{name}.{lang}.json")
    if not path.is_file():
        return {}
    sections: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return sections


@cache
def catalogue(lang: str = "zh") -> dict[str, dict[str, str]]:
    """Every section of every file, ``{section: {key: text}}``, in ``lang`` where translated (else Chinese); a
    section named in two files is an error."""
    if lang != "zh":
        chinese = catalogue("zh")
        return {**chinese, **{k: {**chinese[k], **v} for k, v in catalogue_only(lang).items()}}
    return catalogue_only("zh")


@cache
def catalogue_only(lang: str) -> dict[str, dict[str, str]]:
    """The sections the files of ``lang`` hold themselves."""
    out: dict[str, dict[str, str]] = {}
    for name in FILES:
        sections = _load(name, lang)
        clash = out.keys() & sections.keys()
        if clash:
            raise ValueError(f"sections in more than one message file: {sorted(clash)}")
        out.update(sections)
    return out


def section(name: str, lang: str = "zh") -> dict[str, str]:
    """One section's texts, unformatted (labels a template or a table looks up by key)."""
    return catalogue(lang if lang in LANGS else "zh")[name]


def text(section_name: str, key: str, /, **values: object) -> str:
    """The text ``key`` of ``section_name`` with its ``{name}`` placeholders filled from ``values``."""
    template = catalogue()[section_name][key]
    return template.format(**values) if values else template
