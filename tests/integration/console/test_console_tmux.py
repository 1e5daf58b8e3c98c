"""The console as a technician opens it over SSH: ``shegong edge console`` inside tmux at 80×24, on a
terminal with five cases queued, shows the outbox depth on its first screen; ``q`` leaves it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.console.conftest import queue_cases, terminal_settings
from tests.support import wait_for

SHEGONG = Path(sys.executable).with_name("shegong")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed (scripts/system-deps.sh test)")
def test_console_in_tmux_at_80x24_shows_the_outbox_depth(tmp_path):
    settings = terminal_settings(tmp_path / "edge")
    queue_cases(settings, 5)
    sock = tmp_path / "tmux.sock"  # a private tmux server: nothing of the host's tmux is touched
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "SHEGONG_EDGE_CONFIG": str(tmp_path / "none.toml"),
        "SHEGONG_DATA_DIR": str(settings.data_dir),
        "SHEGONG_TERMINAL_ID": settings.terminal_id,
        "SHEGONG_COMMITTEE_CODE": settings.committee_code,
    }
    tmux = ["tmux", "-S", str(sock), "-f", "/dev/null"]
    # `; sleep` keeps the pane after the console exits, so the test can see it left cleanly
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "80", "-y", "24", f"{SHEGONG} edge console; echo console-exited; sleep 30"],
        env=env,
        check=True,
    )
    try:

        def screen() -> str:
            return subprocess.run(
                [*tmux, "capture-pane", "-p"], capture_output=True, text=True, check=True, env=env
            ).stdout

        def overview() -> str | None:
            s = screen()
            return s if re.search(r"待发件数\s+\S+\s+5\s", s) else None

        shown = wait_for(overview, timeout=30, what="the overview with the outbox depth")
        lines = shown.splitlines()
        assert len(lines) <= 24 and max(map(len, lines)) <= 80
        assert "T-0001" in shown and "JW001-" in shown
        subprocess.run([*tmux, "send-keys", "q"], env=env, check=True)
        wait_for(lambda: "console-exited" in screen(), timeout=15, what="the console to quit on q")
    finally:
        subprocess.run([*tmux, "kill-server"], env=env, check=False)
