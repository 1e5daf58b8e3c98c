"""Logging set-up for every ``shegong`` process: one format, no ID numbers, and for a service a rotating file.

``setup_logging`` runs first thing in the ``shegong`` command (the level of ``shegong --log-level``, or
``SHEGONG_LOG_LEVEL``, until a service's settings say theirs); a service then calls :func:`configure` with its
settings' level and log file. Every line written, tracebacks included, has anything shaped like an ID number
masked (:func:`protocol.idnumber.mask_ids`): whoever wrote the message, no whole ID number reaches a log.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
from pathlib import Path

from protocol.idnumber import mask_ids

__all__ = [
    "FILE_BACKUPS",
    "FILE_MAX_BYTES",
    "FORMAT",
    "LEVELS",
    "MaskingFormatter",
    "configure",
    "setup_logging",
]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FILE_MAX_BYTES = 5 * 2**20  # five files of 5 MiB: days of a busy terminal's INFO lines, a bounded disk share
FILE_BACKUPS = 4
_FILE_HANDLER = "shegong-file"


class MaskingFormatter(logging.Formatter):
    """The one format, with every ID-number-shaped run in the finished line (and its traceback) masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_ids(super().format(record))


class _PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """Every file it opens, the first and each after a rollover, is 0600 whatever the umask."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once per process (a no-op when it already has handlers)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())


def configure(level: str, log_file: Path | None = None) -> None:
    """Set the root level and, with ``log_file``, also write there: rotated at :data:`FILE_MAX_BYTES`,
    :data:`FILE_BACKUPS` old files kept, the folder 0700 and the files 0600 (once per process)."""
    root = logging.getLogger()
    root.setLevel(level)
    if log_file is None or any(h.get_name() == _FILE_HANDLER for h in root.handlers):
        return
    log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handler = _PrivateRotatingFile(log_file, maxBytes=FILE_MAX_BYTES, backupCount=FILE_BACKUPS, encoding="utf-8")
    handler.set_name(_FILE_HANDLER)
    handler.setFormatter(MaskingFormatter(FORMAT))
    root.addHandler(handler)
