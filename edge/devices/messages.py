"""The texts people see for device conditions: the ``device`` section of the edge's message catalogue
(:mod:`edge.text`, ``edge/messages/<lang>.json``).

Keys are stable codes used by errors and health; the kiosk reads the same keys (``device.<code>``).
"""

from __future__ import annotations

from edge.text import catalogue
from edge.text import text as _text

__all__ = ["text", "with_detail"]


def text(code: str, **fields: str) -> str:
    """The message for ``code`` with ``fields`` filled in; an unknown code falls back to a generic text."""
    key = f"device.{code}" if f"device.{code}" in catalogue() else "device.device_error"
    return _text(key, **fields)


def with_detail(message: str, detail: str) -> str:
    """A device message followed by its technical detail (for the log and the staff)."""
    return _text("device.with_detail", message=message, detail=detail)
