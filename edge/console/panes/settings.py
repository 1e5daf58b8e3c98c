"""Settings: the configuration in force, every field by name, secrets masked; a staff member's PIN reset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Static

from edge.console.panes.base import console, words
from edge.console.pins import reset_pin
from edge.control import TerminalNotRunning
from edge.settings import DEFAULT_CONFIG, EdgeSettings

__all__ = ["SECRETS", "SettingsPane", "shown"]

SECRETS = frozenset({"broker_password", "kiosk.staff_pins"})  # never on screen, only whether they are set


def flat(values: dict[str, Any], prefix: str = "") -> list[tuple[str, object]]:
    """Every setting by its dotted name (``kiosk.port``): a section's fields one by one, so none hides a secret."""
    rows: list[tuple[str, object]] = []
    for name, value in values.items():
        if isinstance(value, dict) and name != "committee_area":
            rows += flat(value, f"{prefix}{name}.")
        else:
            rows.append((f"{prefix}{name}", value))
    return rows


def shown(name: str, value: object, masked: str) -> str:
    if name in SECRETS:
        return masked if value else "-"
    text = "-" if value is None or value == "" else str(value)
    # Both ends of a long value (a key, a path) in a column that fits 80 columns beside the names.
    return text if len(text) <= 48 else f"{text[:23]}…{text[-23:]}"


class SettingsPane(Vertical):
    def compose(self) -> ComposeResult:
        t = words(self)
        yield Horizontal(
            Input(placeholder=t("console.pin.staff"), id="pin-staff", compact=True),
            Button(t("console.do.pin_reset"), id="do-pin_reset", compact=True),
            classes="buttons",
        )
        yield Static(id="pin-result", classes="result")
        yield DataTable(id="settings-table", cursor_type="row")

    def on_mount(self) -> None:
        app, t = console(self), words(self)
        table = self.query_one("#settings-table", DataTable)
        table.add_columns(t("console.col.setting"), t("console.col.value_"))
        for name, value in flat(app.settings.model_dump()):
            table.add_row(name, shown(name, value, t("console.masked")), key=name)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        app, t = console(self), words(self)
        event.stop()
        staff = self.query_one("#pin-staff", Input).value.strip()
        config = os.environ.get(EdgeSettings.config_env, DEFAULT_CONFIG)

        def reset() -> str:
            pin = reset_pin(Path(config), staff)
            app.store.record("pin_reset", {"staff": staff}, subject="staff")
            text = t("console.pin.done", staff=staff, pin=pin)
            self.app.call_from_thread(self.query_one("#pin-result", Static).update, text)
            try:  # the running kiosk reads the PINs again: the new one holds now
                applied = app.control.request("staff_pins")["applied"]
            except TerminalNotRunning:
                applied = 0
            return t("console.pin.applied" if applied else "console.pin.later", staff=staff)

        app.act(t("console.do.pin_reset"), reset)
