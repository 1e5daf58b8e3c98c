"""What a resident reads in an SMS notice: section ``sms`` of the hub's message catalogue (:mod:`hub.text`,
``messages/channels.zh.json``). Never an ID number nor a name: a number may have changed hands; the receipt
number and the item say which case it is."""

from __future__ import annotations

from collections.abc import Sequence

from hub.text import text
from protocol.cases import CaseStatus

__all__ = ["NOTICE_KINDS", "notice_text"]

_KINDS = {
    CaseStatus.ACCEPTED: "accepted",
    CaseStatus.MORE_MATERIALS: "more_materials",
    CaseStatus.COMPLETED: "completed",
    CaseStatus.REFUSED: "refused",
    CaseStatus.REJECTED: "rejected",
}
NOTICE_KINDS = frozenset(_KINDS)
"""The changes a resident is told of by SMS."""
_REASON_MAX = 120


def notice_text(status: CaseStatus, item: str, receipt: str, reason: str = "", materials: Sequence[str] = ()) -> str:
    """The notice of a case of ``item`` (its name) now in ``status``: the 补正 list or the reason in it."""
    reason = " ".join(reason.split())
    if len(reason) > _REASON_MAX:
        reason = reason[: _REASON_MAX - 1] + "…"
    listed = text("sms", "list_separator").join(materials)
    said = text("sms", "materials_reason", reason=reason) if reason and materials else ""
    body = text("sms", _KINDS[status], item=item, receipt=receipt, reason=reason, materials=listed, said=said)
    return text("sms", "signature") + body
