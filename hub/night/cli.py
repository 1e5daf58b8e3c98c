"""What ``shegong hub nightly|backup|restore`` and ``shegong hub audit verify --witnesses`` do (hub.cli wires them)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import Engine
from sqlmodel import select

from hub.audit.chain import bind_key_file
from hub.audit.keyed import AuditKey, key_path, verify_macs
from hub.db.engine import open_engine
from hub.db.models import TerminalRegisterRow
from hub.errors import HubError
from hub.night import restored
from hub.night.probe import ask_witnesses
from hub.night.steps import backups, run_night
from hub.night.witness import check_anchor, disagreement, restores, verify_witnesses
from hub.settings import HubSettings
from protocol.envelope import utcnow

__all__ = ["AuditDisagrees", "main", "restore", "verify_keyed"]

log = logging.getLogger(__name__)


class AuditDisagrees(HubError):
    """The audit chain's seals do not hold, or it disagrees with what terminals witnessed."""


def main(engine: Engine, settings: HubSettings, ns: SimpleNamespace) -> int:
    if ns.cmd == "nightly":
        result = run_night(engine, settings, utcnow())
        print(result.as_json(), flush=True)
        return 0 if result.ok else 1
    if ns.cmd == "backup":
        counts = backups(settings).take(utcnow())
        print(json.dumps({**counts, "folder": str(Path(settings.backup_dir).resolve())}))  # where it went
        return 0
    raise ValueError(f"not a night command: {ns.cmd}")


def restore(settings: HubSettings, backup: Path, key_file: Path | None, actor: str, unsigned: bool = False) -> int:
    """Write ``backup`` over the database, then record it (audit chain, ``hub_restores``) with the numbers
    the catalogue's versions and the day's partner receipts continue above (:mod:`hub.night.restored`)."""
    hub_backups = backups(settings)  # with the audit key: it checks the backup's signature and seals the record
    restored.refuse_while_running(settings.database_url)
    now = utcnow()
    replaced = restored.read_replaced(settings.database_url, now)
    hub_backups.restore(backup, key_file, unsigned)
    engine = open_engine(settings.database_url)  # the backup's schema brought to head
    bind_key_file(engine, key_path(settings))
    try:
        done = restored.record(engine, backup.name, replaced, actor, now)
    finally:
        engine.dispose()
    lines = [
        f"restored {backup.name}; the terminals' next nightly reconciliation sends what the hub lacks",
        f"catalogue versions continue above {done.catalogue_above}, today's partner receipts above "
        f"{done.open311_above}; partner requests made after the backup are lost: partners submit them again",
        f"{done.sessions_ended} sign-in(s) ended: everyone signs in again",
    ]
    if replaced is None or replaced.access is None:
        lines.append(
            "the replaced database's users could not be read: users disabled, passwords changed and partner keys "
            "revoked after the backup are back as the backup had them; check `shegong hub user list` and "
            "`shegong hub partner list`"
        )
    else:
        said = {
            "users_disabled": "disabled again",
            "passwords": "password changed after the backup, so disabled: `shegong hub user passwd NAME`, then "
            "`shegong hub user enable NAME`",
            "partners_revoked": "partner key revoked again",
            "users_lost": "user made after the backup, lost: make again",
            "partners_lost": "partner added after the backup, lost: add again",
        }
        lines += [f"{what}: {', '.join(names)}" for key, what in said.items() if (names := done.carried[key])]
    print("\n".join(lines))
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
            restored = restores(conn)
            for terminal, anchors in sorted(answers.anchors.items()):
                for a in anchors:
                    checked += 1
                    if (problem := check_anchor(conn, key, a)) is not None:
                        disagreements.append(disagreement(key, a, terminal, problem, restored))
    wrong = [d for d in disagreements if not d.lost]
    if wrong:
        days = sorted({d.day for d in wrong})
        detail = "; ".join(f"{d.day} (terminal {d.terminal}: {d.problem})" for d in wrong)
        raise AuditDisagrees(
            f"the hub's audit chain disagrees with its witnesses on {', '.join(map(str, days))}: {detail}{heard}"
        )
    lost = sorted({d.day for d in disagreements})
    restore_note = (
        f"; {len(disagreements)} witness history a restore took away (days {', '.join(map(str, lost))}: "
        "entries past the backup, anchored before the restore, audit entry hub.restored)"
        if disagreements
        else ""
    )
    agree = checked - len(disagreements)
    return f"seals hold on all {good} entries; {agree} witnessed anchors agree{restore_note}{heard}"
