"""Fixtures shared by every test: real Mosquitto per test, hub on SQLite and PostgreSQL, terminals.

An autouse fixture keeps the host's configuration out: no /etc/shegong file, no SHEGONG_ variable but the
case key pair of the test process (terminals seal cases to it, hubs open them with it).
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness import postgres
from harness.broker import Mosquitto
from harness.linkproxy import LinkProxy
from shegong.cli import LIBRARY_SWITCHES
from tests.support import CASE_PUBLIC_KEY, audit_public_key, register_terminal, write_case_key

os.environ.update(LIBRARY_SWITCHES)  # as the shegong command sets them at start: the kiosk's lean pinyin


@pytest.fixture(autouse=True)
def _no_host_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("SHEGONG_") and key != "SHEGONG_TEST_PG":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SHEGONG_EDGE_CONFIG", str(tmp_path / "no-edge.toml"))
    monkeypatch.setenv("SHEGONG_HUB_CONFIG", str(tmp_path / "no-hub.toml"))
    # One case key pair per test process: terminals seal to its public half, hubs open with its private half.
    monkeypatch.setenv("SHEGONG_HUB_PUBLIC_KEY", CASE_PUBLIC_KEY)
    case_key = write_case_key(tmp_path / "hub-case.key")
    monkeypatch.setenv("SHEGONG_HUB_CASE_KEY_FILE", str(case_key))
    # The test's hub audit key beside it: terminals check the hub's signed anchors with its public half.
    monkeypatch.setenv("SHEGONG_HUB_AUDIT_PUBLIC_KEY", audit_public_key(case_key))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path / "broker").start()
    yield b
    b.kill()


@pytest.fixture
def proxy(broker: Mosquitto) -> Iterator[LinkProxy]:
    p = LinkProxy(broker.port)
    yield p
    p.close()


_PG_SKIP: list[str | None] = []


def pg_skip_reason() -> str | None:
    if not _PG_SKIP:
        reason = postgres.unavailable()
        _PG_SKIP.append(reason and f"PostgreSQL not reachable at {postgres.ADMIN_URL}: {reason}")
    return _PG_SKIP[0]


@contextmanager
def _pg_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database, empty or a copy of ``template``, dropped afterwards."""
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    with postgres.database("shegong_test", template) as url:
        yield url


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """The name of a database at the hub schema's head, made once per test process, that each hub test's
    database on PostgreSQL copies (``CREATE DATABASE … TEMPLATE``): migrating one cost the server and the
    test about 0.4 s of CPU, over 200 tests a tenth of the suite's time on two cores."""
    from hub.db.engine import open_engine

    with _pg_database() as url:
        open_engine(url).dispose()  # no connection left to it: a template being copied must have none
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with _pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub database file at the schema's head, made once per test process, that each hub test on SQLite
    copies, as ``pg_template`` is on PostgreSQL: migrating one cost about 0.25 s of CPU, over 330 tests."""
    from hub.db.engine import open_engine

    path = tmp_path_factory.mktemp("hub-template") / "hub.db"
    open_engine(f"sqlite:///{path}").dispose()
    assert not Path(f"{path}-wal").exists(), "the last connection closed: the log checkpointed into the file"
    return path


@pytest.fixture
def sqlite_hub_db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A hub database at the schema's head on SQLite alone. A module whose point is the pages (their shape,
    their headers), not the queries under them, which tests/unit/hub runs on both databases, makes it its
    ``hub_db_url``: a browser test on each database costs the suite twice for the same page."""
    shutil.copy2(sqlite_template, tmp_path / "hub.db")
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The hub's database: every hub test runs on SQLite and on PostgreSQL. It is a copy of one at the
    schema's head, unless the test is marked ``empty_db`` (it migrates step by step itself)."""
    empty = request.node.get_closest_marker("empty_db") is not None
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}" if empty else request.getfixturevalue("sqlite_hub_db_url")
        return
    with _pg_database(None if empty else str(request.getfixturevalue("pg_template"))) as url:
        yield url


@pytest.fixture
def hub_factory(hub_db_url: str, broker: Mosquitto) -> Iterator[Callable[..., object]]:
    from hub.cases.routing import Router
    from hub.runtime import HubRuntime
    from hub.settings import HubSettings

    started: list[HubRuntime] = []
    test_routing = Router({"JB-001": "minzheng"})

    def make(router: Router | None = test_routing, **overrides: object) -> HubRuntime:
        """A started hub; ``router=None`` routes by the catalogue, as a deployed hub does."""
        # Opened in the hub's own process: an opening process per hub started is CPU the suite has not got;
        # the processes are tested where they are the point, and every `shegong hub run` of the suite has them.
        values: dict[str, object] = {
            "database_url": hub_db_url,
            "broker_port": broker.port,
            "keepalive_s": 5,
            "open_processes": 0,
        }
        values.update(overrides)
        rt = HubRuntime(HubSettings(**values), router=router)  # type: ignore[arg-type]
        rt.start()
        assert rt.worker.connected.wait(10), "hub did not connect to the broker"
        started.append(rt)
        return rt

    yield make
    for rt in started:
        rt.close()


@pytest.fixture
def edge_factory(tmp_path: Path, broker: Mosquitto, request: pytest.FixtureRequest) -> Iterator[Callable[..., object]]:
    """Terminals; in a test with a hub database, each is registered there to its committee, as provisioning
    does (``shegong hub terminal register``): the hub takes cases only from registered terminals."""
    from edge.runtime import EdgeRuntime
    from edge.settings import EdgeSettings

    made: list[EdgeRuntime] = []
    hub_db = str(request.getfixturevalue("hub_db_url")) if "hub_db_url" in request.fixturenames else None

    def make(
        terminal_id: str = "T1", port: int | None = None, clock: object = None, **overrides: object
    ) -> EdgeRuntime:
        values: dict[str, object] = {
            "terminal_id": terminal_id,
            "committee_code": "JW001",
            "data_dir": tmp_path / f"edge-{terminal_id}",
            "broker_port": port or broker.port,
            "keepalive_s": 4,
            "backoff_min_s": 0.1,
            "backoff_max_s": 1.0,
            "ack_timeout_s": 5.0,
            "heartbeat_s": 1.0,
        }
        values.update(overrides)
        kwargs = {"clock": clock} if clock else {}
        rt = EdgeRuntime(EdgeSettings(**values), **kwargs)  # type: ignore[arg-type]
        made.append(rt)
        if hub_db is not None:
            series = values.get("receipt_series")
            register_terminal(hub_db, terminal_id, str(values["committee_code"]), series)  # type: ignore[arg-type]
        return rt

    yield make
    for rt in made:
        rt.close()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def ime_index() -> Path:
    """The kiosk keyboard's pinyin index, built as a terminal builds it (a child process) once per machine and
    word lists: every test process of a run shares it (building takes seconds of both cores)."""
    from edge.kiosk.ime import PinyinIndex, start_build

    cache = Path(tempfile.gettempdir()) / "shegong-test-ime"
    cache.mkdir(exist_ok=True)
    path = cache / "ime.sqlite"
    with open(cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not PinyinIndex(path).is_current():
            assert start_build(path).wait() == 0
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium per test module (0.6 s to start). Playwright's sync API allows one instance at a
    time, and while it is up its event loop stays the thread's running loop: a test of Textual's pilot
    (anyio) run after it in the same process failed ("Cannot run the event loop while another loop is
    running"), as a test worker may do when it takes tests in another order."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def every_log_line() -> Iterator[io.StringIO]:
    """The root logger's output at DEBUG, formatted as a handler writes it (tracebacks included): what
    tests read for personal data that must never be logged."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)
