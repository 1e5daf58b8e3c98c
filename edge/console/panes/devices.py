"""Devices: each device's port and whether it is there, the running kiosk's view of them, and a technician's
tests, run by the running terminal while it holds the devices (else on the ports): SAM self-test, tap a card
(masked), printer status and a test slip, one scan."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, DataTable, Static

from edge.console import devices
from edge.console.panes.base import buttons, console, words
from edge.control import DEVICE_OPS, TerminalNotRunning, device_audit
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
        state = {d: t.name(f"console.device_state.{held[d]}") for d in ("reader", "printer", "scanner") if held.get(d)}
        if "reader" in state:
            state["reader"] += f" ({t('console.devices.bad_frames', n=frames)})"
        table = self.query_one("#ports", DataTable)
        table.clear()
        for p in devices.ports(app.settings):
            present = t("console.devices.present" if p.present else "console.devices.missing") if p.path else "-"
            table.add_row(t(f"console.devices.{p.device}"), p.path or "-", present, state.get(p.device) or "-")

    def say(self, text: str) -> None:
        self.query_one("#device-result", Static).update(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        app, t = console(self), words(self)
        s = app.settings
        name = (event.button.id or "").removeprefix("do-")
        which = "reader" if s.devices.reader else "sscard"  # the ID-card reader, else the social-security one
        event.stop()

        def guarded(op: str, args: dict[str, Any]) -> dict[str, Any]:
            """Run a device test where the devices are; a test the console ran itself, it records itself."""
            action = DEVICE_OPS[op]
            try:
                return app.control.request(op, args, timeout_s=devices.wait_s(args))  # recorded by the terminal
            except TerminalNotRunning:
                pass
            except EdgeError as exc:  # the terminal ran it, failed it and recorded it
                raise EdgeError(t("console.devices.failed", error=str(exc)[:160])) from None
            try:
                result = devices.on_ports(s, op, args)
            except Exception as exc:  # a device's error on a port the console opened
                app.store.record(action, {"ok": False, "error": type(exc).__name__})
                raise EdgeError(t("console.devices.failed", error=str(exc)[:160])) from None
            app.store.record(action, {"ok": True, **device_audit(op)(result)})
            return result

        def show(text: str) -> str:
            self.app.call_from_thread(self.say, text)
            return text

        def self_test() -> str:
            guarded("device.self_test", {"which": which})
            return show(t("console.devices.sam_ok"))

        def tap() -> str:
            show(t("console.devices.lay_card", s=int(TAP_TIMEOUT_S)))
            found = guarded("device.tap", {"which": which, "timeout_s": TAP_TIMEOUT_S})
            kind, sex = t.name(f"console.card_type.{found['card_type']}"), t.name(f"console.sex.{found['sex']}")
            return show(t("console.devices.card", **{**found, "card_type": kind, "sex": sex}))

        def printer() -> str:
            state = guarded("device.printer", {})["state"]
            return show(t("console.devices.printer_state", state=t.name(f"console.device_state.{state}")))

        def slip() -> str:
            lines = [t("console.slip.title"), t("console.slip.terminal", terminal=s.terminal_id), t("console.slip.ok")]
            state = guarded("device.slip", {"lines": lines})["state"]
            return show(t("console.devices.slip_printed", state=t.name(f"console.device_state.{state}")))

        def scan() -> str:
            show(t("console.devices.scan_now", s=int(SCAN_TIMEOUT_S)))
            got = guarded("device.scan", {"timeout_s": SCAN_TIMEOUT_S})["text"]
            return show(t("console.devices.nothing_scanned") if got is None else t("console.devices.scanned", text=got))

        actions = {"self_test": self_test, "tap": tap, "printer": printer, "slip": slip, "scan": scan}
        if name in actions:
            app.act(t(f"console.do.{name}"), actions[name])
