"""Logging set-up for every ``shegong`` process: one format, the level given to ``shegong --log-level``
(or ``SHEGONG_LOG_LEVEL``)."""

from __future__ import annotations

import logging

__all__ = ["setup_logging"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once per process (a no-op when it already has handlers)."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
