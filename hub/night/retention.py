"""Retention at the hub, run each night: personal data of old closed cases archived and blanked, and the
operational tables bounded.

- A case decided (any closed state, ``hub.cases.states.CLOSED``: completed, refused, rejected, withdrawn) more
  than ``case_keep_days`` ago is written whole to the archive (gzip JSON lines, 0600, one file per night) and
  then anonymised in place: ID number, name and the case as submitted blanked, its rating's free-text reason
  too. The row stays, with its facts (item, department, dates, outcome) for the reports, and so that a
  terminal's reconciliation still finds it.
- SMS notices sent or given up more than ``sms.keep_days`` ago are removed, their phone numbers with them.
- Dead letters older than ``dead_letters_keep_days``, web sessions expired more than ``sessions_keep_days``
  ago, fleet heartbeats and link events past the fleet's ``history_keep_s`` are removed.

One audit entry per night with the counts (never which cases).
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, delete, update
from sqlmodel import col, select

from hub.audit.chain import AuditRecord, append
from hub.cases.states import CLOSED
from hub.db.models import (
    CaseRow,
    CaseWorkRow,
    DeadLetter,
    FleetHeartbeatRow,
    FleetLinkEventRow,
    NoticeRow,
    RatingRow,
    WebSessionRow,
)
from hub.settings import HubSettings

__all__ = ["purge"]

_BATCH = 1000


def purge(engine: Engine, settings: HubSettings, now: datetime, history_keep_s: float) -> dict[str, int]:
    """Archive and anonymise old closed cases and bound the operational tables; returns the counts."""
    counts = {"archived": _archive(engine, settings, now)}
    with engine.begin() as conn:
        dead_cutoff = now - timedelta(days=settings.dead_letters_keep_days)
        counts["dead_letters"] = conn.execute(
            delete(DeadLetter).where(col(DeadLetter.received_at) < dead_cutoff)
        ).rowcount
        session_cutoff = now - timedelta(days=settings.sessions_keep_days)
        counts["sessions"] = conn.execute(
            delete(WebSessionRow).where(col(WebSessionRow.expires_at) < session_cutoff)
        ).rowcount
        history_cutoff = now - timedelta(seconds=history_keep_s)
        counts["heartbeats"] = conn.execute(
            delete(FleetHeartbeatRow).where(col(FleetHeartbeatRow.at) < history_cutoff)
        ).rowcount
        counts["link_events"] = conn.execute(
            delete(FleetLinkEventRow).where(col(FleetLinkEventRow.at) < history_cutoff)
        ).rowcount
        sms_cutoff = now - timedelta(days=settings.sms.keep_days)
        counts["sms_notices"] = conn.execute(
            delete(NoticeRow).where((col(NoticeRow.sent_at) < sms_cutoff) | (col(NoticeRow.failed_at) < sms_cutoff))
        ).rowcount
        if any(counts.values()):
            append(conn, [AuditRecord(now, "hub", "retention.night", "retention", dict(counts))])
    return counts


def _archive(engine: Engine, settings: HubSettings, now: datetime) -> int:
    """Write old closed cases to the archive, then blank their personal data; returns how many."""
    cutoff = now - timedelta(days=settings.case_keep_days)
    due = (
        select(CaseRow)
        .join(CaseWorkRow, col(CaseWorkRow.case_id) == col(CaseRow.case_id))
        .where(
            col(CaseRow.status).in_(sorted(CLOSED)),
            col(CaseWorkRow.decided_at) < cutoff,
            col(CaseRow.id_number) != "",
        )
        .order_by(col(CaseRow.case_id))
        .limit(_BATCH)
    )
    folder = Path(settings.archive_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"cases-{now.strftime('%Y%m%dT%H%M%S')}.jsonl.gz"
    total = 0
    while True:
        with engine.begin() as conn:
            rows = [dict(r) for r in conn.execute(due).mappings()]
            if not rows:
                break
            ids = [str(r["case_id"]) for r in rows]
            found = conn.execute(select(RatingRow).where(col(RatingRow.case_id).in_(ids))).mappings()
            ratings = {str(r["case_id"]): dict(r) for r in found}
            # Written and synced before the rows are blanked in this transaction: a crash in between leaves
            # them archived twice, never lost.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "ab") as raw, gzip.GzipFile(fileobj=raw, mode="ab") as out:
                for row in rows:
                    record: dict[str, Any] = {"case": row, "rating": ratings.get(str(row["case_id"]))}
                    out.write(json.dumps(record, ensure_ascii=False, default=str).encode() + b"\n")
                out.flush()
                raw.flush()
                os.fsync(raw.fileno())
            conn.execute(
                update(CaseRow).where(col(CaseRow.case_id).in_(ids)).values(id_number="", applicant_name="", payload="")
            )
            conn.execute(update(RatingRow).where(and_(col(RatingRow.case_id).in_(ids))).values(reason=""))
            total += len(ids)
    return total
