"""One widget per tab of the console; :func:`pane_for` makes the one for a tab's name."""

from __future__ import annotations

from textual.widget import Widget

__all__ = ["pane_for"]


def pane_for(name: str) -> Widget:
    from edge.console.panes import audit, catalogue, devices, logs, network, overview, settings, sync

    panes: dict[str, type[Widget]] = {
        "overview": overview.Overview,
        "sync": sync.SyncPane,
        "catalogue": catalogue.CataloguePane,
        "audit": audit.AuditPane,
        "settings": settings.SettingsPane,
        "network": network.NetworkPane,
        "logs": logs.LogsPane,
        "devices": devices.DevicesPane,
    }
    return panes[name]()
