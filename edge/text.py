"""The edge's one way to the words people read: JSON message catalogues with dotted keys.

The core's words (refusals of the store, device conditions, the alarms staff read) are in
``edge/messages/<lang>.json``; the kiosk's and the console's in ``edge/kiosk/messages/<lang>.json``, which
:mod:`edge.kiosk.i18n` reads with :func:`flatten` and lays over these, so a screen can show either by key.
Values are ``str.format`` templates (``{name}`` placeholders, filled by :func:`text`). The case statuses are
not here: they are the glossary kiosk, receipts and hub share (:mod:`protocol.statuses`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources

__all__ = ["DEFAULT_LANG", "catalogue", "flatten", "text"]

DEFAULT_LANG = "zh"


def flatten(data: str) -> dict[str, str]:
    """A catalogue file's JSON as ``{"section.key": template}``."""
    flat: dict[str, str] = {}

    def walk(prefix: str, node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else key, value)
        else:
            flat[prefix] = str(node)

    walk("", json.loads(data))
    return flat


@cache
def catalogue(lang: str = DEFAULT_LANG) -> Mapping[str, str]:
    """The core's words in ``lang`` (none for a language it has no file for: the caller falls back)."""
    path = resources.files("edge").joinpath("messages", f"{lang}.json")
    return flatten(path.read_text("utf-8")) if path.is_file() else {}


def text(key: str, /, **values: object) -> str:
    """The core's Chinese text ``key`` with its ``{name}`` placeholders filled from ``values``."""
    template = catalogue()[key]
    return template.format(**values) if values else template
