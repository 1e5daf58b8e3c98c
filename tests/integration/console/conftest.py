"""A terminal's store with queued cases, made at a fixed time; the console opened on it through Textual's pilot."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.console.app import ConsoleApp
from edge.console.checks import HostFigures
from edge.console.store import ConsoleStore
from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from edge.store.cases import NewCase
from tests.support import CASE_PUBLIC_KEY, applicant

ACCEPTED_AT = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai: receipts JW001-20260302-000n
LOOKED_AT = ACCEPTED_AT + timedelta(minutes=4, seconds=5)
HOST = HostFigures(disk_free_mb=5120.0, disk_total_mb=14_800.0, mem_available_pct=61.0)


def this_technician() -> tuple[str, dict[str, str]]:
    """How the audit chain must name this test process, worked out with ``id`` (not the code under test): the
    user of its login session where it has one (the kernel's audit login uid), else its own user; and the
    account beside the outcome where the two differ."""
    account = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    with open("/proc/self/loginuid") as f:
        login_uid = f.read().strip()
    if login_uid == str(2**32 - 1):  # no login session (a service, CI's container)
        return f"technician:{account}", {}
    login = subprocess.run(["id", "-un", login_uid], capture_output=True, text=True, check=True).stdout.strip()
    return f"technician:{login}", ({"account": account} if login != account else {})


def terminal_settings(data_dir: Path, **more: object) -> EdgeSettings:
    return EdgeSettings(
        terminal_id="T-0001",
        committee_code="JW001",
        committee_name="潍坊一居委",
        data_dir=data_dir,
        hub_public_key=CASE_PUBLIC_KEY,
        **more,  # type: ignore[arg-type]
    )


def queue_cases(settings: EdgeSettings, n: int) -> list[str]:
    """Accept ``n`` cases at ACCEPTED_AT with no hub in reach; return their receipt numbers."""
    with EdgeRuntime(settings) as rt:
        return [
            rt.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(i)), now=ACCEPTED_AT).receipt_no
            for i in range(n)
        ]


@pytest.fixture
def settings(tmp_path: Path) -> EdgeSettings:
    s = terminal_settings(tmp_path / "edge")
    queue_cases(s, 3)
    return s


@pytest.fixture
def store(settings: EdgeSettings) -> Iterator[ConsoleStore]:
    st = ConsoleStore(settings)
    yield st
    st.close()


def console_app(settings: EdgeSettings, store: ConsoleStore, **kw: object) -> ConsoleApp:
    return ConsoleApp(settings, store, host=lambda: HOST, clock=lambda: LOOKED_AT, refresh_every_s=0, **kw)  # type: ignore[arg-type]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio
