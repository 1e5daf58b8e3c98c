"""Devices: each device's port and whether it is there, the running kiosk's view of them, and tests a
technician runs when the kiosk does not hold them: SAM self-test, tap a card (masked), printer status and a
test slip, one scan."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, DataTable, Static

from edge.console import devices
from edge.console.panes.base import buttons, console, words
from edge.errors import EdgeError

__all__ = ["TAP_TIMEOUT_S", "DevicesPane"]

TAP_TIMEOUT_S = 20.0  # time to fetch a card and lay it on the reader
SCAN_TIMEOUT_S = 20.0


class DevicesPane(Vertical):
    DEFAULT_CLASSES = "reloads"

    def compose(self) -> ComposeResult:
        t = words(self)
        yield buttons(t, "self_test", "tap", "printer", "slip", "scan")
        yield Static(id="device-result", classes="result")
        table: DataTable[str] = DataTable(id="ports", cursor_type="row")
        table.add_columns(*(t(f"console.col.{c}") for c in ("device", "port", "present", "health")))
        yield table

    def load(self) -> None:
        app, t = console(self), words(self)
        held = ((app.readings.status or {}) if app.readings else {}).get("devices") or {}
        frames = sum(int(r.get("bad_frames", 0)) for r in held.get("readers") or [])
        reader = f"{held['reader']} ({t('console.devices.bad_frames', n=frames)})" if held.get("reader") else None
        health = {"reader": reader, "printer": held.get("printer"), "scanner": held.get("scanner")}
        table = self.query_one("#ports", DataTable)
        table.clear()
        for p in devices.ports(app.settings):
            present = t("console.devices.present" if p.present else "console.devices.missing") if p.path else "-"
            table.add_row(t(f"console.devices.{p.device}"), p.path or "-", present, health.get(p.device) or "-")

    def say(self, text: str) -> None:
        self.query_one("#device-result", Static).update(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        app, t = console(self), words(self)
        s = app.settings
        name = (event.button.id or "").removeprefix("do-")
        which = "reader" if s.devices.reader else "sscard"  # the ID-card reader, else the social-security one
        event.stop()

        def guarded(action: str, run: Any, audited: Any) -> Any:
            """Run a device test unless the kiosk holds the devices; audit it, with no resident in it."""
            status = app.status()
            if status is not None and (status.get("devices") or {}).get("readers") is not None:
                raise EdgeError(t("console.devices.held"))
            try:
                result = run()
            except Exception as exc:  # a device's error, told to the technician and kept in the audit
                app.store.record(f"device_{action}", {"ok": False, "error": type(exc).__name__})
                raise EdgeError(t("console.devices.failed", error=str(exc)[:160])) from None
            app.store.record(f"device_{action}", {"ok": True, **audited(result)})
            return result

        def self_test() -> str:
            guarded("self_test", lambda: devices.self_test(s, which), lambda r: {"bad_frames": r["bad_frames"]})
            text = t("console.devices.sam_ok")
            self.app.call_from_thread(self.say, text)
            return text

        def tap() -> str:
            self.app.call_from_thread(self.say, t("console.devices.lay_card", s=int(TAP_TIMEOUT_S)))
            found = guarded(
                "tap",
                lambda: devices.tap(s, TAP_TIMEOUT_S, which),
                lambda r: {"card_type": r["card_type"], "bad_frames": r["bad_frames"]},
            )
            text = t("console.devices.card", **found)
            self.app.call_from_thread(self.say, text)
            return text

        def printer() -> str:
            state = guarded("printer_status", lambda: devices.printer_status(s), lambda r: {"state": r})
            text = t("console.devices.printer_state", state=state)
            self.app.call_from_thread(self.say, text)
            return text

        def slip() -> str:
            lines = [t("console.slip.title"), t("console.slip.terminal", terminal=s.terminal_id), t("console.slip.ok")]
            state = guarded("test_slip", lambda: devices.print_test_slip(s, lines), lambda r: {"state": r})
            text = t("console.devices.slip_printed", state=state)
            self.app.call_from_thread(self.say, text)
            return text

        def scan() -> str:
            self.app.call_from_thread(self.say, t("console.devices.scan_now", s=int(SCAN_TIMEOUT_S)))
            got = guarded("scan", lambda: devices.scan(s, SCAN_TIMEOUT_S), lambda r: {"scanned": r is not None})
            text = t("console.devices.nothing_scanned") if got is None else t("console.devices.scanned", text=got)
            self.app.call_from_thread(self.say, text)
            return text

        actions = {"self_test": self_test, "tap": tap, "printer": printer, "slip": slip, "scan": scan}
        if name in actions:
            app.act(t(f"console.do.{name}"), actions[name])
