"""The one local time zone: both sides count days in it (receipt numbers, due dates, reconciliation
digests, pages and receipts). A subdistrict in another zone changes it here only."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

__all__ = ["LOCAL_TZ", "local_date"]

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_date(at: datetime) -> date:
    """The local calendar day of an aware ``at``."""
    return at.astimezone(LOCAL_TZ).date()
