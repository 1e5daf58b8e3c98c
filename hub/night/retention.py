"""Retention at the hub, run each night: personal data of old closed cases archived and blanked, and the
operational tables bounded.

- A case decided (any closed state, ``hub.cases.states.CLOSED``: completed, refused, rejected, withdrawn) more
  than ``case_keep_days`` ago is written whole to the archive — the row, its rating, its steps, its return
  call — as gzip JSON lines encrypted to the backup public key and signed like a backup (``*.jsonl.gz.sealed``,
  0600; ``shegong hub archive-open`` reads one with the private key), and then anonymised in place: ID
  number, name and the case as submitted blanked, and every free text about the resident — the rating's
  reason, the clerk's notes on the steps, the return call's reason and outcome. The row stays, with its
  facts (item, department, dates, outcome) for the reports, and so that a terminal's reconciliation still
  finds it. A visit's rating (no case) older than the window loses its free text the same way.
  (A personal-data review found the archive in clear gzip, kept for good, and the notes, the return call's
  copy of the rating's words and its outcome left in the database.) Without ``backup_public_key`` the
  archive is written in clear, as the backups are, with the night's warning.
- SMS notices sent, given up or made more than ``sms.keep_days`` ago are removed, their phone numbers with
  them (one never sent — no gateway configured — kept its number for good).
- Dead letters older than ``dead_letters_keep_days``, web sessions expired more than ``sessions_keep_days``
  ago, fleet heartbeats and link events past the fleet's ``history_keep_s`` are removed.

One audit entry per night with the counts (never which cases).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, update
from sqlmodel import col, select

from hub.audit.chain import AuditRecord, append
from hub.cases.states import CLOSED
from hub.db.models import (
    CaseEventRow,
    CaseRow,
    CaseWorkRow,
    DeadLetter,
    FleetHeartbeatRow,
    FleetLinkEventRow,
    NoticeRow,
    RatingRow,
    ReturnCallRow,
    WebSessionRow,
)
from hub.settings import HubSettings

__all__ = ["purge"]

_BATCH = 1000


def purge(
    engine: Engine,
    settings: HubSettings,
    now: datetime,
    history_keep_s: float,
    seal: Callable[[Path], Path] | None = None,
) -> dict[str, int]:
    """Archive and anonymise old closed cases and bound the operational tables; returns the counts.
    ``seal``: what makes an archive file of a clear one (:meth:`hub.night.backup.HubBackups.seal_file`)."""
    counts = {"archived": _archive(engine, settings, now, seal)}
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
            delete(NoticeRow).where(
                (col(NoticeRow.sent_at) < sms_cutoff)
                | (col(NoticeRow.failed_at) < sms_cutoff)
                # never sent (no gateway configured, or one that never answered): the phone number goes too
                | (col(NoticeRow.created_at) < sms_cutoff)
            )
        ).rowcount
        if any(counts.values()):
            append(conn, [AuditRecord(now, "hub", "retention.night", "retention", dict(counts))])
    return counts


def _archive(engine: Engine, settings: HubSettings, now: datetime, seal: Callable[[Path], Path] | None) -> int:
    """Write old closed cases to the archive, then blank their personal data; returns how many.

    Each batch is its own file: written in clear to a 0600 ``.partial``, synced, then ``seal`` makes it the
    archive file (encrypted to the backup public key, :meth:`HubBackups.seal_file`) and removes the clear
    one — all before the batch's rows are blanked, in the transaction that reads them: a crash in between
    leaves a batch archived twice, never lost, and never a clear file once sealed. A ``.partial`` a crash
    left is sealed by the next night first. Without ``seal`` (tests of the blanking alone) the file stays a
    plain ``.jsonl.gz``."""
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
    # A visit's rating (no case) past the same window: its free text and its return call's go too.
    visits = (
        select(RatingRow)
        .where(col(RatingRow.case_id).is_(None), col(RatingRow.rated_at) < cutoff, col(RatingRow.reason) != "")
        .order_by(col(RatingRow.rating_id))
        .limit(_BATCH)
    )
    folder = Path(settings.archive_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if seal is not None:
        for left in sorted(folder.glob(f"*{_PARTIAL}")):  # a night cut short between writing and sealing
            seal(left)
    stamp, total, batch = now.strftime("%Y%m%dT%H%M%S"), 0, 0
    for query in (due, visits):
        while True:
            with engine.begin() as conn:
                rows = [dict(r) for r in conn.execute(query).mappings()]
                if not rows:
                    break
                ids = [str(r["case_id"] if query is due else r["rating_id"]) for r in rows]
                records = _records(conn, rows, ids) if query is due else _visit_records(conn, rows, ids)
                batch += 1
                _write(folder / f"cases-{stamp}-{batch:04d}.jsonl.gz{_PARTIAL}", records, seal)
                _blank(conn, ids, cases=query is due)
                total += len(ids) if query is due else 0
    return total


_PARTIAL = ".partial"


def _records(conn: Connection, rows: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    """Each case whole: the row, its rating, its steps (the notes residents read) and its return call."""
    ratings, calls = _each(conn, RatingRow, "case_id", ids), _each(conn, ReturnCallRow, "case_id", ids)
    events: dict[str, list[dict[str, Any]]] = {}
    steps = select(CaseEventRow).where(col(CaseEventRow.case_id).in_(ids)).order_by(col(CaseEventRow.version))
    for e in conn.execute(steps).mappings():
        events.setdefault(str(e["case_id"]), []).append(dict(e))
    return [
        {
            "case": row,
            "rating": ratings.get(str(row["case_id"])),
            "events": events.get(str(row["case_id"]), []),
            "return_call": calls.get(str(row["case_id"])),
        }
        for row in rows
    ]


def _visit_records(conn: Connection, rows: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    calls = _each(conn, ReturnCallRow, "rating_id", ids)
    return [{"rating": row, "return_call": calls.get(str(row["rating_id"]))} for row in rows]


def _each(conn: Connection, model: Any, key: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The rows of ``model`` whose ``key`` is among ``ids`` (one each), by that key."""
    found = conn.execute(select(model).where(col(getattr(model, key)).in_(ids))).mappings()
    return {str(r[key]): dict(r) for r in found}


