"""``shegong bench fleet --terminals N``: one hub watching N terminals, and a catalogue change rolled out.

A Mosquitto and a hub start: ``--workers`` processes of ``shegong hub run --no-web`` on one ``$share``
subscription and one database (``--db``: SQLite, or PostgreSQL in a database made for the run and
dropped after it); N simulated terminals connect from a few worker processes. Each is a paho client in
a selector loop speaking the real protocol: its death as the Will, a retained birth, a heartbeat every
``--heartbeat`` seconds (QoS 0), now and then a case (QoS 1, acked by the hub after commit), and the
catalogue exchange (announcement → request → reply → report). A heartbeat's ``uptime_s`` is its send
time since the run's epoch, so the bench can tell how old the data on the dashboard is.

- ``staleness_s``: the worst age, over the steady phase, of the newest heartbeat the dashboard shows for
  any terminal (read every 0.25 s from the ``terminals`` table the view is built from). Target: at most
  two heartbeat intervals. The steady phase starts once the hub has worked off the mass connect (every
  terminal born, on the hub's catalogue, and its newest heartbeat on the dashboard younger than an
  interval and 2 s): ``settle_s`` is how long that took after the last simulator was connected (at
  least an interval and 2 s: every terminal beats once before it is looked at). ``born_s``, within it, is
  how long until every terminal's birth and catalogue version were committed: the mass connect worked off.
  ``lag_s`` is the worst delay from sending a heartbeat to seeing it there; ``view_ms`` the longest build
  of the dashboard's view (``hub.fleet.view.terminals``), done every 5 s.
- ``hub_cpu_pct``: the CPU of every hub process together over the steady phase, in % of one core.
  Target: ≤ 50 at 1,000; ≤ 80 beyond (a city's 6,000). ``broker_cpu_pct`` and ``sim_cpu_pct`` are the
  broker's and the simulators' over the same phase: the load the hub was measured under, on one machine.
  ``hub_wait_pct``: the time the hub's threads were ready to run but waited for a core, in % of the
  phase (Linux ``schedstat``): well above 0, the machine was too busy to give the hub what it asked for,
  and staleness and rollout say more about the machine than about the hub.
- ``rollout_s``: from the hub's announcement of a one-item catalogue change (published in the database as
  ``shegong hub catalogue publish`` does; the hub's leader announces it at its next check, within
  ``[fleet] evaluate_every_s``) until every terminal's report is committed at the hub. Target: ≤ 5 s at
  1,000; ≤ 30 s beyond.

The simulated terminals are real MQTT connections, one each, shared out over ``--procs`` processes, each
a single selector loop: 6,000 terminals are 6,000 connections to the broker (the machine's file limit
must allow them).

Cases are counted by identity: the ids and contents the simulators sent against the hub's rows
(``lost``, ``duplicated``, ``mismatched``), with the simulators' own errors (``sim_errors``: a catalogue
reply that did not match its announcement). At the end each simulated terminal waits (up to
:data:`ACK_WAIT_S`) for the hub's acks of its last cases, as a terminal keeps a case until an ack names it.

Prints ``fleet terminals=N hub_cpu_pct=… staleness_s=… rollout_s=… lag_s=… view_ms=… … lost=…
duplicated=… mismatched=… sim_errors=… alerts=… hub_wait_pct=… broker_cpu_pct=… sim_cpu_pct=… db=… workers=…
settle_s=… born_s=…``.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import multiprocessing as mp
import os
import random
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from harness import postgres
from harness.bench.hub import database
from harness.bench.identity import compare, fingerprint, hub_cases
from harness.bench.procs import cpu_s, family
from harness.broker import Mosquitto
from protocol.idnumber import with_check_digit

if TYPE_CHECKING:  # paho declares it for type checkers only
    from paho.mqtt.client import SocketLike

__all__ = ["command", "run"]

log = logging.getLogger("shegong.bench.fleet")
ACK_WAIT_S = 30.0  # at the end, how long the simulated terminals wait for the hub's acks of their last cases


# --------------------------------------------------------------------------- simulated terminals
def committee_of(terminal: str) -> str:
    """The committee a simulated terminal serves: one of its own, named after it."""
    return terminal[-8:].replace("-", "")


class _Sim:
    """One terminal: state and the messages it sends. Driven by :func:`_sim_worker`'s loop."""

    def __init__(self, terminal: str, port: int, epoch: float, sel: selectors.BaseSelector, shared: dict[str, Any]):
        from protocol import topics
        from protocol.state import Death, DeathBody

        self.terminal = terminal
        self.epoch = epoch
        self.shared = shared
        self.version = 1  # the shipped seed, which a fresh hub publishes as version 1
        self.have: dict[str, str] = dict(shared["seed_items"])
        self.have_hash = shared["seed_hash"]
        self.desired: Any = None
        self.pending: set[uuid.UUID] = set()
        self.manifest: Any = None
        self.cases = 0
        self.unacked: set[str] = set()  # by id: a message paho sends again after a reconnect is acked twice
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=terminal, protocol=MQTTProtocolVersion.MQTTv5)
        c.max_queued_messages_set(0)
        death = Death(terminal=terminal, body=DeathBody(bd_seq=1))
        c.will_set(topics.state(terminal), death.encode(), qos=1, retain=True)

        def opened(_c: mqtt.Client, _u: Any, sock: SocketLike) -> None:
            sel.register(sock, selectors.EVENT_READ, self)

        def closed(_c: mqtt.Client, _u: Any, sock: SocketLike) -> None:
            sel.unregister(sock)

        def writing(_c: mqtt.Client, _u: Any, sock: SocketLike) -> None:
            sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, self)

        def written(_c: mqtt.Client, _u: Any, sock: SocketLike) -> None:
            sel.modify(sock, selectors.EVENT_READ, self)

        c.on_socket_open, c.on_socket_close = opened, closed
        c.on_socket_register_write, c.on_socket_unregister_write = writing, written
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        self.client = c
        self.port = port
        self.online = False

    def connect(self) -> None:
        self.client.connect("127.0.0.1", self.port, keepalive=60)

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        from protocol import topics
        from protocol.state import Birth, BirthBody

        if reason.is_failure:
            return
        self.online = True
        client.subscribe([(topics.down(self.terminal, topics.Down.ACKS), 1)])
        client.subscribe([(topics.down(self.terminal, topics.Down.CATALOGUE), 1), (topics.catalogue(), 1)])
        birth = Birth(terminal=self.terminal, body=BirthBody(bd_seq=1, catalogue_version=self.version))
        client.publish(topics.state(self.terminal), birth.encode(), qos=1, retain=True)

    # ---------------------------------------------------------------- sending
    def heartbeat(self) -> None:
        from protocol import topics
        from protocol.health import Heartbeat, HeartbeatBody

        body = HeartbeatBody(
            bd_seq=1,
            uptime_s=time.time() - self.epoch,  # the send time, read back by the bench from the dashboard
            outbox_depth=len(self.unacked),
            disk_free_mb=8000.0,
            app_version="bench",
            catalogue_version=self.version,
            reader="ok",
            printer="ok",
        )
        hb = Heartbeat(terminal=self.terminal, body=body)
        self.client.publish(topics.up(self.terminal, topics.Up.HEALTH), hb.encode(), qos=0)

    def case(self) -> None:
        from protocol import topics
        from protocol.cases import Applicant, CaseBatch, CaseBatchBody, CaseSubmission

        self.cases += 1
        n = random.randrange(20_160_000)  # many residents: birth dates over 60 years, sequence numbers vary
        body = f"310101{1940 + n % 60}{1 + n // 60 % 12:02d}{1 + n // 720 % 28:02d}{n // 20160 % 1000:03d}"
        committee = committee_of(self.terminal)
        case = CaseSubmission(
            case_id=uuid.uuid4(),
            receipt_no=f"{committee}-{datetime.now(UTC):%Y%m%d}-{self.cases:04d}",
            query_code="ABC123",
            item_code="MZ-001",
            committee=committee,
            created_at=datetime.now(UTC),
            applicant=Applicant(id_number=with_check_digit(body), name="测试居民"),
            item_hash=self.shared["item_hash"],  # as a kiosk names the item it promised by
        )
        sealed_case = self.shared["sealer"].seal(case)
        self.unacked.add(str(case.case_id))
        self.shared["sent"][str(case.case_id)] = fingerprint(
            case.receipt_no, case.query_code, case.item_code, case.applicant.id_number
        )
        batch = CaseBatch(terminal=self.terminal, body=CaseBatchBody(cases=[sealed_case]))
        self.client.publish(topics.up(self.terminal, topics.Up.CASES), batch.encode(), qos=1)

    def _send(self, message: Any) -> None:
        from protocol import topics

        self.client.publish(topics.up(self.terminal, topics.Up.CATALOGUE), message.encode(), qos=1)

    def _request(self, fetch: list[str] | None) -> None:
        from protocol.catalogue_sync import CatalogueRequest, CatalogueRequestBody

        body = CatalogueRequestBody(
            version=self.desired.version, have_version=self.version, have_hash=self.have_hash, fetch=fetch
        )
        self.pending.add(body.correlation_id)
        self._send(CatalogueRequest(terminal=self.terminal, body=body))

    # ---------------------------------------------------------------- receiving
    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        from protocol.catalogue_sync import (
            CatalogueAnnouncement,
            CatalogueReply,
            CatalogueReport,
            CatalogueReportBody,
            manifest_hash,
        )

        if msg.topic.endswith("/down/acks"):
            self.unacked.difference_update(json.loads(msg.payload)["body"]["acked"])
            return
        if msg.topic == "shegong/v1/catalogue":
            a = CatalogueAnnouncement.model_validate_json(msg.payload).body
            if a.version > self.version and (self.desired is None or a.version > self.desired.version):
                self.desired, self.manifest = a, None
                self._request(None)
            return
        reply = CatalogueReply.model_validate_json(msg.payload).body
        if reply.correlation_id not in self.pending or self.desired is None or reply.version != self.desired.version:
            return
        if self.manifest is None:
            if reply.manifest is None or manifest_hash(reply.manifest) != self.desired.manifest_hash:
                self.shared["errors"] += 1
                return
            self.manifest = reply.manifest
        have = dict(self.have)
        for item in reply.items:
            if self.manifest.items.get(item.code) == item.content_hash():
                have[item.code] = self.manifest.items[item.code]
        missing = [code for code, h in self.manifest.items.items() if have.get(code) != h]
        self.have = have
        if missing:
            self._request(missing)
            return
        self.have = dict(self.manifest.items)
        self.version, self.have_hash = self.desired.version, self.desired.content_hash
        self.pending.clear()
        report = CatalogueReportBody(
            correlation_id=reply.correlation_id,
            version=self.version,
            content_hash=self.have_hash,
            applied_at=datetime.now(UTC),
        )
        self._send(CatalogueReport(terminal=self.terminal, body=report))


