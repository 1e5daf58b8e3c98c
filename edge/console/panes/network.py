"""Network diagnostics: name resolution, TCP and TLS to the broker, the hub's clock; read out over the phone."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Static

from edge.console.netdiag import diagnose
from edge.console.panes.base import buttons, console, words
from edge.control import TerminalNotRunning

__all__ = ["NetworkPane"]


class NetworkPane(Vertical):
    def compose(self) -> ComposeResult:
        yield buttons(words(self), "diagnose")
        yield Static(id="net-result", classes="result")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        app, t = console(self), words(self)
        s = app.settings
        event.stop()

        def run() -> str:
            steps = diagnose(s.broker_host, s.broker_port, s.broker_tls_ca)
            lines = [t("console.net.target", host=s.broker_host, port=s.broker_port)]
            for step in steps:
                result = t("console.net.ok" if step.ok else "console.net.failed")
                lines.append(f"{t(f'console.net.{step.name}')}: {result} {step.ms:.0f} ms  {step.detail}")
            try:
                offset = app.control.request("status").get("hub_clock_offset_s")
            except TerminalNotRunning:
                offset = None
            lines.append(t("console.net.clock", offset="-" if offset is None else f"{offset:+.1f}"))
            app.store.record("network_diagnose", {"ok": all(x.ok for x in steps), "steps": [x.name for x in steps]})
            self.app.call_from_thread(self.query_one("#net-result", Static).update, "\n".join(lines))
            return t("console.done.diagnosed")

        app.act(t("console.do.diagnose"), run)
