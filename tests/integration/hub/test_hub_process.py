"""The hub as an administrator starts it, ``shegong hub …`` in its own process.

A hub given a broker password but no CA file would send that password in clear text: it refuses to start
(exit code 2 and a message naming the settings) unless ``broker_insecure`` says so, as the loopback demo
does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _shegong(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "shegong.cli", *args], env=env, capture_output=True, text=True, timeout=60, **kwargs
    )


def _hub_env(folder: Path, broker_port: int, **settings: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SHEGONG_LOG_LEVEL": "WARNING",
        "SHEGONG_HUB_DATABASE_URL": f"sqlite:///{folder / 'hub.db'}",
        "SHEGONG_HUB_CASE_KEY_FILE": str(folder / "hub-case.key"),
        "SHEGONG_HUB_BROKER_PORT": str(broker_port),
        "SHEGONG_HUB_WEB_PORT": "0",
    }
    env.update({f"SHEGONG_HUB_{k.upper()}": v for k, v in settings.items()})
    return env


@pytest.fixture
def hub_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "hub"
    folder.mkdir()
    return folder


def test_a_broker_password_without_a_ca_file_stops_the_hub_unless_marked_insecure(hub_folder, broker):
    env = _hub_env(hub_folder, broker.port, broker_password="hub-secret-1")
    assert _shegong("hub", "keys", "init", env=env).returncode == 0
    refused = _shegong("hub", "run", "--no-web", env=env)
    assert refused.returncode == 2, refused.stderr
    assert "broker_tls_ca" in refused.stderr and "broker_insecure" in refused.stderr
    assert "Traceback" not in refused.stderr

    insecure = {**env, "SHEGONG_HUB_BROKER_INSECURE": "true"}  # as the demo sets it for its loopback broker
    proc = subprocess.Popen(
        [sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"],
        env=insecure,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(5)  # still running: it started and connected
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
