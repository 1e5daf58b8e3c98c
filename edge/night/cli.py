"""``shegong edge nightly`` and ``shegong edge restore``: the night's commands, wired from edge.cli."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from edge.control import NIGHT_MAX_S, ControlClient, TerminalNotRunning, socket_path
from edge.night.backup import Backups
from edge.night.steps import run_night
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings

__all__ = ["main"]


def main(settings: EdgeSettings, ns: SimpleNamespace) -> int:
    if ns.cmd == "restore":
        restored = Backups(settings).restore(Path(ns.backup) if ns.backup else None)
        with EdgeRuntime(settings):  # brings a backup of an older release to today's schema
            pass
        print(f"restored {restored.name}; the next nightly reconciliation reports what the hub has since")
        return 0
    try:  # the service runs: the night runs in it, on its link
        summary = json.dumps(
            ControlClient(socket_path(settings.runtime_dir)).request("night", timeout_s=NIGHT_MAX_S),
            ensure_ascii=False,
        )
    except TerminalNotRunning:
        with EdgeRuntime(settings) as rt:
            summary = run_night(rt).as_json()
    print(summary, flush=True)
    return 0 if json.loads(summary)["ok"] else 1
