"""The console's Textual app: a header line, one tab per concern, a footer of keys.

Keyboard only: digits 1-7 switch tabs, Tab moves between controls, Enter presses, ``l`` switches between
Chinese and English, ``r`` reads everything again, ``q`` quits. Every word comes from the message catalogue
(``console.*``). Reading and acting run in worker threads; a failure shows as a notification.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static, TabbedContent, TabPane, Tabs

from edge.console.checks import HostFigures, Readings, judge
from edge.console.netdiag import Step, tls
from edge.console.store import ConsoleStore
from edge.control import ControlClient, TerminalNotRunning, socket_path
from edge.errors import EdgeError
from edge.kiosk.i18n import Translator, translator
from edge.runtime import app_version
from edge.settings import EdgeSettings
from edge.store.db import disk_free_mb

__all__ = ["PANES", "ConsoleApp", "host_figures", "run_console"]

log = logging.getLogger(__name__)
PANES = ("overview", "sync", "catalogue", "audit", "settings", "network", "logs", "devices")


def host_figures(settings: EdgeSettings) -> HostFigures:
    mem = psutil.virtual_memory()
    total_mb = shutil.disk_usage(settings.data_dir).total / 2**20
    return HostFigures(disk_free_mb(settings.data_dir), total_mb, mem.available * 100 / mem.total)


class ConsoleApp(App[None]):
    CSS = """
    TabbedContent { height: 1fr; }
    #head { height: 1; background: $primary-background; padding: 0 1; }
    TabPane { padding: 0 0; }
    .buttons { height: auto; }
    .buttons Button { min-width: 10; margin: 0 1 0 0; }
    .buttons Input { width: 24; margin: 0 1 0 0; }
    .result { height: auto; padding: 0 1; }
    .result.warning { color: $warning; }
    DataTable { height: 1fr; }
    """
    TITLE = "shegong"
    BINDINGS = [
        *[Binding(str(i), f"show('{name}')", show=False) for i, name in enumerate(PANES, 1)],
    ]

    def __init__(
        self,
        settings: EdgeSettings,
        store: ConsoleStore,
        lang: str = "zh",
        host: Callable[[], HostFigures] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_every_s: float = 5.0,
        log_file: Path | None = None,
        journal_file: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.store = store
        self.control = ControlClient(socket_path(settings.runtime_dir))
        self.lang = lang
        self.host = host or (lambda: host_figures(settings))
        self.clock = clock
        self.refresh_every_s = refresh_every_s
        self.log_file = log_file or settings.log_path  # where journald is not
        self.journal_file = journal_file  # a journal file to read instead of the system's journal
        self.readings: Readings | None = None
        self._tls: Step | None = None
        self._tls_at = 0.0

    @property
    def t(self) -> Translator:
        return translator(self.lang)

    def compose(self) -> ComposeResult:
        from edge.console.panes import pane_for

        yield Static(id="head")
        with TabbedContent(initial="overview"):
            for i, name in enumerate(PANES, 1):
                with TabPane(f"{i} {self.t(f'console.tab.{name}')}", id=name):
                    yield pane_for(name)
        yield Footer()

    def on_mount(self) -> None:
        self._bind_keys()
        self.action_refresh()
        if self.refresh_every_s > 0:
            self.set_interval(self.refresh_every_s, self.action_refresh)

    # ------------------------------------------------------------------ actions
    async def action_toggle_lang(self) -> None:
        self.lang = "en" if self.lang == "zh" else "zh"
        active = self.query_one(TabbedContent).active
        await self.recompose()
        self.query_one(TabbedContent).active = active
        self._bind_keys()
        self.show_readings()

    def _bind_keys(self) -> None:
        """The footer's keys, in the language shown (bound here, not in BINDINGS, so the words can change)."""
        for key, action, word in (("l", "toggle_lang", "lang"), ("r", "refresh", "refresh"), ("q", "quit", "quit")):
            self._bindings.key_to_bindings.pop(key, None)  # Textual has no unbind: replace in place
            self.bind(key, action, description=self.t(f"console.keys.{word}"))
        self.refresh_bindings()

    def action_show(self, name: str) -> None:
        # A button focused in the pane left behind would take the focus to its neighbour there, and the tabs
        # follow the focus back: let go of it first.
        self.set_focus(None)
        tabbed = self.query_one(TabbedContent)
        tabbed.active = name
        tabbed.query_one(Tabs).focus()  # the tab bar, as after a click on a tab: the arrows go on from there

    @work(thread=True, exclusive=True, group="refresh")
    def action_refresh(self) -> None:
        try:
            readings = self.read()
        except Exception as exc:  # a locked or damaged store now: say so, and read again next time
            log.exception("console refresh failed")
            self.call_from_thread(self.notify, f"{type(exc).__name__}: {exc}"[:200], severity="error", timeout=8)
            return
        self.call_from_thread(self._got, readings)

    def read(self) -> Readings:
        """Everything the overview shows, read now (in a worker thread)."""
        now = self.clock()
        if self.settings.broker_tls_ca is not None and (self._tls is None or now.timestamp() - self._tls_at > 60):
            self._tls, self._tls_at = (
                tls(self.settings.broker_host, self.settings.broker_port, self.settings.broker_tls_ca),
                now.timestamp(),
            )
        return Readings(self.settings, self.store.facts(), self.status(), self.host(), self._tls, now)

    def status(self) -> dict[str, Any] | None:
        try:
            return self.control.request("status")
        except TerminalNotRunning:
            return None

    def _got(self, readings: Readings) -> None:
        self.readings = readings
        self.show_readings()

    def show_readings(self) -> None:
        r = self.readings
        if r is None:
            return
        s = self.settings
        software = (r.status or {}).get("app_version") or app_version()
        self.query_one("#head", Static).update(
            self.t(
                "console.head",
                terminal=s.terminal_id,
                committee=f"{s.committee_code} {s.committee_name}",
                software=software,
                catalogue=r.store.catalogue_version,
                schema=r.store.schema or "-",
            )
        )
        from edge.console.panes.overview import Overview

        self.query_one(Overview).show(judge(r))
        for pane in self.query(".reloads"):
            pane.load()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ for the panes
    def act(self, label: str, fn: Callable[[], str]) -> None:
        """Run a technician's action in a worker; its outcome (or error) becomes a notification."""
        self._act(label, fn)

    def ask(self, op: str) -> str:
        """Ask the running terminal's sync agent for ``op``; it records the ask in its audit chain. With no
        terminal running, the console records that it could not ask."""
        try:
            outcome = self.control.request(op)["outcome"]
        except TerminalNotRunning:
            self.store.record(op, {"ok": False, "error": "not_running"})
            raise EdgeError(self.t("console.done.not_running")) from None
        return str(self.t(f"console.done.outcome.{outcome}"))

    @work(thread=True, group="action")
    def _act(self, label: str, fn: Callable[[], str]) -> None:
        try:
            message = fn()
        except EdgeError as exc:
            self.call_from_thread(self.notify, str(exc), title=label, severity="error", timeout=8)
        except Exception as exc:  # the console outlives a failed action: say what failed, log where
            log.exception("console action %s failed", label)
            self.call_from_thread(self.notify, type(exc).__name__, title=label, severity="error", timeout=8)
        else:
            self.call_from_thread(self.notify, message, title=label, timeout=8)
        self.call_from_thread(self.action_refresh)


def run_console(settings: EdgeSettings, lang: str = "zh") -> int:
    """``shegong edge console``: run until the technician quits."""
    store = ConsoleStore(settings)
    try:
        ConsoleApp(settings, store, lang=lang).run()
    finally:
        store.close()
    return 0
