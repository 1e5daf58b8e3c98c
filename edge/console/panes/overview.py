"""Overview: each check red, amber or green, with its value and the reason in words."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from edge.console.checks import Check
from edge.console.panes.base import LEVEL_STYLE, words

__all__ = ["Overview"]


class Overview(DataTable[Text]):
    """The checks as a table: what, state, value, why."""

    def on_mount(self) -> None:
        t = words(self)
        self.cursor_type = "row"
        self.add_columns(*(t(f"console.col.{c}") for c in ("check", "level", "value", "why")))

    def show(self, checks: list[Check]) -> None:
        t = words(self)
        self.clear()
        for c in checks:
            style = LEVEL_STYLE[c.level.value]
            self.add_row(
                Text(t(f"console.check.{c.key}")),
                Text(t(f"console.level.{c.level.value}"), style=style),
                Text(c.value),
                Text(t(f"console.why.{c.why}", **c.fields)),
                key=c.key,
            )
