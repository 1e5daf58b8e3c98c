"""Logging set-up for every ``shegong`` process: one format, the level from ``SHEGONG_LOG_LEVEL``."""

from __future__ import annotations

import logging
import os

__all__ = ["setup_logging"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging() -> None:
    """Configure the root logger once per process (a no-op when it already has handlers)."""
    logging.basicConfig(level=os.environ.get("SHEGONG_LOG_LEVEL", "INFO"), format=FORMAT)
