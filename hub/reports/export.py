"""A report as CSV for the spreadsheet the centre already keeps: UTF-8 with a BOM, so Excel reads Chinese."""

from __future__ import annotations

import csv
import io

from hub.cases.messages import STATUS_LABELS
from hub.reports.service import LEVELS, Figures, Report

__all__ = ["HEADER", "to_csv"]

_LEVEL_NAMES = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
HEADER = [
    "层级",
    "代码",
    "名称",
    "所属部门",
    "受理量",
    STATUS_LABELS["completed"],
    STATUS_LABELS["refused"],
    STATUS_LABELS["rejected"],
    STATUS_LABELS["withdrawn"],
    "处理时长中位数(天)",
    "处理时长95分位(天)",
    "按时办结率",
    "超期件数",
    "超法定时限件数",
    "回访整改",
    "已回访",
    "回访超期",
    "评价数",
    *(_LEVEL_NAMES[level] for level in LEVELS),
    "差评率",
]


def _row(level: str, f: Figures) -> list[object]:
    share = f.in_time_share
    bad = f.bad_share
    return [
        level,
        f.code,
        f.name,
        f.department,
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
    w.writerow(_row("全中心", report.total))
    for f in report.departments:
        w.writerow(_row("部门", f))
    for f in report.items:
        w.writerow(_row("事项", f))
    return out.getvalue()