def _sim_worker(
    ids: list[str],
    port: int,
    epoch: float,
    heartbeat_s: float,
    case_every_s: float,
    hub_public_key: str,
    stop: Any,
    ready: Any,
    results: Any,
) -> None:
    """A process running ``ids`` as terminals in one selector loop until ``stop`` is set."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(5)  # the terminals stand for other machines: on a small box the hub comes first
    from protocol import sealed
    from protocol.catalogue import load_seed

    seed = load_seed()
    shared: dict[str, Any] = {
        "seed_items": seed.manifest().items,
        "seed_hash": seed.content_hash(),
        "item_hash": seed.manifest().items["MZ-001"],
        "errors": 0,
        "sent": {},
        # Cases minutes apart, as in the field: each under its own ephemeral key. A simulation: no wipe timers.
        "sealer": sealed.Sealer(sealed.public_key(hub_public_key), rotate_n=1, timer=False),
    }
    sel = selectors.DefaultSelector()
    sims = [_Sim(t, port, epoch, sel, shared) for t in ids]
    for n, sim in enumerate(sims):
        sim.connect()
        if n % 50 == 49:  # let the broker breathe while a thousand terminals say hello
            _pump(sel, 0.01)
    ready.put(len(sims))
    due: list[tuple[float, int, str]] = []
    now = time.monotonic()
    for n, _sim in enumerate(sims):
        heapq.heappush(due, (now + random.uniform(0, heartbeat_s), n, "beat"))
        if case_every_s > 0:
            heapq.heappush(due, (now + random.expovariate(1 / case_every_s), n, "case"))
    next_misc = now + 1.0
    while not stop.is_set():
        now = time.monotonic()
        while due and due[0][0] <= now:
            at, n, what = heapq.heappop(due)
            sim = sims[n]
            if what == "beat":
                sim.heartbeat()
                heapq.heappush(due, (at + heartbeat_s, n, what))
            else:
                sim.case()
                heapq.heappush(due, (at + random.expovariate(1 / case_every_s), n, what))
        if now >= next_misc:
            for sim in sims:
                sim.client.loop_misc()
            next_misc = now + 1.0
        _pump(sel, max(0.0, min(0.05, (due[0][0] - time.monotonic()) if due else 0.05)))
    # What was published goes out and the hub's acks come back before the goodbye (a terminal keeps a case
    # until an ack names it): a case not acked by then, and not stored, is counted lost.
    deadline = time.monotonic() + ACK_WAIT_S
    while any(sim.unacked for sim in sims) and time.monotonic() < deadline:
        _pump(sel, 0.1)
    for sim in sims:
        sim.client.disconnect()
    _pump(sel, 0.2)
    results.put({"sent": shared["sent"], "errors": shared["errors"]})


def _pump(sel: selectors.BaseSelector, timeout: float) -> None:
    for key, mask in sel.select(timeout):
        sim: _Sim = key.data
        if mask & selectors.EVENT_READ:
            sim.client.loop_read()
        if mask & selectors.EVENT_WRITE and sim.client.socket() is not None:
            sim.client.loop_write()


# --------------------------------------------------------------------------- the run
class _Watcher:
    """Reads the hub's database as the dashboard does (read-only: never takes its write lock)."""

    def __init__(self, url: str, epoch: float, heartbeat_s: float) -> None:
        from sqlalchemy import create_engine, make_url

        from hub.catalogue.store import CatalogueStore
        from hub.settings import FleetSettings

        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            url, args = f"sqlite:///file:{parsed.database}?mode=ro&uri=true", {"timeout": 30}
        else:
            args = {}
        self.engine = create_engine(url, connect_args=args)
        # Where a heartbeat's send time is read in the health document the dashboard shows.
        self.uptime = (
            "json_extract(health, '$.uptime_s')"
            if parsed.get_backend_name() == "sqlite"
            else "CAST(CAST(health AS json) ->> 'uptime_s' AS float)"
        )
        self.store = CatalogueStore(self.engine)
        self.settings = FleetSettings(heartbeat_s=heartbeat_s)
        self.epoch = epoch
        self.seen: dict[str, float] = {}
        self.lag = 0.0
        self.staleness = 0.0
        self.view_ms = 0.0

    def views(self) -> list[Any]:
        """The dashboard's view of every terminal, timed."""
        from hub.fleet import view
        from hub.fleet.assess import Desired

        latest = self.store.latest()
        desired = Desired(latest.version, latest.published_at) if latest and latest.published_at else None
        started = time.perf_counter()
        with self.engine.connect() as conn:
            views = view.terminals(conn, self.settings, datetime.now(UTC), desired)
        self.view_ms = max(self.view_ms, (time.perf_counter() - started) * 1000)
        return views

    def poll(self) -> float:
        """How old the newest heartbeat the dashboard shows is, for each terminal (its ``uptime_s`` is its
        send time): read from the ``terminals`` table the view is built from, without building it. Returns
        the worst age now."""
        from sqlalchemy import text

        with self.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT terminal_id, {self.uptime} FROM terminals")).all()
        now, worst = time.time(), 0.0
        for terminal, uptime in rows:
            if uptime is None:
                continue
            sent = self.epoch + uptime
            worst = max(worst, now - sent)
            if self.seen.get(terminal) != uptime:
                if terminal in self.seen:
                    self.lag = max(self.lag, now - sent)
                self.seen[terminal] = uptime
        self.staleness = max(self.staleness, worst)
        return worst

    def count(self, sql: str) -> int:
        """A count, or -1 while the hub has not made its tables yet."""
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            with self.engine.connect() as conn:
                return int(conn.execute(text(sql)).scalar() or 0)
        except DBAPIError:
            return -1


