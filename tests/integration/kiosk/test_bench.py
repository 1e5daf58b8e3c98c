"""``shegong bench kiosk`` runs end to end (a short run) and prints the line tools read."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

LINE = re.compile(
    r"^kiosk residents=(\d+) tap_p95_ms=(\d+\.\d) p95_ms=(\d+\.\d\d) hello_p95_ms=(\d+\.\d\d) "
    r"hello_idle_p95_ms=(\d+\.\d\d) ratio=(\d+\.\d\d) rss_mb=(\d+)$",
    re.M,
)


def test_bench_kiosk_prints_its_key_value_line():
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("shegong")),
            "bench",
            "kiosk",
            "--rounds",
            "8",
            "--warmup",
            "2",
            "--residents",
            "200",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    found = LINE.search(run.stdout)
    assert found, run.stdout
    residents, tap, p95, hello, hello_idle, ratio, rss = (float(v) for v in found.groups())
    assert residents == 200
    assert tap > 0 and p95 > 0 and hello > 0 and hello_idle > 0 and rss > 0
    # Each page against the bare route in its own conditions: the tap's page after the reader's idle
    # half-second, the item page straight after it.
    figures = json.loads(run.stdout[: found.start()])
    page, item = figures["page"]["p95_ms"], figures["item"]["p95_ms"]
    assert p95 == round(max(page, item), 2)
    expected = max(page / figures["hello_idle"]["p95_ms"], item / figures["hello"]["p95_ms"])
    assert abs(ratio - expected) < 0.01
