"""``shegong bench nightly --terminals N``: N terminals reconcile with one hub in one night.

A running hub (``shegong hub run --no-web``, its own process, SQLite) holds each terminal's window —
``--days`` days of ``--cases-per-day`` cases — written straight into its database, but for ``--lost-pct``
of them: the hub lacks those, as after a restore of an older backup. Simulated terminals (one paho client speaking
the real protocol for all of them: digests on ``up/reconcile``, the items of the days that differ, the
lost cases sent again sealed on ``up/cases``) run their nights ``--parallel`` at a time; the clock stops
when every terminal is reconciled and every lost case acked. Meanwhile one daytime terminal submits a
case every 100 ms and times each ack, during the night and, before it, with the hub idle. It prints:

``nightly terminals=N seconds=… hub_cpu_pct=… repaired=… ingest_p95_ms_during=… ingest_p95_ms_idle=…``

``hub_cpu_pct`` is the hub process's CPU time over the night's wall time (100 = one core busy);
``repaired`` the lost cases back at the hub (the run fails when any is missing).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from harness.bench.procs import cpu_s
from harness.broker import Mosquitto
from protocol import sealed, topics
from protocol.cases import Ack, Applicant, CaseBatch, CaseBatchBody, CaseStatus, CaseSubmission
from protocol.catalogue import load_seed
from protocol.codec import decode
from protocol.envelope import utcnow
from protocol.idnumber import with_check_digit
from protocol.reconcile import (
    DayDigest,
    DayItems,
    ReconcileReply,
    ReconcileRequest,
    ReconcileRequestBody,
    case_line,
    day_digest,
    day_of,
)
from protocol.state import HubState

__all__ = ["command"]

ITEM = "MZ-001"
ITEM_HASH = load_seed().get(ITEM).content_hash()  # type: ignore[union-attr]
_NS = uuid.UUID("5e6f9a44-3c1d-4b8e-9a51-6c0d2e7f1b23")
_SUBMITTED = CaseStatus.SUBMITTED.value


@dataclass
class _Window:
    """What every simulated terminal's window shares: case ``i``'s time, day, receipt suffix and applicant
    (the same for every terminal, made once: 5.4 M cases at 6,000 terminals)."""

    days: int
    per_day: int
    now: datetime
    created: list[datetime] = field(default_factory=list)
    day: list[date] = field(default_factory=list)
    receipt: list[str] = field(default_factory=list)
    id_number: list[str] = field(default_factory=list)
    by_day: dict[date, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_day: dict[date, list[int]] = defaultdict(list)
        for i in range(self.days * self.per_day):
            day_back, n = divmod(i, self.per_day)
            created = self.now - timedelta(days=day_back, minutes=n + 1)
            self.created.append(created)
            self.day.append(day_of(created))
            self.receipt.append(f"{created:%Y%m%d}-{i:06d}")
            self.id_number.append(with_check_digit(f"310101{1940 + i % 60}0{1 + i % 9}1{i % 10}{i % 1000:03d}"))
            by_day[self.day[-1]].append(i)
        self.by_day = dict(by_day)


@dataclass
class _Terminal:
    """One simulated terminal's window: its cases (made again on demand from the terminal and a number) and
    its day digests (kept; the lines of a day are made again when the hub asks for them)."""

    tid: str
    window: _Window
    digests: list[tuple[date, int, str]] = field(default_factory=list)

    def case_id(self, i: int) -> uuid.UUID:
        return uuid.uuid5(_NS, f"{self.tid}-{i}")

    def case(self, i: int) -> CaseSubmission:
        w = self.window
        return CaseSubmission(
            case_id=self.case_id(i),
            receipt_no=f"{self.tid}-{w.receipt[i]}",
            query_code="ABC234",
            item_code=ITEM,
            committee=self.tid,
            created_at=w.created[i],
            applicant=Applicant(id_number=w.id_number[i], name="测试居民"),
            item_hash=ITEM_HASH,  # as a kiosk names the item it promised by
        )

    def count(self) -> int:
        return len(self.window.created)

    def lines(self, day: date) -> dict[str, int]:
        """The lines of ``day`` (line → case number)."""
        return {case_line(str(self.case_id(i)), 1): i for i in self.window.by_day.get(day, [])}


def _seed(url: str, terminals: list[_Terminal], lost_every: int, audit_key: Path) -> list[tuple[str, int]]:
    """Write every terminal's cases into the hub's database but every ``lost_every``-th one (the state a
    restore of an older backup leaves: the hub lacks them), and keep each terminal's day digests. In batches,
    with the cases' secondary indexes dropped meanwhile and built again after (sorting beats 5.4 M random
    inserts); not timed."""
    from sqlalchemy import insert, text

    from hub.audit.chain import bind_key_file
    from hub.db.engine import open_engine
    from hub.db.models import CaseRow, table
    from hub.ingest import register
    from kernel.db import make_engine

    engine = open_engine(url)  # the schema at head
    bind_key_file(engine, audit_key)  # the register's audit entries sealed, as `shegong hub terminal` does
    register.register_many(engine, {t.tid: t.tid for t in terminals}, "bench")
    engine.dispose()
    engine = make_engine(url, sqlite_pragmas={"synchronous": "off", "cache_size": -500_000})
    lost: list[tuple[str, int]] = []
    with engine.begin() as conn:
        ddl = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' AND sql IS NOT NULL")
        ).all()
        for name, _ in ddl:
            conn.execute(text(f'DROP INDEX "{name}"'))
    # Rows as the driver takes them (SQLAlchemy's own parameter processing was most of the seeding's time):
    # the timestamps bound once, through the column's type, as the hub stores them.
    columns = ["case_id", "terminal_id", "committee", "receipt_no", "query_code", "item_code", "department"]
    columns += ["status", "version", "id_number", "applicant_name", "created_at", "sent_at", "received_at"]
    columns += ["updated_at", "payload"]
    stmt = str(insert(CaseRow).compile(dialect=engine.dialect, column_keys=columns))
    as_stored = table(CaseRow).c.created_at.type.bind_processor(engine.dialect)
    assert as_stored is not None
    created = [as_stored(c) for c in terminals[0].window.created] if terminals else []
    updated = as_stored(utcnow())
    for k in range(0, len(terminals), 100):
        rows = []
        for t in terminals[k : k + 100]:
            w = t.window
            per_day: dict[date, list[str]] = defaultdict(list)
            for i in range(t.count()):
                case_id = str(t.case_id(i))
                per_day[w.day[i]].append(case_line(case_id, 1))
                if lost_every and i % lost_every == 0:
                    lost.append((t.tid, i))
                    continue
                at = created[i]
                rows.append(
                    (case_id, t.tid, t.tid, f"{t.tid}-{w.receipt[i]}", "ABC234", ITEM, "minzheng", _SUBMITTED, 1)
                    + (w.id_number[i], "测试居民", at, at, at, updated, "{}")
                )
            t.digests = [(d, len(lines), day_digest(lines)) for d, lines in sorted(per_day.items())]
        with engine.begin() as conn:
            conn.exec_driver_sql(stmt, rows)
    with engine.begin() as conn:
        for _, sql in ddl:
            conn.execute(text(sql))
    engine.dispose()
    return lost


class _Link:
    """One paho client for every simulated terminal: replies by correlation id, acks by message id."""

    def __init__(self, port: int, client_id: str, terminal: str = "+") -> None:
        self.replies: dict[uuid.UUID, ReconcileReply] = {}
        self.acked: set[uuid.UUID] = set()
        self.ack_times: dict[uuid.UUID, float] = {}
        self.cond = threading.Condition()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.on_message = self._on_message
        subscribed = threading.Event()
        c.on_subscribe = lambda *_: subscribed.set()
        c.connect("127.0.0.1", port)
        # The daytime terminal listens to its own channels only: decoding the night's replies would slow it.
        c.subscribe([(f"shegong/v1/t/{terminal}/down/reconcile", 1), (f"shegong/v1/t/{terminal}/down/acks", 1)])
        c.loop_start()
        self.client = c
        if not subscribed.wait(30):  # a reply published before the SUBACK would be lost to us
            raise RuntimeError("the broker did not confirm the subscription")

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            message = decode(bytes(msg.payload))
        except Exception:  # noqa: BLE001 - a reply we cannot read is one we wait for in vain: say so
            logging.getLogger(__name__).exception("unreadable message on %s", msg.topic)
            return
        with self.cond:
            if isinstance(message, ReconcileReply):
                self.replies[message.body.correlation_id] = message
            elif isinstance(message, Ack) and message.body.in_reply_to is not None:
                self.acked.add(message.body.in_reply_to)
                self.ack_times[message.body.in_reply_to] = time.perf_counter()
            self.cond.notify_all()

    def ask(self, tid: str, body: ReconcileRequestBody, timeout: float = 300) -> ReconcileReply:
        payload = ReconcileRequest(terminal=tid, body=body).encode()
        self.client.publish(topics.up(tid, topics.Up.RECONCILE), payload, qos=1)
        deadline = time.monotonic() + timeout
        with self.cond:
            while body.correlation_id not in self.replies:
                if not self.cond.wait(max(0.0, deadline - time.monotonic())):
                    raise RuntimeError(f"no reconciliation reply for {tid}")
            return self.replies.pop(body.correlation_id)

    def send_cases(self, tid: str, boxes: list[sealed.SealedCase]) -> uuid.UUID:
        batch = CaseBatch(terminal=tid, body=CaseBatchBody(cases=boxes))
        self.client.publish(topics.up(tid, topics.Up.CASES), batch.encode(), qos=1)
        return batch.id

    def wait_acked(self, ids: set[uuid.UUID], timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not ids <= self.acked:
                if not self.cond.wait(max(0.0, deadline - time.monotonic())):
                    raise RuntimeError(f"{len(ids - self.acked)} resent batch(es) never acked")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _night(link: _Link, t: _Terminal, sealer: sealed.Sealer) -> int:
    """One terminal's reconciliation: digests, then the items of the days that differ, then the resend."""
    digests = [DayDigest(day=d, count=n, digest=h) for d, n, h in t.digests]
    now = day_of(t.window.now)
    first = t.digests[0][0] if t.digests else now
    reply = link.ask(t.tid, ReconcileRequestBody(first_day=first, last_day=now, digests=digests))
    differ = reply.body.differ
    if not differ:
        return 0
    lines = {d: t.lines(d) for d in differ}
    items = [DayItems(day=d, items=list(lines[d])) for d in differ]
    details = link.ask(t.tid, ReconcileRequestBody(first_day=min(differ), last_day=max(differ), items=items))
    index = {t.case_id(i): i for day in lines.values() for i in day.values()}
    missing = [t.case(index[m]) for m in details.body.missing if m in index]
    batches = {
        link.send_cases(t.tid, [sealer.seal(c) for c in missing[k : k + 200]]) for k in range(0, len(missing), 200)
    }
    link.wait_acked(batches)
    return len(missing)


