"""What a resident reads in an SMS notice, in Chinese, in one place. Never an ID number nor a name: a
number may have changed hands; the receipt number and the item say which case it is."""

from __future__ import annotations

from collections.abc import Sequence

from protocol.cases import CaseStatus

__all__ = ["NOTICE_KINDS", "notice_text"]

SIGNATURE = "【社区事务受理服务中心】"
_TEXTS = {
    CaseStatus.ACCEPTED: "您的{item}申请（回执号{receipt}）已受理，我们将在承诺时限内办理。",
    CaseStatus.MORE_MATERIALS: "您的{item}申请（回执号{receipt}）需补正材料：{materials}。材料补齐后继续办理。",
    CaseStatus.COMPLETED: "您的{item}申请（回执号{receipt}）已办结。",
    CaseStatus.REFUSED: "您的{item}申请（回执号{receipt}）不予受理，理由：{reason}",
    CaseStatus.REJECTED: "您的{item}申请（回执号{receipt}）不予批准，理由：{reason}",
}
NOTICE_KINDS = frozenset(_TEXTS)
"""The changes a resident is told of by SMS."""
_REASON_MAX = 120


def notice_text(status: CaseStatus, item: str, receipt: str, reason: str = "", materials: Sequence[str] = ()) -> str:
    """The notice of a case of ``item`` (its name) now in ``status``: the 补正 list or the reason in it."""
    reason = " ".join(reason.split())
    if len(reason) > _REASON_MAX:
        reason = reason[: _REASON_MAX - 1] + "…"
    text = _TEXTS[status].format(item=item, receipt=receipt, reason=reason, materials="、".join(materials))
    return SIGNATURE + text
