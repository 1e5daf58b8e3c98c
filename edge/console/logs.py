"""The terminal's recent log lines: from journald when the unit logs there, else from a log file.

Lines are parsed into (time, level, component, message); anything shaped like an ID number is masked
before it reaches the screen, whatever wrote it. Filters: a lowest level and a component prefix.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from protocol.idnumber import mask_ids

__all__ = ["LEVELS", "UNIT", "LogLine", "filtered", "from_journal", "mask_ids", "parse", "recent"]

UNIT = "shegong-edge"  # systemd/edge/shegong-edge.service: the terminal service, kiosk and sync agent
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# shegong.cli's format: "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LINE = re.compile(r"^(\S+ \S+) (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+): (.*)$")
_PRIORITY = {0: "CRITICAL", 1: "CRITICAL", 2: "CRITICAL", 3: "ERROR", 4: "WARNING", 5: "INFO", 6: "INFO", 7: "DEBUG"}


@dataclass(frozen=True, slots=True)
class LogLine:
    at: str
    level: str
    component: str
    message: str


def parse(raw: str) -> LogLine:
    m = _LINE.match(raw.rstrip("\n"))
    if m is None:
        return LogLine("", "INFO", "", mask_ids(raw.rstrip("\n")))
    return LogLine(m[1], m[2], m[3], mask_ids(m[4]))


def from_journal(unit: str, lines: int = 500, journal_file: Path | None = None) -> list[LogLine] | None:
    """The unit's last ``lines`` entries from journald (or from ``journal_file``, a journal file copied off
    a terminal), or None when there is no journal to ask or it has nothing of the unit."""
    if shutil.which("journalctl") is None:
        return None
    source = ["--file", str(journal_file)] if journal_file is not None else []
    try:
        out = subprocess.run(
            ["journalctl", *source, "-u", unit, "-n", str(lines), "-o", "json", "--no-pager"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    result = []
    for raw in out.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        line = parse(str(entry.get("MESSAGE", "")))
        if not line.at:
            level = _PRIORITY.get(int(entry.get("PRIORITY", 6)), "INFO")
            line = LogLine("", level, str(entry.get("SYSLOG_IDENTIFIER", "")), line.message)
        result.append(line)
    return result or None


def recent(
    log_file: Path | None, unit: str = UNIT, lines: int = 500, journal_file: Path | None = None
) -> list[LogLine]:
    """Journald's lines for ``unit`` where it has some, else the last ``lines`` of ``log_file``."""
    journal = from_journal(unit, lines, journal_file)
    if journal is not None:
        return journal
    if log_file is None or not log_file.exists():
        return []
    with log_file.open(encoding="utf-8", errors="replace") as f:
        return [parse(raw) for raw in deque(f, maxlen=lines)]


def filtered(lines: list[LogLine], level: str = "DEBUG", component: str = "") -> list[LogLine]:
    floor = LEVELS.index(level)
    return [x for x in lines if LEVELS.index(x.level) >= floor and x.component.startswith(component)]