def _daytime(port: int, public_key: str, stop: Any, wake: Any, out: Any, ready: Any) -> None:
    """A terminal in daytime use: one case every 100 ms (and one at once when ``wake`` is set), each ack
    timed: (when it was sent, ms to its ack) put on ``out``; ``ready`` set once the first is acked. Run in a
    process of its own, as a real terminal is: in the bench's process its timings would include the GIL of
    the fifty simulated terminals' threads."""
    sealer = sealed.Sealer(sealed.public_key(public_key), timer=False)
    tid, i = "DAY0001", 0
    link = _Link(port, "bench-daytime", tid)
    try:
        while not stop.is_set():
            c = (
                _Terminal(tid, _Window(1, 1, utcnow()))
                .case(0)
                .model_copy(update={"case_id": uuid.uuid4(), "receipt_no": f"{tid}-{utcnow():%Y%m%d}-{100000 + i:06d}"})
            )
            started = time.perf_counter()
            mid = link.send_cases(tid, [sealer.seal(c)])
            link.wait_acked({mid}, timeout=60)
            out.put((started, (link.ack_times[mid] - started) * 1000))  # perf_counter: one clock machine-wide
            ready.set()
            i += 1
            if wake.wait(0.1):
                wake.clear()
    finally:
        link.close()


