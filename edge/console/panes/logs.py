"""Logs: the terminal's recent lines, filtered by level (``v`` cycles) and component (typed), IDs masked."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from edge.console.logs import LEVELS, LogLine, filtered, recent
from edge.console.panes.base import console, words

__all__ = ["LogsPane"]


class LogsPane(Vertical):
    BINDINGS = [Binding("v", "next_level", "≥level")]

    def __init__(self) -> None:
        super().__init__()
        self.level = "INFO"
        self.lines: list[LogLine] = []

    def compose(self) -> ComposeResult:
        t = words(self)
        yield Static(id="log-filter", classes="result")
        yield Input(placeholder=t("console.logs.component"), id="log-component", compact=True)
        table: DataTable[str] = DataTable(id="log-lines", cursor_type="row")
        table.add_columns(*(t(f"console.col.{c}") for c in ("time", "level", "component", "message")))
        yield table

    def on_mount(self) -> None:
        app = console(self)
        self.lines = recent(app.log_file, journal_file=app.journal_file)
        self.show()

    def action_next_level(self) -> None:
        self.level = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)]
        self.show()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show()

    def show(self) -> None:
        t = words(self)
        component = self.query_one("#log-component", Input).value.strip()
        self.query_one("#log-filter", Static).update(t("console.logs.filter", level=self.level, n=len(self.lines)))
        table = self.query_one("#log-lines", DataTable)
        table.clear()
        for line in filtered(self.lines, self.level, component)[-300:]:
            table.add_row(line.at[11:19], line.level, line.component, line.message)
