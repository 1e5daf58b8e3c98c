"""Catalogue: the version in force, the version the hub announced, a conflict or failure, the holiday
calendar counted on (the hub's or the shipped one), fetch now."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Static

from edge.console.panes.base import buttons, console, words
from protocol.localtime import LOCAL_TZ

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
        status = r.status or {}
        announced, conflict = status.get("catalogue_announced"), status.get("catalogue_conflict")
        in_force = r.store.catalogue_version
        lines = [t("console.catalogue", in_force=in_force, announced=announced if announced is not None else "-")]
        if conflict is not None:  # the hub's database older than this catalogue: the fleet page shows it too
            lines.append(t("console.catalogue_conflict", announced=conflict, in_force=in_force))
        if status.get("catalogue_failure"):
            lines.append(t("console.catalogue_failure", error=status["catalogue_failure"]))
        years = t("console.years_sep").join(map(str, r.store.calendar_years))
        received = r.store.calendar_received_at
        if received is None:
            lines.append(t("console.calendar_seed", years=years))
        else:
            lines.append(t("console.calendar_hub", years=years, at=f"{received.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}"))
        versions = self.query_one("#catalogue-versions", Static)
        versions.update("\n".join(lines))
        versions.set_class(conflict is not None or bool(status.get("catalogue_failure")), "warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        app, t = console(self), words(self)
        event.stop()

        app.act(t("console.do.fetch"), lambda: app.ask("fetch_catalogue"))
