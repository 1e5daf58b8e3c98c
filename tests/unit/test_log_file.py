"""The service's log file: rotated at its size with a bounded number of old files, private, and with every
ID number masked, in messages and tracebacks alike, as on stderr (a separate process: its own root logger)."""

from __future__ import annotations

import stat
import subprocess
import sys

from tests.support import applicant

CODE = """
import logging, sys
from pathlib import Path
import kernel.logs as logs
logs.setup_logging()  # stderr, which journald keeps under systemd
logs.FILE_MAX_BYTES = 4000
logs.configure("INFO", Path(sys.argv[1]))
log = logging.getLogger("edge.test")
number = sys.argv[2]
log.debug("not at INFO: %s", number)
for i in range(400):
    log.info("line %d about %s", i, number)
try:
    raise ValueError(f"bad {number}")
except ValueError:
    log.exception("failed")
"""


def test_rotates_keeps_four_old_files_private_and_masks_id_numbers(tmp_path):
    number = applicant(5).id_number
    log = tmp_path / "log" / "edge.log"
    ran = subprocess.run(
        [sys.executable, "-c", CODE, str(log), number], check=True, capture_output=True, text=True, timeout=60
    )
    files = sorted(p.name for p in log.parent.iterdir())
    assert files == ["edge.log", "edge.log.1", "edge.log.2", "edge.log.3", "edge.log.4"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in log.parent.iterdir())
    assert all(p.stat().st_size <= 4000 for p in log.parent.iterdir())
    text = "".join(p.read_text(encoding="utf-8") for p in log.parent.iterdir())
    assert number not in text and "not at INFO" not in text
    masked = number[:6] + "*" * 8 + number[-4:]
    assert f"INFO edge.test: line 399 about {masked}" in text
    assert f"ValueError: bad {masked}" in log.read_text(encoding="utf-8"), "the traceback masked too"
    assert f"INFO edge.test: line 0 about {masked}" in ran.stderr and number not in ran.stderr, "stderr alike"
