"""A whole file written on a terminal by one command, its content on the command's standard input: the
command run here by sh as the terminal's root would run it. The file has exactly its bytes (a last line
without a newline too) and its mode, replaces one there before whole, leaves nothing beside it, and the
secret never shows in the command line (anyone's to read in /proc). The sshd drop-in is written by the
same command as every other managed file."""

from __future__ import annotations

import base64
import grp
import os
import pwd
import stat
import subprocess
from pathlib import Path

from pyinfra.api.command import StringCommand
from pyinfra.api.config import Config
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.inventory import Inventory
from pyinfra.api.state import State
from pyinfra.context import ctx_host, ctx_state

from provisioning.terminal import SSHD_DROPIN, ManagedFile, sshd_keys_only, write_command


def _run(f: ManagedFile) -> str:
    command = write_command(f)
    raw = command.get_raw_value()
    stdin = command.connector_arguments["_stdin"]
    assert isinstance(stdin, str)
    subprocess.run(["sh", "-c", raw], input=stdin, text=True, check=True)
    return raw


def test_a_secret_file_is_written_whole_with_its_mode_and_never_on_the_command_line(tmp_path: Path):
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    path = tmp_path / "etc" / "shegong" / "edge.toml"
    content = 'broker_password = "s3cret-Very-Long-Password"\nstaff_pins = "k1:scrypt$1"'  # no last newline
    raw = _run(ManagedFile(str(path), content, "600", user, group))
    assert path.read_bytes() == content.encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3cret" not in raw and "scrypt" not in raw
    assert sorted(p.name for p in path.parent.iterdir()) == ["edge.toml"], "nothing left beside it"

    path.chmod(0o644)  # a file there before, of another mode: replaced whole, with the mode wanted
    _run(ManagedFile(str(path), 'broker_password = "another"\n', "600", user, group))
    assert path.read_text() == 'broker_password = "another"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    public = tmp_path / "etc" / "udev" / "60-shegong.rules"
    _run(ManagedFile(str(public), "# rules\n", "644", user, group))
    assert stat.S_IMODE(public.stat().st_mode) == 0o644 and public.read_text() == "# rules\n"


def test_the_sshd_drop_in_is_written_as_every_managed_file():
    """Its commands, prepared against this machine (pyinfra's own local connector looks for the drop-in
    here, finds none or another): the content only on the write command's standard input."""
    content = "# test drop-in, never on this machine\nPasswordAuthentication no\n"
    state = State(Inventory((["@local"], {})), Config())
    connect_all(state)
    try:
        with ctx_state.use(state), ctx_host.use(state.inventory.get_host("@local")):
            commands = list(sshd_keys_only._inner(content))  # type: ignore[attr-defined]
    finally:
        disconnect_all(state)
    raws = [c.get_raw_value() if isinstance(c, StringCommand) else str(c) for c in commands]
    encoded = base64.b64encode(content.encode()).decode()
    assert not [r for r in raws if encoded in r or "PasswordAuthentication" in r], "not on a command line"
    (written,) = [c for c in commands if isinstance(c, StringCommand) and c.connector_arguments.get("_stdin")]
    assert base64.b64decode(str(written.connector_arguments["_stdin"])) == content.encode()
    assert written.get_raw_value() == write_command(ManagedFile(SSHD_DROPIN, content)).get_raw_value()
