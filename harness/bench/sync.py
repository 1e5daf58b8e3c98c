"""``shegong bench sync --cases N [--rtt-ms R]``: how fast a terminal's queue drains after an outage.

N cases are queued at a terminal while there is no broker. Then a Mosquitto, a hub (``shegong hub run``,
SQLite) and the terminal's sync agent (``shegong edge run --no-kiosk``) start, the terminal behind a
link delayed by R ms round trip; the clock runs until every case is committed at the hub and acked at
the terminal. In the same run, through the same broker and the same delayed link, the baseline: plain
paho-mqtt publishing N messages of the same size at QoS 1 (``max_inflight`` 1000) to a plain subscriber.

Prints ``sync-drain cases=N rtt_ms=R lost=… duplicated=… seconds=… rate=… raw_qos1=… ratio=… edge_rss_mb=…``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import click
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from harness.broker import Mosquitto
from harness.linkproxy import LinkProxy
from protocol.idnumber import with_check_digit

__all__ = ["command", "queue_cases", "raw_qos1_rate"]


def _id_number(n: int) -> str:
    return with_check_digit(f"310101{1940 + n % 60}0101{n % 1000:03d}")


def queue_cases(data_dir: Path, n: int, hub_public_key: str, terminal: str = "BENCH1") -> int:
    """Accept ``n`` cases at a terminal whose broker is unreachable; return the mean payload size."""
    from edge.runtime import EdgeRuntime
    from edge.settings import EdgeSettings
    from edge.store.cases import NewCase
    from protocol.cases import Applicant

    settings = EdgeSettings(
        terminal_id=terminal,
        committee_code="JW001",
        data_dir=data_dir,
        outbox_limit=max(n + 1, 100_000),
        hub_public_key=hub_public_key,
    )
    with EdgeRuntime(settings) as rt:
        for i in range(n):
            idn = _id_number(i)
            rt.cases.submit(
                NewCase(
                    item_code="MZ-001",
                    applicant=Applicant(id_number=idn, name="测试居民"),
                    form={"电话": "13800000000"},
                )
            )
        with rt.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT avg(length(payload)) FROM outbox").scalar() or 0)


def raw_qos1_rate(broker_port: int, link_port: int, n: int, size: int) -> float:
    """Messages per second for plain paho QoS 1 publish → subscriber, over the given link."""
    got = threading.Event()
    count = [0]

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        count[0] += 1
        if count[0] >= n:
            got.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=MQTTProtocolVersion.MQTTv5)
    sub.on_message = on_message
    sub.connect("127.0.0.1", broker_port)
    sub.subscribe("bench/raw", qos=1)
    sub.loop_start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=MQTTProtocolVersion.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", link_port)
    pub.loop_start()
    time.sleep(0.5)
    payload = b"x" * size
    started = time.perf_counter()
    infos = [pub.publish("bench/raw", payload, qos=1) for _ in range(n)]
    got.wait(600)
    for info in infos:
        info.wait_for_publish(60)
    seconds = time.perf_counter() - started
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return n / seconds


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return -1


def run(cases: int, rtt_ms: float, workdir: Path) -> dict[str, float]:
    from hub import casekey
    from hub.db.engine import open_engine
    from hub.ingest import register

    edge_dir, hub_db = workdir / "edge", workdir / "hub.db"
    keys = casekey.for_one_machine(workdir)
    size = queue_cases(edge_dir, cases, keys["SHEGONG_HUB_PUBLIC_KEY"])
    broker = Mosquitto(workdir / "broker", persistence=False).start()
    link = LinkProxy(broker.port)
    env = {
        **os.environ,
        "SHEGONG_LOG_LEVEL": "WARNING",
        "SHEGONG_EDGE_CONFIG": str(workdir / "none.toml"),
        "SHEGONG_HUB_CONFIG": str(workdir / "none.toml"),
        "SHEGONG_HUB_DATABASE_URL": f"sqlite:///{hub_db}",
        "SHEGONG_HUB_BROKER_PORT": str(broker.port),
        "SHEGONG_TERMINAL_ID": "BENCH1",
        "SHEGONG_COMMITTEE_CODE": "JW001",
        "SHEGONG_DATA_DIR": str(edge_dir),
        "SHEGONG_BROKER_PORT": str(link.port),
        "SHEGONG_BACKOFF_MIN_S": "0.05",
        "SHEGONG_BACKOFF_MAX_S": "0.2",
        **keys,
    }
    engine = open_engine(f"sqlite:///{hub_db}")  # provisioned: the terminal is in the hub's register
    register.register(engine, "BENCH1", "JW001", "bench")
    engine.dispose()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"], env=env))
        link.cut()  # the VPN is down: the terminal runs, queued, retrying
        edge = subprocess.Popen([sys.executable, "-m", "shegong.cli", "edge", "run", "--no-kiosk"], env=env)
        procs.append(edge)
        while _count(hub_db, "SELECT count(*) FROM terminals") < 0:
            time.sleep(0.05)
        time.sleep(3)  # both processes up and settled
        link.restore()
        link.delay(rtt_ms / 2000)
        started = time.perf_counter()
        rss = 0.0
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            rss = max(rss, psutil.Process(edge.pid).memory_info().rss / 2**20)
            if _count(edge_dir / "edge.db", "SELECT count(*) FROM outbox") == 0:
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        at_hub = _count(hub_db, "SELECT count(DISTINCT receipt_no) FROM cases")
        rows = _count(hub_db, "SELECT count(*) FROM cases")
        link.delay(rtt_ms / 2000)
        raw = raw_qos1_rate(broker.port, link.port, cases, size)
    finally:
        for p in procs:
            p.terminate()
            p.wait(20)
        link.close()
        broker.stop()
    rate = cases / seconds
    return {
        "cases": cases,
        "rtt_ms": rtt_ms,
        "lost": cases - at_hub,
        "duplicated": rows - at_hub,
        "seconds": seconds,
        "rate": rate,
        "raw_qos1": raw,
        "ratio": rate / raw,
        "edge_rss_mb": rss,
    }


@click.command("sync", help=__doc__.split("\n\n")[0] if __doc__ else None)
@click.option("--cases", type=int, default=10_000, show_default=True, help="cases queued during the outage")
@click.option(
    "--rtt-ms", type=float, default=0.0, show_default=True, help="round-trip delay added to the terminal's link"
)
@click.option("--keep", is_flag=True, help="keep the working folder (databases, broker log)")
def command(cases: int, rtt_ms: float, keep: bool) -> int:
    logging.getLogger().setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="shegong-bench-sync-"))
    r = run(cases, rtt_ms, workdir)
    print(
        f"sync-drain cases={r['cases']} rtt_ms={r['rtt_ms']:g} lost={r['lost']} duplicated={r['duplicated']} "
        f"seconds={r['seconds']:.2f} rate={r['rate']:.0f} raw_qos1={r['raw_qos1']:.0f} ratio={r['ratio']:.2f} "
        f"edge_rss_mb={r['edge_rss_mb']:.0f}"
    )
    if not keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if r["lost"] == 0 and r["duplicated"] == 0 else 1
