"""``shegong bench kiosk`` runs end to end (a short run) and prints the line tools read."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

LINE = re.compile(
    r"^kiosk residents=(\d+) tap_p95_ms=(\d+\.\d) p95_ms=(\d+\.\d\d) hello_p95_ms=(\d+\.\d\d) "
    r"ratio=(\d+\.\d\d) rss_mb=(\d+)$",
    re.M,
)


def test_bench_kiosk_prints_its_key_value_line():
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("shegong")),
            "bench",
            "kiosk",
            "--rounds",
            "20",
            "--warmup",
            "5",
            "--residents",
            "500",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    found = LINE.search(run.stdout)
    assert found, run.stdout
    residents, tap, p95, hello, ratio, rss = (float(v) for v in found.groups())
    assert residents == 500
    assert tap > 0 and p95 > 0 and hello > 0 and rss > 0
    assert abs(ratio - p95 / hello) < 0.02 * ratio + 0.01
