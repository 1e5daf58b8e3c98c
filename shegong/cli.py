"""``shegong`` — one entry point, each side's commands loaded lazily.

A Raspberry Pi that installed only the ``edge`` extra never imports the hub: ``shegong edge …`` imports
``edge.cli`` and nothing else, and ``shegong --help`` imports none of the sides. Each side's commands are
a click group (:class:`kernel.cli.LazyGroup`). An exception whose class sets ``is_user_error = True``
(every package's base error does) becomes a message on stderr and exit code 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from kernel.cli import LazyGroup, run
from kernel.logs import setup_logging

__all__ = ["COMMANDS", "cli", "main"]

#: name → ("module:click command", short help); the module is imported only when its command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("harness.demo:command", "run broker, hub and terminals on this machine"),
    "edge": ("edge.cli:edge", "terminal: run, submit cases, read devices, inspect the outbox"),
    "hub": ("hub.cli:hub", "hub: run ingest and web, users, audit verify"),
    "sim": ("edge.devices.sim.cli:sim", "device simulators on a pty: id-reader, sscard, scanner, printer"),
    "bench": ("harness.bench.cli:bench", "benchmarks printed as ratios against a baseline of the same run"),
    "protocol": ("shegong.protocol_cli:protocol", "export the protocol's JSON Schemas"),
    "provision": (
        "provisioning.cli:provision",
        "terminals over SSH from an inventory: apply [--check], rotate, retire, upgrade",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy_subcommands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="shegong COMMAND --help for a command's own options.",
)
def cli() -> None:
    """Offline-first self-service terminals and their hub."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    setup_logging()
    if args[:1] == ["help"]:
        args = ["--help"]
    try:
        return run(cli, args, "shegong")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if getattr(exc, "is_user_error", False):
            print(f"shegong {args[0] if args else ''}: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
