"""What partners (and the operators behind them) read from the Open311 side: sections ``open311_error`` and
``open311_notice`` of the hub's message catalogue (:mod:`hub.text`, ``messages/channels.zh.json``)."""

from __future__ import annotations

from hub.text import section

__all__ = ["ERRORS", "NOTICES"]

ERRORS: dict[str, str] = section("open311_error")
NOTICES: dict[str, str] = section("open311_notice")
