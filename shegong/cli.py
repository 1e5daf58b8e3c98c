"""``shegong`` — one entry point, subcommands loaded lazily.

A Raspberry Pi that installed only the ``edge`` extra never imports the hub: ``shegong edge …`` imports
``edge.cli`` and nothing else. Each subcommand module exposes ``main(argv) -> int``. An exception whose
class sets ``is_user_error = True`` (every package's base error does) becomes a message on stderr and
exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

__all__ = ["COMMANDS", "main", "stop_on_sigterm", "wait_for_stop"]

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("shegong.demo", "run broker, hub and terminals on this machine"),
    "edge": ("edge.cli", "terminal: run, submit cases, read devices, inspect the outbox"),
    "hub": ("hub.cli", "hub: run ingest and web, users, audit verify"),
    "sim": ("edge.devices.sim.cli", "device simulators on a pty: id-reader, sscard, scanner, printer"),
    "bench": ("shegong.bench.cli", "benchmarks printed as ratios against a baseline of the same run"),
    "protocol": ("shegong.protocol_cli", "export the protocol's JSON Schemas"),
    "provision": ("provisioning.cli", "terminals over SSH from an inventory: apply [--check], wheelhouse"),
}


def stop_on_sigterm() -> threading.Event:
    """An event that SIGTERM (systemd's stop) sets, so a service ends as cleanly as on Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def wait_for_stop(stop: threading.Event) -> None:
    """Block until SIGTERM or Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: shegong COMMAND [ARGS…]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "shegong COMMAND --help for a command's own options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=os.environ.get("SHEGONG_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"shegong: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as exc:
        print(
            f"shegong {name}: not installed here ({exc.name} is missing); install the matching extra",
            file=sys.stderr,
        )
        return 2
    try:
        return int(module.main(rest) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if getattr(exc, "is_user_error", False):
            print(f"shegong {name}: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
