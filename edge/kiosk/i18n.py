"""Message catalogues: ``messages/zh.json`` (the default) and ``messages/en.json`` (the English toggle),
laid over the edge core's own words (:mod:`edge.text`: the store's refusals, device conditions, alarms).

Keys are dotted (``services.title``); values are ``str.format`` templates. A key missing in English falls
back to Chinese, a key missing everywhere shows itself (and a test catches it). The case statuses
(``case.<status>``) are not in these files: they come from the shared glossary, :mod:`protocol.statuses`.
The service catalogue's own texts come in both languages from the hub; :meth:`Translator.pick` chooses
between them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources

from edge.text import catalogue as core_catalogue
from edge.text import flatten
from protocol.statuses import glossary, term

__all__ = ["DEFAULT_LANG", "LANGS", "Translator", "catalogue", "translator"]

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """The kiosk's words in ``lang`` over the core's (:mod:`edge.text`), with the case statuses."""
    data = resources.files("edge.kiosk").joinpath("messages", f"{lang}.json").read_text("utf-8")
    flat = {**core_catalogue(lang), **flatten(data)}
    # Case statuses by their official terms, from the one glossary kiosk and hub share (protocol.statuses).
    flat.update({f"case.{status.value}": term(status, lang) for status in glossary()})
    return flat


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else DEFAULT_LANG
        self._own = catalogue(self.lang)
        self._fallback = catalogue(DEFAULT_LANG)

    def __call__(self, key: str, **fields: object) -> str:
        text = self._own.get(key) or self._fallback.get(key)
        if text is None:
            return key
        return text.format(**fields) if fields else text

    def has(self, key: str) -> bool:
        return key in self._own or key in self._fallback

    def name(self, key: str) -> str:
        """The words for a code given as ``<group>.<code>`` (a device state, an alarm kind), or the code itself
        when the catalogue does not know it (a newer terminal's state on an older console)."""
        return self(key) if self.has(key) else key.rsplit(".", 1)[-1]

    def pick(self, zh: str, en: str) -> str:
        """A catalogue text in this language: its English (``description_en`` …) in English, unless that
        is empty (a catalogue from an older hub); the Chinese otherwise. The one place the choice is made."""
        return (en or zh) if self.lang == "en" else zh


@cache
def translator(lang: str) -> Translator:
    return Translator(lang)