def _write(partial: Path, records: list[dict[str, Any]], seal: Callable[[Path], Path] | None) -> None:
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False, default=str).encode() + b"\n")
        out.close()  # the gzip trailer, before the sync
        raw.flush()
        os.fsync(raw.fileno())
    if seal is not None:
        seal(partial)
    else:
        partial.replace(partial.with_name(partial.name.removesuffix(_PARTIAL)))


def _blank(conn: Connection, ids: list[str], cases: bool) -> None:
    """The personal data of archived cases (``cases``) or visits' ratings blanked in place: ID number, name,
    the case as submitted, and every free text a person wrote about them — the rating's reason, the clerk's
    notes on its steps, the return call's reason (a copy of the rating's) and what the call found."""
    if cases:
        conn.execute(
            update(CaseRow).where(col(CaseRow.case_id).in_(ids)).values(id_number="", applicant_name="", payload="")
        )
        conn.execute(update(CaseEventRow).where(col(CaseEventRow.case_id).in_(ids)).values(note=""))
        conn.execute(update(RatingRow).where(col(RatingRow.case_id).in_(ids)).values(reason=""))
        conn.execute(update(ReturnCallRow).where(col(ReturnCallRow.case_id).in_(ids)).values(reason="", outcome=""))
    else:
        conn.execute(update(RatingRow).where(col(RatingRow.rating_id).in_(ids)).values(reason=""))
        conn.execute(update(ReturnCallRow).where(col(ReturnCallRow.rating_id).in_(ids)).values(reason="", outcome=""))
