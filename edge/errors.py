"""The edge's one base error; the CLI prints it and exits 2, the kiosk shows its Chinese message."""

from __future__ import annotations

__all__ = ["EdgeError", "StorageFailed", "StorageFull"]


class EdgeError(Exception):
    """Base of every error the edge reports to a person."""

    is_user_error = True


class StorageFull(EdgeError):
    """The outbox or the disk is at its bound: new submissions are refused, nothing queued is touched."""


class StorageFailed(EdgeError):
    """The storage failed a write (an I/O error of a failing SD card, a read-only or damaged database): new
    submissions are refused with the staff called, nothing of the resident's is kept."""
