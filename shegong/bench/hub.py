"""``shegong bench hub --cases N``: the hub's whole ingest pipeline against bare inserts.

N cases from 20 simulated terminals are published as real ``case_batch`` messages (200 sealed cases
each) through a Mosquitto into a running hub (``shegong hub run``): opening, validation, routing, audit
chain, commit, ack. The clock stops when every batch is acked. In the same run the same case rows are inserted into
a fresh database of the same schema with SQLAlchemy Core ``executemany``, 200 rows a transaction: the
baseline. Then the centre's reports are built over the ingested cases. For SQLite and for PostgreSQL
(``SHEGONG_TEST_PG``, skipped with a reason when no server answers) it prints:

``hub-ingest db=sqlite|postgresql cases=N rate=… raw_insert=… ratio=… report_ms=…``
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import insert

from protocol import sealed, topics
from protocol.cases import Applicant, CaseBatch, CaseBatchBody, CaseStatus, CaseSubmission
from protocol.catalogue import load_seed
from protocol.envelope import utcnow
from protocol.idnumber import with_check_digit
from shegong.broker import Mosquitto

__all__ = ["main"]

BATCH = 200
TERMINALS = 20
PG_ADMIN = os.environ.get("SHEGONG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _batches(n: int, hub_public_key: str) -> list[tuple[str, bytes, list[CaseSubmission]]]:
    sealers = [sealed.Sealer(sealed.public_key(hub_public_key), timer=False) for _ in range(TERMINALS)]  # one each
    items = [i.code for i in load_seed().items]
    out = []
    now = utcnow()
    for start in range(0, n, BATCH):
        terminal = f"B{start // BATCH % TERMINALS:03d}"
        cases = []
        for i in range(start, min(n, start + BATCH)):
            body = f"310101{1930 + i % 70}0{1 + i % 9}1{i % 10}{i % 1000:03d}"
            cases.append(
                CaseSubmission(
                    case_id=uuid.uuid4(),
                    receipt_no=f"{terminal}-20261127-{i:06d}",
                    query_code="ABC234",
                    item_code=items[i % len(items)],
                    committee=terminal,
                    created_at=now - timedelta(minutes=i % 600),
                    applicant=Applicant(id_number=with_check_digit(body), name="测试居民"),
                )
            )
        sealer = sealers[start // BATCH % TERMINALS]
        msg = CaseBatch(terminal=terminal, body=CaseBatchBody(cases=[sealer.seal(c) for c in cases]))
        out.append((topics.up(terminal, topics.Up.CASES), msg.encode(), cases))
    return out


def _ingest(broker_port: int, batches: list[tuple[str, bytes, list[CaseSubmission]]]) -> float:
    acked = threading.Semaphore(0)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-terminals", protocol=MQTTProtocolVersion.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.on_message = lambda _c, _u, m: acked.release() if m.topic.endswith("/acks") else None
    client.connect("127.0.0.1", broker_port)
    client.subscribe("shegong/v1/t/+/down/acks", qos=1)
    client.loop_start()
    time.sleep(0.5)
    started = time.perf_counter()
    for topic, payload, _ in batches:
        client.publish(topic, payload, qos=1)
    for _ in batches:
        if not acked.acquire(timeout=600):
            raise RuntimeError("the hub stopped acking")
    seconds = time.perf_counter() - started
    client.loop_stop()
    client.disconnect()
    return seconds


def _raw_insert(url: str, batches: list[tuple[str, bytes, list[CaseSubmission]]]) -> float:
    from hub.cases.routing import Router
    from hub.db.engine import open_engine
    from hub.db.models import CaseRow, table

    router = Router({i.code: i.department for i in load_seed().items})
    engine = open_engine(url)
    now = utcnow()
    tables = []
    for _, _, cases in batches:
        tables.append(
            [
                {
                    "case_id": str(c.case_id),
                    "terminal_id": c.committee,
                    "committee": c.committee,
                    "receipt_no": c.receipt_no,
                    "query_code": c.query_code,
                    "item_code": c.item_code,
                    "department": router.department(c.item_code),
                    "status": CaseStatus.SUBMITTED.value,
                    "version": 1,
                    "id_number": c.applicant.id_number,
                    "applicant_name": c.applicant.name,
                    "created_at": c.created_at,
                    "sent_at": now,
                    "received_at": now,
                    "clock_skew_s": None,
                    "due_date": None,
                    "updated_at": now,
                    "payload": c.model_dump_json(),
                }
                for c in cases
            ]
        )
    started = time.perf_counter()
    for rows in tables:
        with engine.begin() as conn:
            conn.execute(insert(table(CaseRow)), rows)
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def _report_ms(url: str) -> float:
    from hub.db.engine import open_engine
    from hub.reports.service import Period, build_all

    engine = open_engine(url)
    today = utcnow().date()
    started = time.perf_counter()
    build_all(engine, Period(today - timedelta(days=30), today + timedelta(days=1)))
    ms = (time.perf_counter() - started) * 1000
    engine.dispose()
    return ms


@contextmanager
def _database(kind: str, folder: Path, name: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{name}.db'}"
        return
    import psycopg

    db = f"shegong_bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+psycopg://', 1)}/{db}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def run(kind: str, n: int, folder: Path) -> dict[str, float]:
    from hub import casekey
    from hub.db.engine import open_engine
    from hub.ingest import register

    keys = casekey.for_one_machine(folder)
    batches = _batches(n, keys["SHEGONG_HUB_PUBLIC_KEY"])
    broker = Mosquitto(folder / f"broker-{kind}", persistence=False).start()
    try:
        with _database(kind, folder, "hub") as url, _database(kind, folder, "raw") as raw_url:
            engine = open_engine(url)
            for t in range(TERMINALS):  # provisioned: each simulated terminal serves a committee of its name
                register.register(engine, f"B{t:03d}", f"B{t:03d}", "bench")
            engine.dispose()
            env = {
                **os.environ,
                "SHEGONG_LOG_LEVEL": "WARNING",
                "SHEGONG_HUB_CONFIG": str(folder / "none.toml"),
                "SHEGONG_HUB_DATABASE_URL": url,
                "SHEGONG_HUB_BROKER_PORT": str(broker.port),
                # The simulated terminals publish everything at once and never send again: no rate limit.
                "SHEGONG_HUB_TERMINAL_RATE_PER_S": "0",
                **keys,
            }
            hub = subprocess.Popen([sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"], env=env)
            try:
                time.sleep(3)
                seconds = _ingest(broker.port, batches)
            finally:
                hub.terminate()
                hub.wait(30)
            raw_seconds = _raw_insert(raw_url, batches)
            report_ms = _report_ms(url)
    finally:
        broker.stop()
    return {"rate": n / seconds, "raw_insert": n / raw_seconds, "report_ms": report_ms}


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="shegong bench hub", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--cases", type=int, default=20_000, help="cases to ingest")
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ns = p.parse_args(list(argv))
    logging.getLogger().setLevel(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="shegong-bench-hub-"))
    try:
        for kind in ["sqlite", "postgresql"] if ns.db == "both" else [ns.db]:
            if kind == "postgresql":
                try:
                    import psycopg

                    psycopg.connect(PG_ADMIN, connect_timeout=3).close()
                except Exception as exc:  # noqa: BLE001 - any failure: say why and go on
                    print(f"hub-ingest db=postgresql skipped: {exc}".splitlines()[0])
                    continue
            r = run(kind, ns.cases, folder)
            print(
                f"hub-ingest db={kind} cases={ns.cases} rate={r['rate']:.0f} raw_insert={r['raw_insert']:.0f} "
                f"ratio={r['rate'] / r['raw_insert']:.2f} report_ms={r['report_ms']:.0f}",
                flush=True,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0
