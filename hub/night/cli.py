"""What ``shegong hub nightly|backup|restore`` and ``shegong hub audit verify --witnesses`` do (hub.cli wires them)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from hub.audit.chain import bind_key_file
from hub.audit.keyed import AuditKey, key_path, verify_macs
from hub.catalogue.store import CatalogueStore
from hub.db.engine import DatabaseUnreachable, open_engine
from hub.db.models import TerminalRegisterRow
from hub.errors import HubError
from hub.night.probe import ask_witnesses
from hub.night.steps import backups, run_night
from hub.night.witness import Disagreement, check_anchor, verify_witnesses
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
        print(json.dumps(backups(settings).take(utcnow())))
        return 0
    raise ValueError(f"not a night command: {ns.cmd}")


def restore(settings: HubSettings, backup: Path, key_file: Path | None, actor: str, unsigned: bool = False) -> int:
    """Write ``backup`` over the database, then record it (audit chain, ``hub_restores``) with the number the
    catalogue's versions continue above. The database replaced is only read, and only if it can be: it may
    be the broken one the restore is for."""
    hub_backups = backups(settings)  # with the audit key: it checks the backup's signature and seals the record
    overwritten = _numbered_up_to(settings.database_url)
    hub_backups.restore(backup, key_file, unsigned)
    engine = open_engine(settings.database_url)  # the backup's schema brought to head
    bind_key_file(engine, key_path(settings))
    try:
        above = CatalogueStore(engine).record_restore(backup.name, overwritten, actor)
    finally:
        engine.dispose()
    print(
        f"restored {backup.name}; the terminals' next nightly reconciliation sends what the hub lacks; "
        f"catalogue versions continue above {above}"
    )
    return 0


def _numbered_up_to(url: str) -> int | None:
    """The highest catalogue version number the database at ``url`` gave or passed (its versions, its own
    restores), None when it cannot be read."""
    try:
        engine = open_engine(url, upgrade=False)
    except DatabaseUnreachable as exc:
        log.warning("%s: catalogue numbering taken from the backup", exc)
        return None
    try:
        with engine.connect() as conn:
            numbers = [conn.execute(text("SELECT MAX(version) FROM catalogue_versions")).scalar()]
            if inspect(conn).has_table("hub_restores"):
                numbers.append(conn.execute(text("SELECT MAX(catalogue_above) FROM hub_restores")).scalar())
            return max(int(n or 0) for n in numbers)
    except SQLAlchemyError as exc:
        log.warning(
            "the database being replaced cannot be read (%s): catalogue numbering taken from the backup",
            type(exc).__name__,
        )
        return None
    finally:
        engine.dispose()


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
