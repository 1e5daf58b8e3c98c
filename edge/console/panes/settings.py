"""Settings: the configuration in force, every field by name, secrets masked."""

from __future__ import annotations

from textual.widgets import DataTable

from edge.console.panes.base import console, words

__all__ = ["SECRETS", "SettingsPane", "shown"]

SECRETS = frozenset({"broker_password", "kiosk_staff_pins"})  # never on screen, only whether they are set


def shown(name: str, value: object, masked: str) -> str:
    if name in SECRETS:
        return masked if value else "-"
    text = "-" if value is None or value == "" else str(value)
    return text if len(text) <= 60 else f"{text[:28]}…{text[-28:]}"


class SettingsPane(DataTable[str]):
    def on_mount(self) -> None:
        app, t = console(self), words(self)
        self.cursor_type = "row"
        self.add_columns(t("console.col.setting"), t("console.col.value_"))
        for name, value in app.settings.model_dump().items():
            self.add_row(name, shown(name, value, t("console.masked")), key=name)
