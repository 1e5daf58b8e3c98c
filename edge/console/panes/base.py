"""What every pane shares: the app typed as the console's, its words, a row of buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.containers import Horizontal
from textual.widgets import Button

from edge.kiosk.i18n import Translator

if TYPE_CHECKING:
    from edge.console.app import ConsoleApp

__all__ = ["LEVEL_STYLE", "buttons", "console", "words"]

LEVEL_STYLE = {"green": "bold green", "amber": "bold yellow", "red": "bold red"}


def console(widget: object) -> ConsoleApp:
    return cast("ConsoleApp", widget.app)  # type: ignore[attr-defined]


def words(widget: object) -> Translator:
    return console(widget).t


def buttons(t: Translator, *names: str) -> Horizontal:
    """A row of buttons ``console.do.<name>``, each with the id ``do-<name>``."""
    return Horizontal(*(Button(t(f"console.do.{n}"), id=f"do-{n}", compact=True) for n in names), classes="buttons")
