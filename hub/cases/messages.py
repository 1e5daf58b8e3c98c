"""What the back office and the resident read about cases: the ``cases`` sections of the hub's message
catalogue (:mod:`hub.text`), with the statuses from the one glossary kiosk and hub share."""

from __future__ import annotations

from collections.abc import Sequence

from hub.cases.states import Action
from hub.text import section, text
from protocol.cases import CaseStatus
from protocol.statuses import glossary

__all__ = [
    "ACTION_LABELS",
    "DONE_ON_SPOT_NOTE",
    "ERRORS",
    "RETURN_CALL_DONE",
    "RETURN_CALL_ERRORS",
    "STATUTORY_LIGHT_LABELS",
    "LIGHT_LABELS",
    "PARTNER_FORM_LABELS",
    "STATUS_LABELS",
    "materials_notice",
    "routed_note",
]

STATUS_LABELS: dict[str, str] = {status: t.zh for status, t in glossary().items()}
"""The official term of each status (:mod:`protocol.statuses`, the one glossary kiosk and hub share)."""

ACTION_LABELS: dict[str, str] = {
    **section("case_action"),
    Action.REFUSE: STATUS_LABELS[CaseStatus.REFUSED],
    Action.REJECT: STATUS_LABELS[CaseStatus.REJECTED],
}
"""Each action's label (section ``case_action``); refusing and rejecting are named by the status they lead to."""

LIGHT_LABELS: dict[str, str] = section("light")
"""The promised time's cards (section ``light``)."""

PARTNER_FORM_LABELS: dict[str, str] = section("partner_form")
"""What a partner (the 12345 hotline, over Open311) passed on beside the item's own form (hub.open311)."""

STATUTORY_LIGHT_LABELS: dict[str, str] = section("statutory_light")
"""The statutory time limit's own warning (法定办结时限), beside the promised time's cards."""

DONE_ON_SPOT_NOTE = text("case_note", "done_on_spot")
"""The note of the completed event of a case finished at the kiosk (the resident reads it)."""

RETURN_CALL_DONE = text("case_note", "return_call_done")
RETURN_CALL_ERRORS: dict[str, str] = section("return_call_error")
ERRORS: dict[str, str] = section("case_error")
"""The clerks' refusals (section ``case_error``), ``{name}`` templates."""


def materials_notice(materials: Sequence[str], reason: str) -> str:
    """The one notice (一次性告知) a resident reads: every missing material, then the clerk's explanation."""
    lines = [text("case_note", "materials_head")]
    lines += [text("case_note", "materials_item", number=i, material=m) for i, m in enumerate(materials, 1)]
    if reason:
        lines.append(text("case_note", "materials_reason", reason=reason))
    lines.append(text("case_note", "materials_tail"))
    return "\n".join(lines)


def routed_note(department_name: str) -> str:
    """The note of a case sent to another department when the clerk wrote none."""
    return text("case_note", "routed", department=department_name)
