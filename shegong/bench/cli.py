"""``shegong bench sync|hub|kiosk|fleet|nightly``: dispatch to the benchmark modules, loaded lazily."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

__all__ = ["main"]

BENCHES = {
    "sync": ("shegong.bench.sync", "drain N queued cases through broker and hub vs plain paho QoS 1"),
    "hub": ("shegong.bench.hub", "hub ingest and reports vs bare executemany, SQLite and PostgreSQL"),
    "kiosk": ("shegong.bench.kiosk", "card tap → personalised page vs the framework's hello route"),
    "fleet": ("shegong.bench.fleet", "N simulated terminals against one hub: staleness, rollout, hub CPU"),
    "nightly": ("shegong.bench.nightly", "N terminals reconcile with one hub in one night: time, hub CPU, repairs"),
}


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if not args or args[0] not in BENCHES:
        p = argparse.ArgumentParser(prog="shegong bench", description="Benchmarks printed as ratios.")
        sub = p.add_subparsers(dest="bench", required=True)
        for name, (_, help_text) in BENCHES.items():
            sub.add_parser(name, help=help_text)
        p.parse_args(args)
        return 2
    module = importlib.import_module(BENCHES[args[0]][0])
    return int(module.main(args[1:]) or 0)
