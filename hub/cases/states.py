"""The case state machine: which action moves a case from which state to which, and what it needs.

前台一口受理、后台分类处理: a case arrives ``submitted``; a clerk of its department accepts it (taking it
from the queue), reviews it, may send one notice listing every missing material (补正, 一次性告知 — the
clock stops until the materials are in), and decides it (办结 or 不予批准, the latter with a reason).
A case that does not meet the conditions to be taken up is refused at acceptance instead (不予受理, with a
reason): a different outcome from 不予批准, which comes only after acceptance.
A resident may withdraw an open case; the clerk records it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocol.cases import CaseStatus

__all__ = ["CLOSED", "OPEN", "RUNNING", "TRANSITIONS", "Action", "Transition", "allowed_actions", "transition"]

S = CaseStatus
OPEN = frozenset({S.SUBMITTED, S.ACCEPTED, S.UNDER_REVIEW, S.MORE_MATERIALS})
"""States of a case nobody has decided yet."""
RUNNING = OPEN - {S.MORE_MATERIALS}
"""Open states whose promised-time clock runs (补正 stops it)."""
CLOSED = frozenset(S) - OPEN


class Action(enum.StrEnum):
    ACCEPT = "accept"  # 受理（从队列领取）
    REVIEW = "review"  # 开始审核
    REQUEST_MATERIALS = "request_materials"  # 一次性告知补正
    RESUME = "resume"  # 补正材料已收齐，恢复审核
    COMPLETE = "complete"  # 办结
    REFUSE = "refuse"  # 不予受理 (at acceptance)
    REJECT = "reject"  # 不予批准 (after review)
    WITHDRAW = "withdraw"  # 申请人撤回


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    sources: frozenset[CaseStatus]
    target: CaseStatus
    needs_reason: bool = False
    needs_materials: bool = False


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        Transition(Action.ACCEPT, frozenset({S.SUBMITTED}), S.ACCEPTED),
        Transition(Action.REVIEW, frozenset({S.ACCEPTED}), S.UNDER_REVIEW),
        Transition(
            Action.REQUEST_MATERIALS,
            frozenset({S.ACCEPTED, S.UNDER_REVIEW}),
            S.MORE_MATERIALS,
            needs_reason=True,
            needs_materials=True,
        ),
        Transition(Action.RESUME, frozenset({S.MORE_MATERIALS}), S.UNDER_REVIEW),
        Transition(Action.COMPLETE, frozenset({S.ACCEPTED, S.UNDER_REVIEW}), S.COMPLETED),
        Transition(Action.REFUSE, frozenset({S.SUBMITTED}), S.REFUSED, needs_reason=True),
        Transition(Action.REJECT, OPEN - {S.SUBMITTED}, S.REJECTED, needs_reason=True),
        Transition(Action.WITHDRAW, OPEN, S.WITHDRAWN, needs_reason=True),
    )
}


def transition(action: Action, current: CaseStatus) -> Transition | None:
    """The transition ``action`` makes from ``current``, or ``None`` when it is not allowed from there."""
    t = TRANSITIONS[action]
    return t if current in t.sources else None


def allowed_actions(current: CaseStatus, notices_sent: int = 0) -> list[Action]:
    """Actions possible from ``current`` (a second 补正 notice is not: everything goes in the first)."""
    return [
        a
        for a, t in TRANSITIONS.items()
        if current in t.sources and not (a is Action.REQUEST_MATERIALS and notices_sent)
    ]
