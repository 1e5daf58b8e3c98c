"""What every ``shegong`` command group shares: a click group that imports its subcommands only when asked,
and the one place library errors become a message and an exit code.

A Raspberry Pi that installed only the ``edge`` extra never imports the hub: ``shegong --help`` lists
``hub`` from the short help kept here, without importing ``hub.cli``. This is click's documented
"lazy loading subcommands" pattern (a ``LazyGroup`` subclass), as harlequin and posting use it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

__all__ = ["LazyGroup", "NotInstalled", "run"]


class NotInstalled(click.ClickException):
    """A subcommand whose extra is not installed here: a message and exit code 2, not a traceback."""

    exit_code = 2


class LazyGroup(click.Group):
    """A group whose ``lazy_subcommands`` (name → ``("module:attribute", short help)``) are imported when run.

    ``--help`` of the group lists them with the short help given here, so it imports none of them.
    """

    def __init__(self, *args: Any, lazy_subcommands: Mapping[str, tuple[str, str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy_subcommands, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            return self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, short) in self.lazy_subcommands.items()]
        for name in super().list_commands(ctx):
            cmd = super().get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _load(self, cmd_name: str) -> click.Command:
        module_name, attribute = self.lazy_subcommands[cmd_name][0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise NotInstalled(
                f"{cmd_name}: not installed here ({exc.name} is missing); install the matching extra"
            ) from None
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}:{attribute} is not a click command")
        return command


def run(command: click.Command, argv: Sequence[str], prog_name: str) -> int:
    """Run ``command`` on ``argv`` and return its exit code; the command's own errors propagate.

    Usage errors print click's message and return 2 (as argparse did); ``--help`` returns 0.
    """
    try:
        result = command.main(args=list(argv), prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except click.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        print("Aborted!", file=sys.stderr)
        return 1
    return int(result or 0)
