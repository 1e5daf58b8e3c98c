"""Network diagnostics: name resolution, TCP and TLS to the broker, the hub's clock; read out over the phone."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Static

from edge.console.netdiag import diagnose, login
from edge.console.panes.base import buttons, console, words
from edge.control import TerminalNotRunning
from protocol.localtime import LOCAL_TZ

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
            try:
                status: dict[str, object] | None = app.control.request("status")
            except TerminalNotRunning:
                status = None
            if status is None and steps[-1].ok:  # the terminal is stopped: log in as it would
                steps.append(
                    login(
                        s.broker_host,
                        s.broker_port,
                        s.broker_tls_ca,
                        s.broker_username or s.terminal_id,
                        s.broker_password,
                    )
                )
            lines = [
                t("console.net.target", host=s.broker_host, port=s.broker_port),
                t("console.net.at", at=f"{app.clock().astimezone(LOCAL_TZ):%Y-%m-%d %H:%M:%S}"),
            ]
            for step in steps:
                result = t("console.net.ok" if step.ok else "console.net.failed")
                lines.append(f"{t(f'console.net.{step.name}')}: {result} {step.ms:.0f} ms  {step.detail}")
            if status is not None:  # its own login, as the running terminal holds it (a test login would cut it)
                link = str(status.get("link"))
                lines.append(t("console.net.linked" if link == "online" else "console.net.not_linked", link=link))
            offset = None if status is None else status.get("hub_clock_offset_s")
            ahead = "-" if not isinstance(offset, int | float) else f"{-offset:+.1f}"  # terminal minus hub
            lines.append(t("console.net.clock", offset=ahead))
            ok = all(x.ok for x in steps) and (status is None or status.get("link") == "online")
            app.store.record("network_diagnose", {"ok": ok, "steps": [x.name for x in steps]})
            self.app.call_from_thread(self.query_one("#net-result", Static).update, "\n".join(lines))
            return t("console.done.diagnosed")

        app.act(t("console.do.diagnose"), run)