class _Announcements:
    """Watches the retained catalogue topic from before the publish, so it sees the hub's announcement when
    the broker hands it out (the terminals get it at the same moment)."""

    def __init__(self, port: int) -> None:
        import threading

        self.heard: list[tuple[int, float]] = []  # (version, monotonic time) of each announcement
        subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-announcement", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        from protocol import topics

        self.client.subscribe(topics.catalogue(), qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("bench fleet: no SUBACK for the catalogue topic")

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        from protocol.catalogue_sync import CatalogueAnnouncement

        self.heard.append((CatalogueAnnouncement.model_validate_json(msg.payload).body.version, time.monotonic()))

    def wait(self, version: int, timeout: float) -> float:
        """When (monotonic) the announcement of ``version`` arrived."""
        try:
            _wait(f"the hub announcing catalogue v{version}", lambda: any(v >= version for v, _ in self.heard), timeout)
            return next(at for v, at in self.heard if v >= version)
        finally:
            self.client.loop_stop()
            self.client.disconnect()


def targets(terminals: int) -> tuple[float, float]:
    """(rollout seconds, hub CPU % of one core) a run of ``terminals`` must stay within."""
    return (5.0, 50.0) if terminals <= 1000 else (30.0, 80.0)


CURRENT_MARGIN_S = 2.0  # a dashboard is current when no terminal's newest heartbeat is older than this past an interval


def _wait(what: str, predicate: Any, timeout: float, required: bool = True) -> bool:
    """Whether ``predicate`` came true within ``timeout``; past it, an error when ``required`` (the run cannot
    go on), else False (the run goes on and says what was not reached)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    if required:
        raise RuntimeError(f"bench fleet: timed out waiting for {what}")
    log.warning("bench fleet: timed out waiting for %s", what)
    return False


def run(
    terminals: int,
    workdir: Path,
    heartbeat_s: float = 10.0,
    steady_s: float = 40.0,
    case_every_s: float = 120.0,
    procs: int = 2,
    db: str = "sqlite",
    workers: int = 1,
) -> dict[str, float]:
    """One run; ``db``: sqlite or postgresql (a database made for the run and dropped after it);
    ``workers``: hub processes on one ``$share`` subscription and the one database."""
    with database(db, workdir, "fleet") as url:
        return _run(terminals, workdir, url, heartbeat_s, steady_s, case_every_s, procs, workers)


def _run(
    terminals: int,
    workdir: Path,
    url: str,
    heartbeat_s: float,
    steady_s: float,
    case_every_s: float,
    procs: int,
    workers: int,
) -> dict[str, float]:
    from hub import casekey
    from hub.catalogue.store import CatalogueStore
    from hub.db.engine import open_engine
    from hub.ingest import register

    keys = casekey.for_one_machine(workdir)
    broker = Mosquitto(workdir / "broker", persistence=False).start()
    open_engine(url).dispose()  # the schema made once, before the hubs start (not raced by several)
    env = {
        **os.environ,
        "SHEGONG_LOG_LEVEL": "WARNING",
        "SHEGONG_HUB_CONFIG": str(workdir / "none.toml"),
        "SHEGONG_HUB_DATABASE_URL": url,
        "SHEGONG_HUB_BROKER_PORT": str(broker.port),
        "SHEGONG_HUB_FLEET_HEARTBEAT_S": str(heartbeat_s),
        **keys,
    }
    if workers > 1:
        env["SHEGONG_HUB_SHARE_GROUP"] = "bench"
    hubs: list[subprocess.Popen[bytes]] = []
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    ready: Any = ctx.Queue()
    results: Any = ctx.Queue()
    sent: dict[str, str] = {}
    sim_errors = 0
    sims: list[Any] = []
    epoch = time.time()
    watcher = _Watcher(url, epoch, heartbeat_s)
    try:
        for k in range(workers):
            hubs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"],
                    env={**env, "SHEGONG_HUB_INSTANCE": f"bench-{k}"},
                )
            )
        _wait("the hub", lambda: watcher.count("SELECT count(*) FROM catalogue_versions") > 0, 60)
        ids = [f"T{n:05d}" for n in range(terminals)]
        reg_engine = open_engine(url, upgrade=False)  # provisioned: each terminal serves a committee of its own
        register.register_many(reg_engine, {t: committee_of(t) for t in ids}, "bench")
        reg_engine.dispose()
        for k in range(procs):
            w = ctx.Process(
                target=_sim_worker,
                args=(
                    ids[k::procs],
                    broker.port,
                    epoch,
                    heartbeat_s,
                    case_every_s,
                    keys["SHEGONG_HUB_PUBLIC_KEY"],
                    stop,
                    ready,
                    results,
                ),
                daemon=True,
            )
            w.start()
            sims.append(w)
        for _ in sims:
            ready.get(timeout=120 + terminals / 50)
        started_all = time.monotonic()
        _wait(
            "every terminal born and on the hub's catalogue",
            lambda: watcher.count("SELECT count(*) FROM fleet_terminals WHERE catalogue_version >= 1") >= terminals,
            120 + terminals / 50,
        )
        born = time.monotonic() - started_all
        settle = max(0.0, heartbeat_s + 2 - (time.monotonic() - started_all))
        time.sleep(settle)  # every terminal has beaten once
        # The steady phase starts once the hub has worked off the mass connect (6,000 births and catalogue
        # exchanges at once): every terminal's newest heartbeat on the dashboard younger than an interval and
        # a margin. How long that took is printed apart (settle_s): a start-up, not the steady state.
        caught_up = _wait(
            "the dashboard current after the mass connect",
            lambda: watcher.poll() <= heartbeat_s + CURRENT_MARGIN_S,
            120 + terminals / 50,
            required=False,
        )
        settled = time.monotonic() - started_all if caught_up else math.inf
        watcher.poll()
        watcher.staleness = watcher.lag = 0.0

        hub_ps = [psutil.Process(h.pid) for h in hubs]
        others = {
            "broker": [psutil.Process(broker.proc.pid)] if broker.proc else [],
            "sim": [psutil.Process(w.pid) for w in sims],
        }
        cpu0, others0, t0 = _cpu(hub_ps), {k: _cpu(v) for k, v in others.items()}, time.monotonic()
        waited0 = _waited(hub_ps)
        next_view = t0
        while time.monotonic() - t0 < steady_s:
            watcher.poll()
            if time.monotonic() >= next_view:  # an operator reloading the dashboard every 5 s
                watcher.views()
                next_view += 5.0
            time.sleep(0.25)
        cpu1, t1 = _cpu(hub_ps), time.monotonic()
        hub_cpu = 100 * (cpu1 - cpu0) / (t1 - t0)
        hub_waited = 100 * (_waited(hub_ps) - waited0) / (t1 - t0)
        other_cpu = {k: 100 * (_cpu(v) - others0[k]) / (t1 - t0) for k, v in others.items()}

        engine = open_engine(url, upgrade=False)
        try:
            store = CatalogueStore(engine)
            store.start_draft("bench")
            draft = store.draft()
            assert draft is not None
            item = draft.items[7]
            store.update_item(item.code, {"description": item.description[:400] + "（基准测试修改）"}, "bench")
            announcements = _Announcements(broker.port)
            info = store.publish("bench", "一项修改")  # as `hub catalogue publish`: the hub's leader announces it
        finally:
            engine.dispose()
        version = info.version
        announced = announcements.wait(version, 60)
        rolled_out = _wait(
            f"every terminal reporting catalogue v{version}",
            lambda: (
                watcher.count(f"SELECT count(*) FROM fleet_terminals WHERE catalogue_version >= {version}") >= terminals
            ),
            120 + terminals / 50,
            required=False,
        )
        rollout = time.monotonic() - announced if rolled_out else math.inf  # printed as inf: not finished
        rollout_cpu = 100 * (_cpu(hub_ps) - cpu1) / (time.monotonic() - t1)
        alerts = watcher.count("SELECT count(*) FROM fleet_alerts WHERE cleared_at IS NULL")
        online = sum(v.state.value == "online" for v in watcher.views())
        stop.set()
        for _ in sims:
            r = results.get(timeout=60)
            sent.update(r["sent"])
            sim_errors += r["errors"]
        _wait(  # a case not stored by then is counted as lost
            "every case sent stored",
            lambda: watcher.count("SELECT count(*) FROM cases") >= len(sent),
            30 + terminals / 50,
            required=False,
        )
        verdict = compare(sent, hub_cases(watcher.engine))
    finally:
        stop.set()
        for w in sims:
            w.join(10)
            if w.is_alive():
                w.terminate()
        for h in hubs:
            h.terminate()
        for h in hubs:
            try:
                h.wait(30)
            except subprocess.TimeoutExpired:  # a hub far behind may not finish its queue: the broker still stops
                h.kill()
                h.wait(10)
        watcher.engine.dispose()  # before the database is dropped
        broker.stop()
    return {
        "terminals": terminals,
        "hub_cpu_pct": hub_cpu,
        "staleness_s": watcher.staleness,
        "rollout_s": rollout,
        "lag_s": watcher.lag,
        "view_ms": watcher.view_ms,
        "rollout_cpu_pct": rollout_cpu,
        "online": online,
        "cases": len(sent),
        **verdict,
        "sim_errors": sim_errors,
        "alerts": alerts,
        "hub_wait_pct": hub_waited,
        "broker_cpu_pct": other_cpu["broker"],
        "sim_cpu_pct": other_cpu["sim"],
        "heartbeat_s": heartbeat_s,
        "settle_s": settled,
        "born_s": born,
    }


def _cpu(processes: list[psutil.Process]) -> float:
    """Seconds of CPU (user and system) the processes and their children used so far, together."""
    return cpu_s(processes)


def _waited(processes: list[psutil.Process]) -> float:
    """Seconds the processes' threads were ready to run but waited for a core (Linux ``schedstat``), together:
    how much more CPU they wanted than a busy machine gave them. 0 where the kernel does not say."""
    total = 0
    for p in family(processes):
        for task in Path(f"/proc/{p.pid}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[1])
            except (OSError, IndexError, ValueError):  # a thread that ended meanwhile
                continue
    return total / 1e9


@click.command("fleet", help=__doc__.split("\n\n")[0] if __doc__ else None)
@click.option("--terminals", type=int, default=1000, show_default=True, help="simulated terminals")
@click.option(
    "--heartbeat", type=float, default=10.0, show_default=True, help="heartbeat interval of each terminal, seconds"
)
@click.option("--steady", type=float, default=40.0, show_default=True, help="seconds of steady heartbeats measured")
@click.option(
    "--case-every", type=float, default=120.0, show_default=True, help="mean seconds between cases per terminal"
)
@click.option("--procs", type=int, default=2, show_default=True, help="worker processes running the terminals")
@click.option(
    "--db", type=click.Choice(["sqlite", "postgresql"]), default="sqlite", show_default=True, help="the hub's database"
)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="hub processes sharing one $share subscription and one database",
)
@click.option("--keep", is_flag=True, help="keep the working folder (database, broker log)")
def command(
    terminals: int, heartbeat: float, steady: float, case_every: float, procs: int, db: str, workers: int, keep: bool
) -> int:
    logging.getLogger().setLevel(logging.WARNING)
    if db == "postgresql" and (why := postgres.unavailable()):
        print(f"fleet db=postgresql skipped: {why}")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="shegong-bench-fleet-"))
    try:
        r = run(terminals, workdir, heartbeat, steady, case_every, max(1, procs), db, workers)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"fleet terminals={r['terminals']} hub_cpu_pct={r['hub_cpu_pct']:.1f} staleness_s={r['staleness_s']:.1f} "
        f"rollout_s={r['rollout_s']:.2f} lag_s={r['lag_s']:.2f} view_ms={r['view_ms']:.0f} "
        f"rollout_cpu_pct={r['rollout_cpu_pct']:.0f} online={r['online']} cases={r['cases']} lost={r['lost']} "
        f"duplicated={r['duplicated']} mismatched={r['mismatched']} sim_errors={r['sim_errors']} alerts={r['alerts']} "
        f"hub_wait_pct={r['hub_wait_pct']:.0f} broker_cpu_pct={r['broker_cpu_pct']:.1f} "
        f"sim_cpu_pct={r['sim_cpu_pct']:.1f} db={db} workers={workers} settle_s={r['settle_s']:.1f} "
        f"born_s={r['born_s']:.1f}"
    )
    rollout_max, cpu_max = targets(terminals)
    ok = (
        r["staleness_s"] <= 2 * r["heartbeat_s"]
        and r["rollout_s"] <= rollout_max
        and r["hub_cpu_pct"] <= cpu_max
        and r["online"] == r["terminals"]
        and r["lost"] == r["duplicated"] == r["mismatched"] == r["sim_errors"] == 0
    )
    return 0 if ok else 1
