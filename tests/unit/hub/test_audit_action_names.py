"""Every action the hub writes to its audit chain has a Chinese name on the audit page (电子监察).

The auditor read bare codes (``case.request_materials``, ``reconcile.events_refused``). The codes are found
here by reading the hub's source for each ``AuditRecord`` and each case action, not from the names' file.
"""

from __future__ import annotations

import re
from pathlib import Path

from hub.cases.states import Action
from hub.text import section

HUB = Path(__file__).resolve().parents[3] / "hub"
ACTION = re.compile(r"\"([a-z_0-9]+(?:\.[a-z_0-9]+)+)\"")


def _arguments(text: str, start: int) -> str:
    """The text of a call's arguments: from ``start`` (after its opening parenthesis) to the one closing it."""
    depth = 1
    for at in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[at], 0)
        if depth == 0:
            return text[start:at]
    return text[start:]


def _written() -> set[str]:
    """The action codes in the arguments of each call that writes one: AuditRecord(…), and the workflow's,
    the people service's and the case queries' helpers that pass theirs on."""
    codes = {f"case.{a.value}" for a in Action}
    for source in HUB.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        for call in re.finditer(r"\b(?:AuditRecord|_commit|_change|_audit|_seen)\(", text):
            codes |= set(ACTION.findall(_arguments(text, call.end())))
    return codes


def test_every_action_written_has_a_name():
    written = _written()
    assert {"cases.received", "auth.login", "case.route", "help.acknowledged"} <= written  # the reading finds them
    missing = written - section("audit_action").keys()
    assert not missing, f"name these in hub/messages/pages.zh.json audit_action: {sorted(missing)}"
