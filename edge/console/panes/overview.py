"""Overview: each check red, amber or green, with its value and the reason in words."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from edge.console.checks import Check
from edge.console.panes.base import LEVEL_STYLE, words
from edge.kiosk.i18n import Translator

__all__ = ["Overview", "said"]


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
                *map(Text, said(t, c)),
                key=c.key,
            )


def said(t: Translator, c: Check) -> tuple[str, str]:
    """A check's value and reason in words: the codes they carry (states, alarm kinds) named."""
    value = c.value if isinstance(c.value, str) else " / ".join(map(t.name, c.value))
    fields = {k: t("console.list_sep").join(map(t.name, v)) if isinstance(v, tuple) else v for k, v in c.fields.items()}
    return value, t(f"console.why.{c.why}", **fields)
