"""What ``shegong hub nightly|backup|restore`` and ``shegong hub audit verify --witnesses`` do (hub.cli wires them)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from sqlalchemy import Engine
from sqlmodel import select

from hub.audit.keyed import AuditKey, key_path, verify_macs
from hub.db.models import TerminalRegisterRow
from hub.errors import HubError
from hub.night.probe import ask_witnesses
from hub.night.steps import backups, run_night
from hub.night.witness import Disagreement, check_anchor, verify_witnesses
from hub.settings import HubSettings
from protocol.envelope import utcnow

__all__ = ["AuditDisagrees", "main", "verify_keyed"]


class AuditDisagrees(HubError):
    """The audit chain's seals do not hold, or it disagrees with what terminals witnessed."""


def main(engine: Engine, settings: HubSettings, ns: SimpleNamespace) -> int:
    if ns.cmd == "nightly":
        result = run_night(engine, settings, utcnow())
        print(result.as_json(), flush=True)
        return 0 if result.ok else 1
    if ns.cmd == "backup":
        print(json.dumps(backups(settings).take(utcnow())))
        return 0
    engine.dispose()  # nothing of ours holds the database while it is overwritten
    backups(settings).restore(ns.backup, ns.key)
    print(f"restored {ns.backup.name}; the terminals' next nightly reconciliation sends what the hub lacks")
    return 0


def verify_keyed(engine: Engine, settings: HubSettings, live_timeout_s: float | None = None) -> str:
    """The seals, then the witnesses: a message when they hold; :class:`AuditDisagrees` naming the days.

    ``live_timeout_s``: ask every registered terminal live for the anchors it keeps (over MQTT, waiting
    that long) instead of reading the copies their segments brought up earlier, which live in the database
    under test. The message (or the error) says which terminals answered and which stayed silent."""
    key = AuditKey.load(key_path(settings))
    with engine.connect() as conn:
        good, broken = verify_macs(conn, key)
        if broken is not None:
            raise AuditDisagrees(f"audit entry {broken.entry_id}: {broken.problem}")
        if live_timeout_s is None:
            checked, disagreements = verify_witnesses(conn, key)
            heard = ""
        else:
            terminals = sorted(conn.execute(select(TerminalRegisterRow.terminal_id)).scalars())
    if live_timeout_s is not None:
        answers = ask_witnesses(settings, terminals, live_timeout_s)
        heard = f"; asked {len(terminals)} terminal(s): answered {', '.join(sorted(answers.anchors)) or 'none'}" + (
            f", silent after {live_timeout_s:g} s: {', '.join(answers.silent)}" if answers.silent else ""
        )
        if terminals and not answers.anchors:
            raise AuditDisagrees(f"no terminal answered: the witnesses could not be asked{heard}")
        checked, disagreements = 0, []
        with engine.connect() as conn:
            for terminal, anchors in sorted(answers.anchors.items()):
                for a in anchors:
                    checked += 1
                    if (problem := check_anchor(conn, key, a)) is not None:
                        disagreements.append(Disagreement(a.day, terminal, problem))
    if disagreements:
        days = sorted({d.day for d in disagreements})
        detail = "; ".join(f"{d.day} (terminal {d.terminal}: {d.problem})" for d in disagreements)
        raise AuditDisagrees(
            f"the hub's audit chain disagrees with its witnesses on {', '.join(map(str, days))}: {detail}{heard}"
        )
    return f"seals hold on all {good} entries; {checked} witnessed anchors agree{heard}"
