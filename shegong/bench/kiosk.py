"""``shegong bench kiosk``: card tap → personalised page and item detail, beside a bare hello route.

The measuring is in :mod:`edge.kiosk.bench` (both apps under uvicorn on loopback). Prints
``kiosk p95_ms=… hello_p95_ms=… ratio=… rss_mb=…``.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="shegong bench kiosk", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--items", type=int, default=300, help="catalogue size")
    p.add_argument("--rounds", type=int, default=1000, help="taps measured")
    p.add_argument("--residents", type=int, default=3000, help="distinct card holders tapping in turn")
    p.add_argument("--json", action="store_true", help="also print every figure as JSON")
    ns = p.parse_args(list(argv))
    logging.getLogger().setLevel(logging.WARNING)
    from edge.kiosk.bench import format_result, run

    figures = run(items=ns.items, rounds=ns.rounds, residents=ns.residents)
    if ns.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    print(format_result(figures))
    return 0
