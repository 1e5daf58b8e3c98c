"""What the back office and the resident read about cases, in Chinese, in one place."""

from __future__ import annotations

from collections.abc import Sequence

from hub.cases.states import Action
from protocol.cases import CaseStatus
from protocol.statuses import glossary

__all__ = [
    "ACTION_LABELS",
    "DONE_ON_SPOT_NOTE",
    "RETURN_CALL_DONE",
    "RETURN_CALL_ERRORS",
    "STATUTORY_LIGHT_LABELS",
    "LIGHT_LABELS",
    "PARTNER_FORM_LABELS",
    "STATUS_LABELS",
    "materials_notice",
]

STATUS_LABELS: dict[str, str] = {status: t.zh for status, t in glossary().items()}
"""The official term of each status (:mod:`protocol.statuses`, the one glossary kiosk and hub share)."""

ACTION_LABELS: dict[str, str] = {
    Action.ACCEPT: "受理",
    Action.REVIEW: "开始审核",
    Action.REQUEST_MATERIALS: "一次性告知补正",
    Action.RESUME: "补正材料已收齐",
    Action.COMPLETE: "办结（批准）",
    Action.REFUSE: STATUS_LABELS[CaseStatus.REFUSED],
    Action.REJECT: STATUS_LABELS[CaseStatus.REJECTED],
    Action.WITHDRAW: "申请人撤回",
    "route": "改派部门",
}

LIGHT_LABELS: dict[str, str] = {
    "none": "无时限",
    "green": "正常",
    "yellow": "黄牌预警",
    "red": "红牌超期",
    "paused": "补正暂停计时",
    "done": "已结束",
}

PARTNER_FORM_LABELS = {
    "open311_description": "来电人诉求（合作方转来）",
    "open311_address_string": "来电人地址",
    "open311_email": "来电人电子邮箱",
    "open311_phone": "来电号码",
}
"""What a partner (the 12345 hotline, over Open311) passed on beside the item's own form (hub.open311)."""

DONE_ON_SPOT_NOTE = "即办件，已当场办结"
"""The note of the completed event of a case finished at the kiosk (the resident reads it)."""

STATUTORY_LIGHT_LABELS: dict[str, str] = {
    "none": "无法定时限",
    "green": "正常",
    "yellow": "法定时限预警",
    "red": "超过法定时限",
    "paused": "补正暂停计时",
    "done": "已结束",
}
"""The statutory time limit's own warning (法定办结时限), beside the promised time's cards."""

RETURN_CALL_DONE = "已记录回访整改情况"
RETURN_CALL_ERRORS = {
    "outcome": "请填写回访情况和整改措施",
    "missing": "没有这条回访任务",
    "done": "这条回访已记录，不能再次记录",
}

ERRORS = {
    "conflict": "该案件已被他人更新（当前版本 {current}），请刷新后重试",
    "transition": "案件当前状态为「{status}」，不能执行「{action}」",
    "reason": "「{action}」需要填写申请人能看懂的理由",
    "materials": "一次性告知补正须列出所缺的全部材料",
    "second_notice": "本案件已发过补正告知：补正须一次性告知，不能再次要求",
    "department": "未知部门 {department}",
    "same_department": "案件已在该部门",
    "closed": "案件已结束，不能改派",
}


def materials_notice(materials: Sequence[str], reason: str) -> str:
    """The one notice (一次性告知) a resident reads: every missing material, then the clerk's explanation."""
    lines = ["请补正以下材料（一次性告知）："]
    lines += [f"{i}. {m}" for i, m in enumerate(materials, 1)]
    if reason:
        lines.append(f"说明：{reason}")
    lines.append("材料补齐后，办理时限继续计算。")
    return "\n".join(lines)
