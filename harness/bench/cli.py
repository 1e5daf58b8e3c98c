"""``shegong bench sync|hub|kiosk|fleet``: the benchmark modules, each loaded only when it runs."""

from __future__ import annotations

import click

from kernel.cli import LazyGroup

__all__ = ["BENCHES", "bench"]

BENCHES = {
    "sync": ("harness.bench.sync:command", "drain N queued cases through broker and hub vs plain paho QoS 1"),
    "hub": ("harness.bench.hub:command", "hub ingest and reports vs bare executemany, SQLite and PostgreSQL"),
    "kiosk": ("harness.bench.kiosk:command", "card tap → personalised page vs the framework's hello route"),
    "fleet": ("harness.bench.fleet:command", "N simulated terminals against one hub: staleness, rollout, hub CPU"),
    "nightly": (
        "harness.bench.nightly:command",
        "N terminals reconcile with one hub in one night: time, hub CPU, repairs",
    ),
}


@click.group(cls=LazyGroup, lazy_subcommands=BENCHES)
def bench() -> None:
    """Benchmarks printed as ratios against a baseline of the same run."""
