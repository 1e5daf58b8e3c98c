"""Catalogue: the version in force, the version the hub announced, fetch now."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Static

from edge.console.panes.base import buttons, console, words

__all__ = ["CataloguePane"]


class CataloguePane(Vertical):
    DEFAULT_CLASSES = "reloads"

    def compose(self) -> ComposeResult:
        yield Static(id="catalogue-versions", classes="result")
        yield buttons(words(self), "fetch")

    def load(self) -> None:
        app, t = console(self), words(self)
        r = app.readings
        if r is None:
            return
        announced = (r.status or {}).get("catalogue_announced")
        self.query_one("#catalogue-versions", Static).update(
            t(
                "console.catalogue",
                in_force=r.store.catalogue_version,
                announced=announced if announced is not None else "-",
            )
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        app, t = console(self), words(self)
        event.stop()

        app.act(t("console.do.fetch"), lambda: app.ask("fetch_catalogue"))
