"""``shegong bench hub --cases N [--workers W]``: the hub's whole ingest pipeline against bare inserts.

N cases from 20 simulated terminals are published as real ``case_batch`` messages (200 sealed cases
each, every case under its own ephemeral key unless ``--key-regime burst``) through a Mosquitto into
running hubs (``shegong hub run``): opening, validation, routing, audit chain, commit, ack. With
``--workers W`` above 1, W hub processes share one ``$share`` subscription (``share_group``) on the
same database, as a scaled-out hub runs; the clock starts once every one of them said it is online.
The clock stops when every batch is acked; then the hub's rows are compared with the cases sent by identity (case
id and content), so an ack without its row counts as lost. In the same run the same case rows are
inserted into a fresh database of the same schema with SQLAlchemy Core ``executemany``, 200 rows a
transaction: the baseline. Then the centre's reports are built over the ingested cases. For SQLite and
for PostgreSQL (``SHEGONG_TEST_PG``, skipped with a reason when no server answers) it prints:

``hub-ingest db=sqlite|postgresql workers=W cases=N key_regime=… rate=… raw_insert=… ratio=… lost=…
duplicated=… mismatched=… report_ms=…``
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import click
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import insert

from harness import postgres
from harness.bench.identity import compare, fingerprint, hub_cases
from harness.bench.sync import KEY_REGIMES
from harness.broker import Mosquitto
from protocol import sealed, topics
from protocol.cases import Applicant, CaseBatch, CaseBatchBody, CaseStatus, CaseSubmission
from protocol.catalogue import load_seed
from protocol.envelope import utcnow
from protocol.idnumber import with_check_digit
from protocol.state import HubState

__all__ = ["command", "database"]

BATCH = 200
TERMINALS = 20


def _batches(n: int, hub_public_key: str, key_regime: str) -> list[tuple[str, bytes, list[CaseSubmission]]]:
    key = sealed.public_key(hub_public_key)
    sealers = [sealed.Sealer(key, rotate_n=KEY_REGIMES[key_regime], timer=False) for _ in range(TERMINALS)]
    seed = load_seed()
    items = [i.code for i in seed.items]
    hashes = {i.code: i.content_hash() for i in seed.items}  # as a kiosk names the item it promised by
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
                    item_hash=hashes[items[i % len(items)]],
                )
            )
        sealer = sealers[start // BATCH % TERMINALS]
        msg = CaseBatch(terminal=terminal, body=CaseBatchBody(cases=[sealer.seal(c) for c in cases]))
        out.append((topics.up(terminal, topics.Up.CASES), msg.encode(), cases))
    return out


def _ingest(
    broker_port: int,
    batches: list[tuple[str, bytes, list[CaseSubmission]]],
    instances: set[str],
    launch: Callable[[], None],
) -> float:
    """Publish every batch once all hub ``instances`` (started by ``launch``) said they are online; the
    seconds until every batch is acked."""
    acked = threading.Semaphore(0)
    hub_online = threading.Event()
    online: set[str] = set()

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        if m.topic.endswith("/acks"):
            acked.release()
        elif m.topic == topics.hub_state() and m.payload:
            # Sent by each worker after the broker confirmed its subscription: what we publish now reaches it.
            state = HubState.model_validate_json(m.payload).body
            if state.online and state.instance:
                online.add(state.instance)
            if online >= instances:
                hub_online.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-terminals", protocol=MQTTProtocolVersion.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.on_message = on_message
    client.connect("127.0.0.1", broker_port)
    client.subscribe("shegong/v1/t/+/down/acks", qos=1)
    client.subscribe(topics.hub_state(), qos=1)
    client.loop_start()
    launch()  # after subscribing: every worker's online state is heard, not only the last one retained
    if not hub_online.wait(120):
        raise RuntimeError(f"the hubs did not all come online (heard {sorted(online)} of {sorted(instances)})")
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
def database(kind: str, folder: Path, name: str) -> Iterator[str]:
    """A fresh database for a run: a SQLite file in ``folder``, or a PostgreSQL database made on the
    server at ``SHEGONG_TEST_PG`` and dropped afterwards. Yields its URL."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{name}.db'}"
        return
    with postgres.database(f"shegong_bench_{name}") as url:
        yield url


def _sent(batches: list[tuple[str, bytes, list[CaseSubmission]]]) -> dict[str, str]:
    return {
        str(c.case_id): fingerprint(c.receipt_no, c.query_code, c.item_code, c.applicant.id_number)
        for _, _, cases in batches
        for c in cases
    }


def run(kind: str, n: int, folder: Path, key_regime: str = "per-case", workers: int = 1) -> dict[str, float]:
    from hub import casekey
    from hub.db.engine import open_engine
    from hub.ingest import register

    keys = casekey.for_one_machine(folder)
    batches = _batches(n, keys["SHEGONG_HUB_PUBLIC_KEY"], key_regime)
    broker = Mosquitto(folder / f"broker-{kind}", persistence=False).start()
    try:
        with database(kind, folder, "hub") as url, database(kind, folder, "raw") as raw_url:
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
            if workers > 1:
                env["SHEGONG_HUB_SHARE_GROUP"] = "bench"
            instances = {f"bench-{k}" for k in range(workers)}
            hubs: list[subprocess.Popen[bytes]] = []

            def launch() -> None:
                for name in sorted(instances):
                    hubs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"],
                            env={**env, "SHEGONG_HUB_INSTANCE": name},
                        )
                    )

            try:
                seconds = _ingest(broker.port, batches, instances, launch)
            finally:
                for hub in hubs:
                    hub.terminate()
                for hub in hubs:
                    hub.wait(30)
            engine = open_engine(url)  # what was stored, by identity: an ack is not a row
            verdict = compare(_sent(batches), hub_cases(engine))
            engine.dispose()
            raw_seconds = _raw_insert(raw_url, batches)
            report_ms = _report_ms(url)
    finally:
        broker.stop()
    return {"rate": n / seconds, "raw_insert": n / raw_seconds, "report_ms": report_ms, **verdict}


@click.command("hub", help=__doc__.split("\n\n")[0] if __doc__ else None)
@click.option("--cases", type=int, default=20_000, show_default=True, help="cases to ingest")
@click.option(
    "--db",
    type=click.Choice(["sqlite", "postgresql", "both"]),
    default="both",
    show_default=True,
    help="which database(s) to measure",
)
@click.option(
    "--key-regime",
    type=click.Choice(sorted(KEY_REGIMES)),
    default="per-case",
    show_default=True,
    help="per-case: one ephemeral key per case (the field); burst: up to 1,000 cases share one",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="hub ingest processes sharing one $share subscription and one database",
)
def command(cases: int, db: str, key_regime: str, workers: int) -> int:
    logging.getLogger().setLevel(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="shegong-bench-hub-"))
    failed = False
    try:
        for kind in ["sqlite", "postgresql"] if db == "both" else [db]:
            if kind == "postgresql" and (why := postgres.unavailable()):
                print(f"hub-ingest db=postgresql skipped: {why}")
                continue
            r = run(kind, cases, folder, key_regime, workers)
            print(
                f"hub-ingest db={kind} workers={workers} cases={cases} key_regime={key_regime} rate={r['rate']:.0f} "
                f"raw_insert={r['raw_insert']:.0f} ratio={r['rate'] / r['raw_insert']:.2f} lost={r['lost']:.0f} "
                f"duplicated={r['duplicated']:.0f} mismatched={r['mismatched']:.0f} report_ms={r['report_ms']:.0f}",
                flush=True,
            )
            failed = failed or bool(r["lost"] or r["duplicated"] or r["mismatched"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0
