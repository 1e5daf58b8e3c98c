"""Synthetic cases, events, work facts and ratings for benchmarks, screenshots and report tests.

Writes straight into the tables (no audit entries: this is a load generator, not history), in chunks,
with a seeded random generator so two runs make the same data. Not for a production database.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, insert

from hub.cases.returncalls import RETURN_CALL_DAYS
from hub.db.models import CaseEventRow, CaseRow, CaseWorkRow, RatingRow, ReturnCallRow, table
from protocol.catalogue import Catalogue, load_seed
from protocol.idnumber import with_check_digit
from protocol.localtime import LOCAL_TZ, local_date
from protocol.workdays import WorkCalendar, add_working_days, load_seed_calendar

__all__ = ["populate"]

_REASONS = [
    "等待时间太长",
    "材料要求没有一次说清",
    "工作人员态度不好",
    "跑了好几次",
    "系统故障办不了",
    "办理进度查不到",
]
_CALLED = "已回访致歉，说明办理要求，窗口整改"
_OUTCOMES = ["completed"] * 80 + ["rejected"] * 6 + ["withdrawn"] * 2 + ["open"] * 12


def populate(
    engine: Engine,
    cases: int,
    start: date,
    days: int = 90,
    seed: int = 6,
    catalogue: Catalogue | None = None,
    calendar: WorkCalendar | None = None,
    chunk: int = 5000,
) -> int:
    """Add ``cases`` cases received over ``days`` days from ``start``; returns how many were written."""
    rnd = random.Random(seed)
    catalogue = catalogue or load_seed()
    calendar = calendar or load_seed_calendar()
    items = catalogue.items
    # Some items are slow and badly rated, so the "worst items" have something to show.
    slow = {it.code for it in rnd.sample(items, 5)}
    rows: dict[str, list[dict[str, object]]] = {"cases": [], "events": [], "work": [], "ratings": [], "calls": []}
    written = 0
    for n in range(cases):
        it = items[rnd.randrange(len(items))]
        day = start + timedelta(days=rnd.randrange(days))
        received = datetime.combine(day, time(8, 30), LOCAL_TZ).astimezone(UTC) + timedelta(
            seconds=rnd.randrange(8 * 3600)
        )
        due = add_working_days(local_date(received), it.promised_days, calendar)
        law_due = add_working_days(local_date(received), it.statutory_days, calendar)
        case_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        body = f"310101{1940 + rnd.randrange(60)}0{1 + rnd.randrange(9)}1{rnd.randrange(10)}{rnd.randrange(1000):03d}"
        id_number = with_check_digit(body)
        outcome = rnd.choice(_OUTCOMES)
        factor = 1.6 if it.code in slow else 0.7
        spent = timedelta(days=max(0.02, rnd.gammavariate(2.0, max(it.promised_days, 0.3) * factor / 2.0)))
        decided = received + spent
        now = datetime.now(UTC)
        if outcome != "open" and decided > now:
            outcome = "open"
        status = {"completed": "completed", "rejected": "rejected", "withdrawn": "withdrawn"}.get(
            outcome, rnd.choice(["submitted", "accepted", "under_review", "more_materials"])
        )
        version = 1 if status == "submitted" else 3
        terminal, committee = f"T{rnd.randrange(40):03d}", f"JW{rnd.randrange(40):03d}"
        rows["cases"].append(
            {
                "case_id": case_id,
                "terminal_id": terminal,
                "committee": committee,
                "receipt_no": f"{committee}-{day:%Y%m%d}-{n % 1_000_000:06d}",  # unique per committee (h0012)
                "query_code": "ABC234",
                "item_code": it.code,
                "department": it.department,
                "status": status,
                "version": version,
                "id_number": id_number,
                "applicant_name": f"居民{n}",
                "created_at": received,
                "sent_at": received,
                "received_at": received,
                "clock_skew_s": None,
                "due_date": due,
                "promised_days": it.promised_days,
                "statutory_days": it.statutory_days,
                "statutory_due": law_due,
                "updated_at": decided if outcome != "open" else received,
                "payload": "{}",
            }
        )
        common = {"case_id": case_id, "terminal_id": "T000", "actor": "hub", "note": "", "department": it.department}
        rows["events"].append({**common, "version": 1, "status": "submitted", "at": received})
        if version == 3:
            rows["events"].append({**common, "version": 2, "status": "accepted", "at": received, "actor": "sample"})
            at = decided if outcome != "open" else received
            rows["events"].append({**common, "version": 3, "status": status, "at": at, "actor": "sample"})
            closed = outcome != "open"
            counted = outcome in {"completed", "rejected"}
            rows["work"].append(
                {
                    "case_id": case_id,
                    "department": it.department,
                    "item_code": it.code,
                    "assignee": "sample",
                    "accepted_at": received,
                    "paused_at": received if status == "more_materials" else None,
                    "paused_days": 0,
                    "notices": 1 if status == "more_materials" else 0,
                    "decided_at": decided if closed else None,
                    "outcome": outcome if closed else "",
                    "processing_s": spent.total_seconds() if counted else None,
                    "in_time": (local_date(decided) <= due) if counted else None,
                    "statutory_in_time": (local_date(decided) <= law_due) if counted else None,
                }
            )
            if closed and rnd.random() < 0.3:
                bad = it.code in slow and rnd.random() < 0.5
                level = rnd.choice([1, 2]) if bad else rnd.choice([5, 5, 5, 4, 4, 3, 2])
                rating_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
                rows["ratings"].append(
                    {
                        "rating_id": rating_id,
                        "case_id": case_id,
                        "terminal_id": "T000",
                        "committee": "JW000",
                        "receipt_no": "",
                        "item_code": it.code,
                        "department": it.department,
                        "level": level,
                        "reason": rnd.choice(_REASONS) if level <= 2 else "",
                        "rated_at": decided + timedelta(minutes=5),
                        "received_at": decided + timedelta(minutes=6),
                        "stamped_at": decided + timedelta(minutes=5),
                    }
                )
                if level <= 2:  # 差评: a return call, recorded three days later once that day has come
                    called = decided + timedelta(days=3)
                    rows["calls"].append(
                        {
                            **{k: rows["ratings"][-1][k] for k in ("rating_id", "case_id", "item_code", "level")},
                            **{k: rows["ratings"][-1][k] for k in ("department", "committee", "receipt_no", "reason")},
                            "opened_at": decided + timedelta(minutes=6),
                            "due_date": add_working_days(local_date(decided), RETURN_CALL_DAYS, calendar),
                            "done_at": called if called < now else None,
                            "done_by": "sample" if called < now else "",
                            "reached": True if called < now else None,
                            "outcome": _CALLED if called < now else "",
                        }
                    )
        if len(rows["cases"]) >= chunk or n == cases - 1:
            written += _flush(engine, rows)
    return written


def _flush(engine: Engine, rows: dict[str, list[dict[str, object]]]) -> int:
    tables = {
        "cases": table(CaseRow),
        "events": table(CaseEventRow),
        "work": table(CaseWorkRow),
        "ratings": table(RatingRow),
        "calls": table(ReturnCallRow),
    }
    n = len(rows["cases"])
    with engine.begin() as conn:
        for key, target in tables.items():
            if rows[key]:
                conn.execute(insert(target), rows[key])
            rows[key] = []
    return n
