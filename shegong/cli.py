"""``shegong`` — one entry point, each side's commands loaded lazily.

A Raspberry Pi that installed only the ``edge`` extra never imports the hub: ``shegong edge …`` imports
``edge.cli`` and nothing else, and ``shegong --help`` imports none of the sides. Each side's commands are
a click group (:class:`kernel.cli.LazyGroup`). An exception whose class sets ``is_user_error = True``
(every package's base error does) becomes a message on stderr and exit code 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from kernel.cli import LazyGroup, run
from kernel.logs import LEVELS, setup_logging

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
@click.option(
    "--log-level",
    envvar="SHEGONG_LOG_LEVEL",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="how much the process logs (or SHEGONG_LOG_LEVEL); never ID numbers at any level",
)
def cli(log_level: str) -> None:
    """Offline-first self-service terminals and their hub."""
    setup_logging(log_level)


#: Switches of libraries that are read when the library is imported, so set once at process start (never by
#: an import of ours): pypinyin without its 55 MB phrase dictionary (edge.kiosk.directory says why).
LIBRARY_SWITCHES = {"PYPINYIN_NO_PHRASES": "1", "PYPINYIN_NO_DICT_COPY": "1"}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    for name, value in LIBRARY_SWITCHES.items():
        os.environ.setdefault(name, value)
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
