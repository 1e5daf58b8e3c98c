"""``shegong hub nightly``: the hub's overnight steps, each a plain function run once, in order.

1. ``backup`` — SQLite online backup or ``pg_dump``, checked, encrypted to the backup public key and signed
   with the hub's audit key, a few generations kept (:mod:`.backup`).
2. ``anchor`` — the audit chain's new entries and their seals checked, the day's anchor signed and kept
   (the running hub publishes it to the terminals) (:mod:`.anchor`).
3. ``retention`` — old closed cases archived (sealed as the backups are) and anonymised; dead letters,
   sessions, heartbeats and link history bounded (:mod:`.retention`).
4. ``nights`` — a ``night_missed`` fleet alert for each terminal whose night did not report (:mod:`.results`).

The terminals' side of the night (reconciliation, audit segments, nightly results) is answered by the
running hub's ingest, whenever each terminal's timer fires.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from hub.audit.keyed import AuditKey, key_path
from hub.night.anchor import anchor_night
from hub.night.backup import HubBackups
from hub.night.results import missed_nights
from hub.night.retention import purge
from hub.settings import HubSettings
from kernel.nightly import NightResult, Step, run_steps

__all__ = ["backups", "run_night"]


def backups(settings: HubSettings) -> HubBackups:
    """The hub's backups: sealed to ``backup_public_key``, signed with its audit key's backup signing key."""
    signer = AuditKey.load(key_path(settings)).backup_signing_key
    return HubBackups(
        settings.database_url, Path(settings.backup_dir), settings.backups_kept, settings.backup_public_key, signer
    )


def run_night(engine: Engine, settings: HubSettings, now: datetime) -> NightResult:
    def backup() -> Mapping[str, int]:
        return backups(settings).take(now)

    def anchor() -> Mapping[str, int]:
        return anchor_night(engine, AuditKey.load(key_path(settings)), now)

    def retention() -> Mapping[str, int]:
        return purge(engine, settings, now, settings.fleet.history_keep_s, backups(settings).seal_file)

    def nights() -> Mapping[str, int]:
        raised, cleared = missed_nights(engine, now, settings.night_missed_after_h)
        return {"raised": raised, "cleared": cleared}

    steps: list[Step] = [("backup", backup), ("anchor", anchor), ("retention", retention), ("nights", nights)]
    return run_steps(steps, now)
