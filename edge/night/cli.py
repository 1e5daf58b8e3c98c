"""``shegong edge nightly`` and ``shegong edge restore``: the night's commands, wired from edge.cli."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

from edge.control import (
    NIGHT,
    NIGHT_MAX_S,
    SERVICE,
    ControlClient,
    TerminalNotRunning,
    hold_service_lock,
    lock_holder,
    service_running,
    socket_path,
)
from edge.errors import EdgeError
from edge.night.backup import RESTORED_AHEAD, Backups
from edge.night.steps import run_night
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings

__all__ = ["main"]


def main(settings: EdgeSettings, ns: SimpleNamespace) -> int:
    if ns.cmd == "restore":
        _refuse_while_running(settings)
        restored = Backups(settings).restore(Path(ns.backup) if ns.backup else None)
        with EdgeRuntime(settings):  # brings a backup of an older release to today's schema
            pass
        print(f"restored {restored.backup.name}; the next nightly reconciliation reports what the hub has since")
        if restored.cases_carried:
            print(f"{restored.cases_carried} case(s) accepted since the backup carried over, queued as they were")
        elif restored.cases_carried is None:
            print(
                "the replaced database could not be read: cases accepted since the backup that the hub did not"
                " have yet are not on this terminal; the next nightly reconciliation lists what the hub has"
            )
        if restored.audit_carried:
            print(f"{restored.audit_carried} audit entries made since the backup carried over: the chain goes on")
        if restored.audit_lost:
            print(
                "the replaced database's audit entries could not be carried over: the hub holds entries this"
                " terminal no longer does, and refuses its chain from there (docs/night.md, 'Restoring a terminal')"
            )
        if restored.ahead:
            print(
                f"the replaced database could not be read: today's receipt numbers continue {RESTORED_AHEAD} above"
                " the backup's, so none given since it was taken is given again"
            )
        return 0
    try:  # the service runs: the night runs in it, on its link
        summary = json.dumps(
            ControlClient(socket_path(settings.runtime_dir)).request("night", timeout_s=NIGHT_MAX_S),
            ensure_ascii=False,
        )
    except TerminalNotRunning:
        holder = lock_holder(settings.data_dir)
        if holder == NIGHT:
            raise EdgeError(
                "a night run by hand is running on this terminal: wait for it to end (it prints its summary)"
            ) from None
        if holder == SERVICE:  # running, but its socket does not answer: not a second night
            raise EdgeError(
                "the terminal's service runs but its control socket does not answer: restart it "
                "(systemctl restart shegong-edge), then run the night"
            ) from None
        lock = hold_service_lock(settings.data_dir, NIGHT)  # the service, started meanwhile, waits for this night
        try:
            with EdgeRuntime(settings) as rt:
                summary = run_night(rt).as_json()
        finally:
            os.close(lock)
    print(summary, flush=True)
    return 0 if json.loads(summary)["ok"] else 1


def _refuse_while_running(settings: EdgeSettings) -> None:
    """:class:`EdgeError` when the terminal's service runs — it holds the service lock, or answers on its
    control socket: written over under it, the database would be a file replaced under a process that goes
    on writing to the old one."""
    try:
        ControlClient(socket_path(settings.runtime_dir)).request("status")
    except TerminalNotRunning:
        if not service_running(settings.data_dir):
            return
    raise EdgeError("the terminal's service is running: stop it first (systemctl stop shegong-edge), then restore")
