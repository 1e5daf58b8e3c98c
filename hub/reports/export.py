"""A report as CSV for the spreadsheet the centre already keeps: UTF-8 with a BOM, so Excel reads Chinese.

Names come from the catalogue, which operators edit; a spreadsheet runs a cell starting ``=``, ``+``, ``-``,
``@`` (or a tab or carriage return before one) as a formula, so such a name is written after an apostrophe,
which Excel and WPS show as text and leave out of the cell's value (OWASP, "CSV injection")."""

from __future__ import annotations

import csv
import io

from hub.cases.messages import STATUS_LABELS
from hub.reports.service import LEVELS, Figures, Report
from hub.text import section, text

__all__ = ["HEADER", "to_csv"]

_COLUMNS = section("report_column")
HEADER = [
    *(_COLUMNS[key] for key in ("level", "code", "name", "department", "received")),
    STATUS_LABELS["completed"],
    STATUS_LABELS["refused"],
    STATUS_LABELS["rejected"],
    STATUS_LABELS["withdrawn"],
    *(_COLUMNS[key] for key in ("median_days", "p95_days", "in_time_share", "overdue", "over_statutory")),
    *(_COLUMNS[key] for key in ("return_calls", "return_calls_done", "return_calls_unreached", "return_calls_late")),
    _COLUMNS["rated"],
    *(text("rating_level", str(level)) for level in LEVELS),
    _COLUMNS["bad_share"],
]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """``value`` as a cell a spreadsheet shows as text, never runs (spaces before a formula's sign too: some
    import settings trim them)."""
    return "'" + value if value.lstrip().startswith(_FORMULA_STARTS) else value


def _row(level: str, f: Figures) -> list[object]:
    share = f.in_time_share
    bad = f.bad_share
    return [
        level,
        _text(f.code),
        _text(f.name),
        _text(f.department),
        f.received,
        f.completed,
        f.refused,
        f.rejected,
        f.withdrawn,
        "" if f.median_days is None else f"{f.median_days:.2f}",
        "" if f.p95_days is None else f"{f.p95_days:.2f}",
        "" if share is None else f"{share:.2%}",
        f.overdue,
        f.over_statutory,
        f.return_calls,
        f.return_calls_done,
        f.return_calls_unreached,
        f.return_calls_late,
        f.rated,
        *(f.ratings[level] for level in LEVELS),
        "" if bad is None else f"{bad:.2%}",
    ]


def to_csv(report: Report) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(HEADER)
    w.writerow(_row(text("report", "level_total"), report.total))
    for f in report.departments:
        w.writerow(_row(text("report", "level_department"), f))
    for f in report.items:
        w.writerow(_row(text("report", "level_item"), f))
    return out.getvalue()
