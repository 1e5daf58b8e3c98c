"""Sync: send now, reconnect, ask the hub to resync events; parked items with the hub's refusal, unpark."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, DataTable

from edge.console.panes.base import buttons, console, words

__all__ = ["SyncPane"]

ASKS = ("send_now", "reconnect", "resync")


class SyncPane(Vertical):
    DEFAULT_CLASSES = "reloads"

    def compose(self) -> ComposeResult:
        t = words(self)
        yield buttons(t, *ASKS, "unpark")
        table: DataTable[str] = DataTable(id="parked", cursor_type="row")
        table.add_columns(*(t(f"console.col.{c}") for c in ("receipt", "parked_at", "attempts", "reason")))
        yield table

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        table = self.query_one("#parked", DataTable)
        table.clear()
        for p in console(self).store.parked():
            when = f"{p.parked_at:%m-%d %H:%M}" if p.parked_at else "-"
            table.add_row(p.receipt_no or p.channel, when, str(p.attempts), p.reason, key=str(p.seq))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        app, t = console(self), words(self)
        name = (event.button.id or "").removeprefix("do-")
        label = t(f"console.do.{name}")
        if name in ASKS:
            app.act(label, lambda: app.ask(name))
        elif name == "unpark":
            app.act(label, lambda: t("console.done.unparked", n=app.store.unpark()))
        event.stop()
