"""The hub survives a PostgreSQL restart in the middle of ingest, with nothing lost or stored twice.

The machine's own PostgreSQL serves every other test, so this one starts a private cluster (Debian's
``initdb``/``pg_ctl`` from /usr/lib/postgresql/*/bin, as the ``postgres`` user when run as root) on an
ephemeral port in a temporary folder. A running hub (``shegong hub run``) ingests what a terminal keeps
sending; the cluster is stopped the hard way (``pg_ctl stop -m immediate``: no goodbye to its clients,
crash recovery at the next start) and started again a few seconds later. Every case the terminal
accepted must then be at the hub exactly once, by id and content, the hub process still the same one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from edge.store.cases import NewCase
from harness.bench.identity import compare, fingerprint, hub_cases
from hub.db.engine import open_engine
from tests.support import applicant, register_terminal, wait_for

BINDIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own: initdb'd in a temporary folder, trust auth on loopback."""

    def __init__(self) -> None:
        self.bin = Path(BINDIRS[0])
        self.folder = Path(tempfile.mkdtemp(prefix="shegong-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = _free_port()
        self._as_root = os.geteuid() == 0  # initdb and postgres refuse to run as root
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.folder, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop_immediate(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    if not BINDIRS or not (Path(BINDIRS[0]) / "initdb").exists():
        pytest.skip("no initdb under /usr/lib/postgresql/*/bin: a private PostgreSQL cluster cannot be made here")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root with no postgres user: initdb refuses to run as root")
    pg = PrivatePostgres()
    pg.start()
    yield pg
    pg.close()


def test_the_hub_survives_a_postgresql_restart_mid_ingest_losing_nothing(
    private_pg: PrivatePostgres, broker: Any, edge_factory: Any, tmp_path: Path
) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{private_pg.port}/postgres", autocommit=True) as conn:
        conn.execute('CREATE DATABASE "shegong"')
    url = private_pg.url("shegong")
    engine = open_engine(url)  # the schema
    register_terminal(engine, "T1", "JW001")
    register_terminal(engine, "T2", "JW002")
    log = tmp_path / "hub.log"
    env = {
        **os.environ,
        "SHEGONG_HUB_DATABASE_URL": url,
        "SHEGONG_HUB_BROKER_PORT": str(broker.port),
        "SHEGONG_LOG_LEVEL": "INFO",
    }
    hub = subprocess.Popen(
        [sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    sending = threading.Event()
    try:
        wait_for(lambda: "listening" in log.read_text(errors="replace"), timeout=120, what="the hub listening")
        edges = [edge_factory("T1", committee_code="JW001"), edge_factory("T2", committee_code="JW002")]
        for e in edges:
            e.start_sync()
        sent: dict[str, str] = {}

        def send() -> None:  # the terminals keep taking cases, before, during and after the outage
            n = 0
            while sending.is_set():
                for k, e in enumerate(edges):
                    who = applicant(2 * n + k)
                    case = e.cases.submit(NewCase(item_code="MZ-001", applicant=who))
                    sent[str(case.case_id)] = fingerprint(case.receipt_no, case.query_code, "MZ-001", who.id_number)
                n += 1
                time.sleep(0.05)

        sending.set()
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        wait_for(lambda: _count(engine) >= 20, timeout=60, what="ingest under way")

        private_pg.stop_immediate()  # mid-ingest: connections cut, no shutdown checkpoint
        engine.dispose()
        time.sleep(4)  # the terminals go on sending; the hub can commit nothing
        assert hub.poll() is None, "the hub process died with its database"
        private_pg.start()
        time.sleep(3)
        sending.clear()
        sender.join(10)

        wait_for(lambda: all(e.outbox.stats().depth == 0 for e in edges), timeout=180, what="every case acked")
        assert hub.poll() is None, "the hub process did not survive"
        verdict = compare(sent, hub_cases(engine))
        assert verdict == {"lost": 0, "duplicated": 0, "mismatched": 0}, verdict
        assert len(sent) > 40
        with engine.connect() as conn:
            firsts = conn.execute(text("SELECT count(*) FROM case_events WHERE version = 1")).scalar_one()
        assert firsts == len(sent)
        said = log.read_text(errors="replace")
        assert "the database cannot be used" in said, said[-3000:]  # it waited, it did not set anything aside
        assert _count(engine, "SELECT count(*) FROM dead_letters") == 0
    finally:
        sending.clear()
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
            try:
                hub.wait(30)
            except subprocess.TimeoutExpired:
                hub.kill()
        engine.dispose()


def _count(engine: Any, sql: str = "SELECT count(*) FROM cases") -> int:
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    except Exception:  # noqa: BLE001 - the database may be down
        return -1
