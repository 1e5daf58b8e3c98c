"""Every command of the ``shegong`` tree answers ``--help``: the whole click tree is walked (lazy groups
loaded), each command's help runs in-process and exits 0 with a usage line, and every command and option
says what it is for. One run of the installed ``shegong --help`` checks the entry point itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shegong.cli import COMMANDS, cli


def _walk(command: click.Command, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1] if path else "shegong")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"shegong {' '.join((*path, name))} does not load"
            found += _walk(sub, (*path, name))
    return found


TREE = _walk(cli, ())


def test_the_tree_holds_every_side_and_their_commands():
    paths = {" ".join(p) for p, _ in TREE}
    assert set(COMMANDS) <= paths
    # a sample of the leaves the Makefile, the demo, provisioning and the tests run
    assert {"edge run", "edge reader read", "hub run", "hub catalogue publish", "hub broker", "sim id-reader"} <= paths
    assert {"bench sync", "bench kiosk", "protocol schema", "demo"} <= paths


@pytest.mark.parametrize("path", [p for p, _ in TREE], ids=lambda p: " ".join(p) or "shegong")
def test_help_exits_0_with_usage(path):
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="shegong")
    assert result.exit_code == 0, result.output
    usage = f"Usage: shegong {' '.join(path)}".rstrip()
    assert result.output.startswith(usage), result.output


@pytest.mark.parametrize("path", [p for p, _ in TREE if p], ids=lambda p: " ".join(p))
def test_every_command_and_option_says_what_it_is_for(path):
    command = dict(TREE)[path]
    assert (command.short_help or command.help or "").strip(), f"shegong {' '.join(path)} has no help text"
    for option in command.params:
        if isinstance(option, click.Option):
            assert (option.help or "").strip(), f"shegong {' '.join(path)} {option.opts[0]} has no help"


def test_installed_entry_point_prints_help():
    shegong = Path(sys.executable).with_name("shegong")
    out = subprocess.run([str(shegong), "--help"], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.startswith("Usage: shegong")
    assert all(name in out for name in COMMANDS)