def _wait_hub_online(port: int, timeout: float = 60) -> None:
    """Until the hub says (retained) it listens: a message published before that would reach nobody."""
    online = threading.Event()

    def seen(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.payload and HubState.model_validate_json(msg.payload).body.online:
            online.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-watch", protocol=MQTTProtocolVersion.MQTTv5)
    c.on_message = seen
    c.connect("127.0.0.1", port)
    c.subscribe(topics.hub_state(), qos=1)
    c.loop_start()
    try:
        if not online.wait(timeout):
            raise RuntimeError("the hub did not come online")
    finally:
        c.loop_stop()
        c.disconnect()


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def run(
    n: int, days: int, per_day: int, lost_pct: float, parallel: int, idle_s: float, folder: Path
) -> dict[str, float]:
    from concurrent.futures import ThreadPoolExecutor

    from hub import casekey
    from hub.audit.chain import bind_key_file
    from hub.db.engine import open_engine
    from hub.ingest import register

    keys = casekey.for_one_machine(folder)
    sealer = sealed.Sealer(sealed.public_key(keys["SHEGONG_HUB_PUBLIC_KEY"]), timer=False)
    window = _Window(days, per_day, utcnow())
    terminals = [_Terminal(f"N{k:05d}", window) for k in range(n)]
    url = f"sqlite:///{folder / 'hub.db'}"
    lost_every = round(100 / lost_pct) if lost_pct > 0 else 0
    audit_key = Path(f"{keys['SHEGONG_HUB_CASE_KEY_FILE']}.audit")
    seeding = time.perf_counter()
    lost = _seed(url, terminals, lost_every, audit_key)
    print(
        f"seeded {n * window.days * window.per_day - len(lost)} cases of {n} terminals "
        f"in {time.perf_counter() - seeding:.0f} s (not timed)",
        file=sys.stderr,
        flush=True,
    )
    engine = open_engine(url)
    bind_key_file(engine, audit_key)
    register.register(engine, "DAY0001", "DAY0001", "bench")
    engine.dispose()
    broker = Mosquitto(folder / "broker", persistence=False).start()
    env = {
        **os.environ,
        "SHEGONG_LOG_LEVEL": os.environ.get("SHEGONG_BENCH_HUB_LOG", "WARNING"),
        "SHEGONG_HUB_CONFIG": str(folder / "none.toml"),
        "SHEGONG_HUB_DATABASE_URL": url,
        "SHEGONG_HUB_BROKER_PORT": str(broker.port),
        "SHEGONG_HUB_TERMINAL_RATE_PER_S": "0",
        **keys,
    }
    hub = subprocess.Popen([sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"], env=env)
    try:
        _wait_hub_online(broker.port)
        spawn = multiprocessing.get_context("spawn")
        stop, wake, out, ready = spawn.Event(), spawn.Event(), spawn.Queue(), spawn.Event()
        day = spawn.Process(target=_daytime, args=(broker.port, keys["SHEGONG_HUB_PUBLIC_KEY"], stop, wake, out, ready))
        day.start()
        # idle_s of daytime ingest, counted from its first ack: a spawned process takes a second or more to
        # start on a busy machine, and a short idle phase could otherwise time nothing at all.
        if not ready.wait(120):
            raise RuntimeError("the daytime terminal had no case acked within 120 s")
        time.sleep(idle_s)
        proc = psutil.Process(hub.pid)
        link = _Link(broker.port, "bench-night")
        cpu0 = cpu_s([proc])  # with its opening processes
        started = time.perf_counter()
        wake.set()  # a daytime case at the night's start, however short the night
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            repaired = sum(pool.map(lambda t: _night(link, t, sealer), terminals))
        ended = time.perf_counter()
        seconds = ended - started
        cpu = cpu_s([proc]) - cpu0
        stop.set()
        samples: list[tuple[float, float]] = []
        while day.is_alive() or not out.empty():
            try:
                samples.append(out.get(timeout=0.5))
            except queue.Empty:
                continue
        day.join(70)
        link.close()
        idle = [ms for at, ms in samples if at < started]
        during = [ms for at, ms in samples if started <= at <= ended]
    finally:
        hub.terminate()
        hub.wait(30)
        broker.stop()
    if repaired != len(lost):
        raise RuntimeError(f"{len(lost)} cases were lost at the hub, {repaired} came back")
    return {
        "seconds": seconds,
        "hub_cpu_pct": 100 * cpu / seconds if seconds else 0.0,
        "repaired": repaired,
        "during": _p95(during),
        "idle": _p95(idle),
    }


@click.command("nightly", help=__doc__.split("\n\n")[0] if __doc__ else None)
@click.option("--terminals", type=int, default=100, show_default=True, help="terminals reconciling (Shanghai: ~6000)")
@click.option("--days", type=int, default=30, show_default=True, help="days in each terminal's window")
@click.option("--cases-per-day", type=int, default=30, show_default=True, help="cases each terminal accepted a day")
@click.option(
    "--lost-pct", type=float, default=1.0, show_default=True, help="per cent of the cases deleted at the hub first"
)
@click.option("--parallel", type=int, default=50, show_default=True, help="terminals reconciling at the same moment")
@click.option(
    "--idle-s", type=float, default=5.0, show_default=True, help="seconds of daytime ingest timed before the night"
)
def command(terminals: int, days: int, cases_per_day: int, lost_pct: float, parallel: int, idle_s: float) -> int:
    logging.getLogger().setLevel(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="shegong-bench-night-"))
    try:
        r = run(terminals, days, cases_per_day, lost_pct, parallel, idle_s, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"nightly terminals={terminals} seconds={r['seconds']:.2f} hub_cpu_pct={r['hub_cpu_pct']:.0f} "
        f"repaired={r['repaired']:.0f} ingest_p95_ms_during={r['during']:.2f} ingest_p95_ms_idle={r['idle']:.2f}",
        flush=True,
    )
    return 0
