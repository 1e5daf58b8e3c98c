"""``shegong bench nightly`` runs end to end at a small scale and prints the line tools read; every case
deleted at the hub before the night is back after it (the bench itself fails otherwise)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

LINE = re.compile(
    r"^nightly terminals=(\d+) seconds=(\d+\.\d\d) hub_cpu_pct=(\d+) repaired=(\d+)"
    r" ingest_p95_ms_during=(\d+\.\d\d) ingest_p95_ms_idle=(\d+\.\d\d)$",
    re.M,
)


def test_bench_nightly_prints_its_key_value_line():
    run = subprocess.run(
        [str(Path(sys.executable).with_name("shegong")), "bench", "nightly", "--terminals", "4", "--days", "3"]
        + ["--cases-per-day", "5", "--lost-pct", "20", "--idle-s", "1"],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    found = LINE.search(run.stdout)
    assert found, run.stdout
    terminals, seconds, cpu, repaired, during, idle = found.groups()
    assert int(terminals) == 4 and float(seconds) > 0 and int(cpu) >= 0
    assert int(repaired) == 4 * 3, "every fifth of the 15 cases of each terminal was lost, and came back"
    assert float(during) > 0 and float(idle) > 0
