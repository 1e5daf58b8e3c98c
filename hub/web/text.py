"""The one place the hub's pages take their Chinese words from.

The back office's labels of statuses, actions and deadline lights come from :mod:`hub.cases.messages`;
the operators' labels of terminal states, alerts with the suggested action, device states and link
events from ``messages/fleet.zh.json``. Templates see both as globals (``STATUS``, ``ACTIONS``,
``LIGHTS``, ``t``)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from hub.cases.messages import ACTION_LABELS, LIGHT_LABELS, STATUS_LABELS

__all__ = ["fleet_labels", "template_globals"]


@cache
def fleet_labels() -> dict[str, dict[str, str]]:
    """``{"state"|"alert"|"action"|"device"|"link": {key: label}}`` for the operators' pages."""
    data = resources.files("hub.web").joinpath("messages/fleet.zh.json").read_text(encoding="utf-8")
    labels: dict[str, dict[str, str]] = json.loads(data)
    return labels


def template_globals() -> dict[str, Any]:
    """The labels every template may use."""
    return {"t": fleet_labels(), "STATUS": STATUS_LABELS, "ACTIONS": ACTION_LABELS, "LIGHTS": LIGHT_LABELS}
