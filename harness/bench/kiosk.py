"""``shegong bench kiosk``: card tap → personalised page and item detail, beside a bare hello route.

The measuring is in :mod:`harness.bench.kiosk_measure` (both apps under uvicorn on loopback). Prints
``kiosk residents=… tap_p95_ms=… p95_ms=… hello_p95_ms=… hello_idle_p95_ms=… ratio=… rss_mb=…``.
"""

from __future__ import annotations

import json
import logging

import click

__all__ = ["command"]


@click.command("kiosk", help=__doc__.split("\n\n")[0] if __doc__ else None)
@click.option("--items", type=int, default=300, show_default=True, help="catalogue size")
@click.option("--rounds", type=int, default=1000, show_default=True, help="taps measured")
@click.option("--warmup", type=int, default=50, show_default=True, help="taps before the measured ones")
@click.option("--residents", type=int, default=3000, show_default=True, help="distinct card holders tapping in turn")
@click.option("--json", "as_json", is_flag=True, help="also print every figure as JSON")
def command(items: int, rounds: int, warmup: int, residents: int, as_json: bool) -> int:
    logging.getLogger().setLevel(logging.WARNING)
    from harness.bench.kiosk_measure import format_result, run

    figures = run(items=items, rounds=rounds, warmup=warmup, residents=residents)
    if as_json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    print(format_result(figures))
    return 0
