"""Audit and storage: verify the chain, show its anchor, retention purge (a dry run first), backup, free space."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Static

from edge.console.panes.base import buttons, console, words

__all__ = ["AuditPane"]


class AuditPane(Vertical):
    DEFAULT_CLASSES = "reloads"

    def compose(self) -> ComposeResult:
        yield buttons(words(self), "verify", "anchor", "dry_run", "purge", "backup")
        yield Static(id="storage", classes="result")
        yield Static(id="audit-result", classes="result")

    def on_mount(self) -> None:
        self.query_one("#do-purge", Button).disabled = True  # only after a dry run has shown what would go
        self.load()

    def load(self) -> None:
        app, t = console(self), words(self)
        r = app.readings
        if r is not None:
            self.query_one("#storage", Static).update(
                t(
                    "console.storage",
                    free=f"{r.host.disk_free_mb:,.0f}",
                    total=f"{r.host.disk_total_mb:,.0f}",
                    entries=r.store.audit_entries,
                    days=app.settings.retention_days,
                )
            )

    def say(self, text: str) -> None:
        self.query_one("#audit-result", Static).update(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        app, t = console(self), words(self)
        name = (event.button.id or "").removeprefix("do-")
        event.stop()

        def verify() -> str:
            checked, broken = app.store.verify_audit()
            if broken:
                text = t("console.done.chain_broken", entry=broken.entry_id, problem=broken.problem, n=checked)
            else:
                text = t("console.done.chain_ok", n=checked)
            self.app.call_from_thread(self.say, text)
            return text

        def anchor() -> str:
            a = app.store.anchor()
            text = t("console.done.anchor", entries=a.entries, last=a.last_id, head=a.head)
            self.app.call_from_thread(self.say, text)
            return text

        def purge(dry_run: bool) -> str:
            c = app.store.purge(dry_run=dry_run)
            key = "console.done.dry_run" if dry_run else "console.done.purged"
            text = t(key, cases=c.cases, events=c.case_events, ratings=c.ratings)
            if c.held:  # past the window, kept while no night reaches the hub (edge.store.retention)
                text += t("console.done.held", held=c.held)
            self.app.call_from_thread(self.say, text)
            if dry_run:
                self.app.call_from_thread(setattr, self.query_one("#do-purge", Button), "disabled", False)
            return text

        def backup() -> str:
            text = t("console.done.backup", file=app.store.backup().name)
            self.app.call_from_thread(self.say, text)
            return text

        label = t(f"console.do.{name}")
        actions = {
            "verify": verify,
            "anchor": anchor,
            "dry_run": lambda: purge(True),
            "purge": lambda: purge(False),
            "backup": backup,
        }
        if name in actions:
            app.act(label, actions[name])
