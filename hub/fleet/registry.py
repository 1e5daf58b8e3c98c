"""The fleet registry: ingest hooks that keep each terminal's fleet view, and the evaluator.

Births, deaths and heartbeats are first handled by :class:`hub.ingest.terminals.Terminals` (bd_seq rules,
last seen, health); the hooks here run after it in the same transaction: they record link events, sample
heartbeats into a bounded history, follow the catalogue version each terminal reports, and assess the
terminal at once. A thread assesses every terminal each ``evaluate_every_s`` (silence is noticed only
by a clock), prunes the history and runs the ``on_tick`` callables (the catalogue announcer).

Alerts are raised once and cleared once: a partial unique index allows one active alert per terminal
and kind, raised with ON CONFLICT DO NOTHING; state changes are compare-and-set updates, so the ingest
hooks and the evaluator may race without doubling anything.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, case, delete, func, select, update
from sqlalchemy.exc import OperationalError

from hub.db.models import (
    DeadLetter,
    FleetAlertRow,
    FleetHeartbeatRow,
    FleetLinkEventRow,
    FleetTerminalRow,
    TerminalRow,
    table,
)
from hub.fleet.assess import AlertKind, Assessment, Desired, Facts, State, assess
from hub.ingest.terminals import lock_terminals
from hub.settings import FleetSettings
from kernel.db import among, deadlocked, upsert_insert
from protocol.catalogue_sync import CatalogueReport, ReportStatus
from protocol.envelope import DeadLetterReason, Envelope, MessageType, utcnow
from protocol.health import Heartbeat
from protocol.state import Birth, Death

__all__ = ["DROP_KINDS", "Fleet", "LinkEvent", "facts_of", "raise_alert", "refusals", "retire", "unretire"]

log = logging.getLogger(__name__)
_OWN_KINDS = frozenset(k.value for k in AlertKind)
_terms, _fleet = table(TerminalRow), table(FleetTerminalRow)
_alerts, _beats, _links = table(FleetAlertRow), table(FleetHeartbeatRow), table(FleetLinkEventRow)
_dead = table(DeadLetter)
_LIMITED = DeadLetterReason.RATE_LIMITED.value
Outgoing = tuple[str, bytes]
_SEEN = (
    update(_fleet)
    .where(_fleet.c.terminal_id == bindparam("t"))
    .values(
        catalogue_version=bindparam("v"),
        catalogue_version_at=func.coalesce(
            bindparam("at", type_=_fleet.c.catalogue_version_at.type), _fleet.c.catalogue_version_at
        ),
        catalogue_error=func.coalesce(
            bindparam("error", type_=_fleet.c.catalogue_error.type), _fleet.c.catalogue_error
        ),
    )
)
_SAMPLED = (
    update(_fleet)
    .where(_fleet.c.terminal_id == bindparam("t"))
    .values(last_sample_at=bindparam("sampled"), last_heartbeat_at=bindparam("sampled"))
)


class LinkEvent:
    BIRTH = "birth"
    DEATH = "death"
    LATE_WILL = "late_will"
    SILENT = "silent"
    HEARD = "heard"


DROP_KINDS = (LinkEvent.DEATH, LinkEvent.SILENT)
"""Link events that count towards flapping."""


def retire(conn: Connection, terminal: str, now: datetime) -> int:
    """Mark ``terminal`` retired on the fleet dashboard and clear its active alerts (every kind: nothing is
    expected of it any more); the evaluator leaves it alone from then on. Returns the alerts cleared."""
    lock_terminals(conn, [terminal])  # as every writer of a terminal's fleet rows, first
    changed = conn.execute(
        update(_fleet)
        .where(_fleet.c.terminal_id == terminal)
        .values(state=State.RETIRED.value, state_since=now, updated_at=now)
    ).rowcount
    if not changed:
        conn.execute(
            _fleet.insert().values(
                terminal_id=terminal,
                state=State.RETIRED.value,
                state_since=now,
                updated_at=now,
                catalogue_version=0,
                catalogue_error="",
            )
        )
    cleared = conn.execute(
        update(_alerts).where(_alerts.c.terminal_id == terminal, _alerts.c.cleared_at.is_(None)).values(cleared_at=now)
    ).rowcount
    log.info("terminal %s: retired, %d alert(s) cleared", terminal, cleared)
    return int(cleared)


def unretire(conn: Connection, terminal: str, now: datetime) -> bool:
    """A retired terminal provisioned again: assessed again from the next evaluation. Whether it was retired."""
    lock_terminals(conn, [terminal])
    return bool(
        conn.execute(
            update(_fleet)
            .where(_fleet.c.terminal_id == terminal, _fleet.c.state == State.RETIRED.value)
            .values(state=State.UNKNOWN.value, state_since=now, updated_at=now)
        ).rowcount
    )


def refusals(conn: Connection, since: datetime, terminal: str | None = None) -> dict[str, tuple[int, int]]:
    """Per terminal, its messages set aside over its rate and its other dead letters since ``since``."""
    limited = func.sum(case((_dead.c.reason == _LIMITED, 1), else_=0))
    q = (
        select(_dead.c.terminal_id, limited, func.count())
        .where(_dead.c.received_at > since, _dead.c.terminal_id.is_not(None))
        .group_by(_dead.c.terminal_id)
    )
    if terminal is not None:
        q = q.where(_dead.c.terminal_id == terminal)
    return {t: (int(n or 0), int(total) - int(n or 0)) for t, n, total in conn.execute(q).all()}


def facts_of(t: Mapping[Any, Any], reported: int | None, drops: int, refused: tuple[int, int] = (0, 0)) -> Facts:
    """The facts of one terminal from its ``terminals`` row, the catalogue version it reported (its fleet
    row's; None without one), its drops and its refusals (rate-limited, other dead letters) within the
    dead-letter window."""
    try:
        health = json.loads(t["health"] or "{}")
    except ValueError:
        health = {}
    return Facts(
        online=bool(t["online"]),
        last_seen_at=t["last_seen_at"],
        last_birth_at=t["last_birth_at"],
        clock_skew_s=t["clock_skew_s"],
        health=health if isinstance(health, dict) else {},
        catalogue_version=reported or 0,
        drops=drops,
        rate_limited=refused[0],
        refused=refused[1],
    )


def raise_alert(conn: Connection, terminal: str, kind: str, detail: str, at: datetime) -> bool:
    """Raise ``kind`` for ``terminal`` unless it is active already (a partial unique index keeps one active
    per terminal and kind, so processes racing to raise it raise it once, neither failing); True when this
    call raised it. Counted by RETURNING: rowcount is -1 on PostgreSQL for this statement."""
    raised = conn.execute(
        upsert_insert(conn)(_alerts)
        .values(terminal_id=terminal, kind=kind, detail=detail[:300], raised_at=at)
        .on_conflict_do_nothing(index_elements=["terminal_id", "kind"], index_where=_alerts.c.cleared_at.is_(None))
        .returning(_alerts.c.id)
    ).first()
    return raised is not None


def _changes(stored: str, result: Assessment, active: Mapping[str, int]) -> tuple[bool, set[str], set[str]]:
    """What an assessment changes for a terminal in state ``stored`` with alerts ``active`` (by kind): whether
    its state moves, the kinds of alert to raise and those to clear (a kind on hold is left as it is)."""
    wanted = {k.value for k in result.problems}
    held = {k.value for k in result.hold}
    return result.state.value != stored, wanted - active.keys() - held, active.keys() - wanted - held


class Fleet:
    """One per hub process. ``desired(reported)`` gives the catalogue version terminals should run (or
    None); ``reported``, a version a terminal runs, above the one it knows, makes it look again."""

    def __init__(
        self,
        engine: Engine,
        settings: FleetSettings,
        desired: Callable[[int], Desired | None] = lambda _reported: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.desired = desired
        self.clock = clock
        self._insert = upsert_insert(engine)
        self.on_tick: list[Callable[[], object]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Whether this process leads (hub.leader): only the leader runs the periodic work of :meth:`tick`.
        self.leading: Callable[[], bool] = lambda: True
        self._last_prune = 0.0
        self.stats = {"evaluations": 0, "raised": 0, "cleared": 0, "deadlocks": 0}

    # ------------------------------------------------------------------ wiring
    def attach(self, handler: Any) -> None:
        """Register the ingest hooks on a :class:`hub.ingest.handler.Handler`."""
        handler.hooks.setdefault(MessageType.DEATH, []).append(self.on_death)
        for kind, hook in (
            (MessageType.HEARTBEAT, self.on_heartbeats),
            (MessageType.BIRTH, self.on_births),
            (MessageType.CATALOGUE_REPORT, self.on_reports),
        ):
            handler.batch_hooks.setdefault(kind, []).append(hook)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fleet-evaluator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.evaluate_every_s):
            self.tick()

    def tick(self) -> None:
        """One round of the periodic work, in the leading process only; errors are logged and the next
        round comes anyway."""
        if not self.leading():
            return
        jobs: list[Callable[[], object]] = [self.evaluate_all, self._prune_if_due, *self.on_tick]
        for job in jobs:
            try:
                job()
            except Exception:
                log.exception("fleet job %s failed", getattr(job, "__name__", job))

    # ------------------------------------------------------------------ ingest hooks
    def _now(self, received_at: datetime) -> datetime:
        """When a message is assessed: now, not when it was received. A message that waited in a backed-up
        queue longer than the silence limit must not make its terminal look online for a moment (the
        evaluator would call it silent again at once: a flap that never happened)."""
        return max(received_at, self.clock())

    def on_births(self, conn: Connection, births: list[tuple[Birth, datetime]]) -> list[Outgoing]:
        """Births of distinct terminals, written to ``terminals`` just before: a link event each, the
        catalogue version each runs, each terminal assessed (a birth is no drop: the snapshot holds). A
        stale birth, ignored by the registry, is ignored here too. One query reads them all, one their
        last link events, one statement adds the new ones."""
        live = [
            (birth, at, snap) for birth, at, snap in self._live(conn, births) if snap["bd_seq"] == birth.body.bd_seq
        ]
        self._links(conn, [(birth.terminal, LinkEvent.BIRTH, birth.body.bd_seq, at) for birth, at, _ in live])
        self._catalogue_seen(conn, [(snap, birth.body.catalogue_version, at, None) for birth, at, snap in live])
        for birth, at, snap in live:
            self.evaluate(conn, birth.terminal, self._now(at), snap)
        return []

    def on_death(self, conn: Connection, message: Envelope, at: datetime) -> list[Outgoing]:
        assert isinstance(message, Death)
        snap = self._snapshot(conn, message.terminal, at)
        honoured = snap is not None and snap["bd_seq"] == message.body.bd_seq and not snap["online"]
        kind = LinkEvent.DEATH if honoured else LinkEvent.LATE_WILL
        self._links(conn, [(message.terminal, kind, message.body.bd_seq, at)])
        if honoured:
            self.evaluate(conn, message.terminal, self._now(at), self._snapshot(conn, message.terminal, at))
        return []

    def on_heartbeats(self, conn: Connection, beats: list[tuple[Heartbeat, datetime]]) -> list[Outgoing]:
        """Heartbeats of distinct terminals, written to ``terminals`` just before: sample each into the
        history (at most one per ``sample_every_s``), follow its catalogue version, assess its terminal.
        One query reads them all; writes happen only for what changed, a statement per kind for the batch."""
        live = self._live(conn, beats)
        samples: list[dict[str, Any]] = []
        for message, at, snap in live:
            terminal, body = message.terminal, message.body
            last_sample = snap["f_sample"]
            if last_sample is None or (at - last_sample).total_seconds() >= self.settings.sample_every_s:
                samples.append(
                    {
                        "terminal_id": terminal,
                        "at": at,
                        "uptime_s": body.uptime_s,
                        "outbox_depth": body.outbox_depth,
                        # both stamps by the terminal's clock: its offset from the hub's falls out
                        "oldest_unsent_age_s": (message.sent_at - body.oldest_unsent_at).total_seconds()
                        if body.oldest_unsent_at
                        else None,
                        "parked": body.parked,
                        "disk_free_mb": body.disk_free_mb,
                        "clock_skew_s": message.clock_offset_s(at),
                        "app_version": body.app_version[:32],
                        "catalogue_version": body.catalogue_version,
                        "reader": body.reader[:32],
                        "printer": body.printer[:32],
                        "alarms": ",".join(body.alarms)[:300],
                    }
                )
        self._catalogue_seen(conn, [(snap, message.body.catalogue_version, at, None) for message, at, snap in live])
        for message, at, snap in live:
            self.evaluate(conn, message.terminal, self._now(at), snap)
        if samples:
            conn.execute(_beats.insert(), samples)
            conn.execute(_SAMPLED, [{"t": r["terminal_id"], "sampled": r["at"]} for r in samples])
        return []

    def on_reports(self, conn: Connection, reports: list[tuple[CatalogueReport, datetime]]) -> list[Outgoing]:
        """The version each terminal (distinct) runs now, or why it could not apply the one announced. Not
        assessed here: the next heartbeat or evaluation round does. A rollout brings every terminal's report
        within seconds: one query reads them all, one statement writes the versions."""
        seen: list[tuple[dict[str, Any], int, datetime, str | None]] = []
        for report, at, snap in self._live(conn, reports):
            body = report.body
            error = "" if body.status is ReportStatus.APPLIED else f"v{body.failed_version}: {body.error}"[:300]
            if error:
                log.warning("terminal %s could not apply catalogue %s", report.terminal, error)
            seen.append((snap, body.version, at, error))
        self._catalogue_seen(conn, seen)
        return []

    # ------------------------------------------------------------------ rows
    def _live(self, conn: Connection, batch: list[tuple[Any, datetime]]) -> list[tuple[Any, datetime, dict[str, Any]]]:
        """The messages of a batch (distinct terminals, with when each was received) whose terminal is known,
        each with its snapshot (:meth:`_snapshots`, one query, as of the latest of them)."""
        snaps = self._snapshots(conn, [message.terminal for message, _ in batch], max(at for _, at in batch))
        return [(message, at, snap) for message, at in batch if (snap := snaps.get(message.terminal)) is not None]

    def _snapshot(self, conn: Connection, terminal: str, now: datetime) -> dict[str, Any] | None:
        """The terminal's ``terminals`` row with its fleet row (``f_…``), recent link drops and active alert
        count, in one query; the fleet row is made if missing. None for a terminal never heard of."""
        return self._snapshots(conn, [terminal], now).get(terminal)

    def _snapshots(self, conn: Connection, terminals: list[str], now: datetime) -> dict[str, dict[str, Any]]:
        """:meth:`_snapshot` of several terminals, in one query."""
        cutoff = now - timedelta(seconds=self.settings.flap_window_s)
        since = now - timedelta(seconds=self.settings.dead_letter_window_s)
        rows = conn.execute(self._snapshot_q, {"ts": terminals, "cutoff": cutoff, "since": since}).mappings()
        snaps = {r["terminal_id"]: dict(r) for r in rows}
        for terminal, snap in sorted(snaps.items()):  # fleet rows made in the terminals' order
            if snap["f_id"] is None:
                conn.execute(
                    self._insert(_fleet)
                    .values(terminal_id=terminal, state=State.UNKNOWN.value, catalogue_version=0, catalogue_error="")
                    .on_conflict_do_nothing(index_elements=["terminal_id"])
                )
                snap.update(f_id=terminal, f_state=State.UNKNOWN.value, f_version=0, f_sample=None, f_error="")
        return snaps

    @cached_property
    def _snapshot_q(self) -> Any:
        drops = (
            select(func.count())
            .where(
                _links.c.terminal_id == _terms.c.terminal_id,
                _links.c.kind.in_(DROP_KINDS),
                _links.c.at > bindparam("cutoff", type_=_links.c.at.type),
            )
            .scalar_subquery()
        )
        active = (
            select(func.count())
            .where(_alerts.c.terminal_id == _terms.c.terminal_id, _alerts.c.cleared_at.is_(None))
            .scalar_subquery()
        )
        recent = (
            _dead.c.terminal_id == _terms.c.terminal_id,
            _dead.c.received_at > bindparam("since", type_=_dead.c.received_at.type),
        )
        limited = select(func.count()).where(*recent, _dead.c.reason == _LIMITED).scalar_subquery()
        refused = select(func.count()).where(*recent, _dead.c.reason != _LIMITED).scalar_subquery()
        return (
            select(
                _terms,
                _fleet.c.terminal_id.label("f_id"),
                _fleet.c.state.label("f_state"),
                _fleet.c.catalogue_version.label("f_version"),
                _fleet.c.last_sample_at.label("f_sample"),
                _fleet.c.catalogue_error.label("f_error"),
                drops.label("drops"),
                active.label("active"),
                limited.label("rate_limited"),
                refused.label("refused"),
            )
            .select_from(_terms.outerjoin(_fleet, _fleet.c.terminal_id == _terms.c.terminal_id))
            .where(_terms.c.terminal_id.in_(bindparam("ts", expanding=True)))
        )

    def _links(self, conn: Connection, events: list[tuple[str, str, int | None, datetime]]) -> None:
        """Record link events (terminal, kind, session, when) of distinct terminals, each once: a retained
        birth or death read again is not a new event. One query finds each terminal's last event."""
        if not events:
            return
        ranked = (
            select(
                _links.c.terminal_id,
                _links.c.kind,
                _links.c.bd_seq,
                func.row_number()
                .over(partition_by=_links.c.terminal_id, order_by=(_links.c.at.desc(), _links.c.id.desc()))
                .label("n"),
            )
            .where(among(conn, _links.c.terminal_id, [terminal for terminal, *_ in events]))
            .subquery()
        )
        last = {
            terminal: (kind, bd_seq)
            for terminal, kind, bd_seq in conn.execute(
                select(ranked.c.terminal_id, ranked.c.kind, ranked.c.bd_seq).where(ranked.c.n == 1)
            )
        }
        rows = [
            {"terminal_id": terminal, "at": at, "kind": kind, "bd_seq": bd_seq}
            for terminal, kind, bd_seq, at in events
            if bd_seq is None or last.get(terminal) != (kind, bd_seq)
        ]
        if rows:
            conn.execute(_links.insert(), rows)

    def _catalogue_seen(self, conn: Connection, seen: list[tuple[dict[str, Any], int, datetime, str | None]]) -> None:
        """The catalogue versions terminals report (birth, heartbeat, report): each with the terminal's
        snapshot, when, and what its error now is (a report's: why a version could not be applied, or ""
        once one was; None: not said). Kept in the fleet rows (the one place the hub keeps them) where they
        changed, the version with since when, in one statement; the snapshots are brought up to date."""
        rows = []
        for snap, version, at, error in seen:
            changed = version != snap["f_version"]
            if changed or (error is not None and error != snap["f_error"]):
                rows.append({"t": snap["terminal_id"], "v": version, "at": at if changed else None, "error": error})
                snap.update(f_version=version, f_error=snap["f_error"] if error is None else error)
        if rows:
            conn.execute(_SEEN, rows)

    # ------------------------------------------------------------------ evaluation
    def _drops(self, conn: Connection, now: datetime) -> dict[str, int]:
        q = (
            select(_links.c.terminal_id, func.count())
            .where(_links.c.kind.in_(DROP_KINDS), _links.c.at > now - timedelta(seconds=self.settings.flap_window_s))
            .group_by(_links.c.terminal_id)
        )
        return {t: int(n) for t, n in conn.execute(q).all()}

    def _active(self, conn: Connection, terminal: str) -> dict[str, int]:
        q = select(_alerts.c.kind, _alerts.c.id).where(
            _alerts.c.terminal_id == terminal, _alerts.c.cleared_at.is_(None)
        )
        # Only the kinds this evaluator raises: others (the night's ``night_missed``) are their raiser's to clear.
        return {r.kind: r.id for r in conn.execute(q) if r.kind in _OWN_KINDS}

    def evaluate(
        self, conn: Connection, terminal: str, now: datetime | None = None, snap: dict[str, Any] | None = None
    ) -> Assessment | None:
        """Assess one terminal and bring its state and alerts in line, in the caller's transaction."""
        now = now or self.clock()
        snap = snap or self._snapshot(conn, terminal, now)
        if snap is None or snap["f_state"] == State.RETIRED.value:
            return None
        active = self._active(conn, terminal) if snap["active"] else {}
        counts = (snap["rate_limited"], snap["refused"])
        desired = self.desired(snap["f_version"])
        result = assess(facts_of(snap, snap["f_version"], snap["drops"], counts), now, self.settings, desired)
        self._apply(conn, terminal, snap["f_state"], result, active, now)
        return result

    def evaluate_all(self, now: datetime | None = None) -> dict[str, Assessment]:
        """Assess every terminal (one transaction); returns the assessments by terminal.

        The round reads every terminal without locking anything and decides which ones it would change.
        Those it then locks, in their order as ingest takes them (:func:`hub.ingest.terminals.lock_terminals`),
        reads again and assesses again before changing them: what a heartbeat committed meanwhile is seen,
        and the round never waits for a worker while holding a row that worker wants (it did: the round
        took fleet rows in its order while a worker held its terminals and took their fleet rows in its
        own, and the server aborted one of them). A round the server aborts anyway (a deadlock elsewhere)
        is logged and counted; the next round decides.
        """
        now = now or self.clock()
        try:
            return self._evaluate_all(now)
        except OperationalError as exc:
            if not deadlocked(exc):
                raise
            self.stats["deadlocks"] += 1
            log.warning("fleet evaluation round aborted in a deadlock; the next round decides")
            return {}

    def _evaluate_all(self, now: datetime) -> dict[str, Assessment]:
        out: dict[str, Assessment] = {}
        due: list[str] = []
        with self.engine.begin() as conn:
            terms = [dict(r) for r in conn.execute(select(_terms)).mappings()]
            fleet = {r["terminal_id"]: dict(r) for r in conn.execute(select(_fleet)).mappings()}
            desired = self.desired(max((f["catalogue_version"] for f in fleet.values()), default=0))
            drops = self._drops(conn, now)
            refused = refusals(conn, now - timedelta(seconds=self.settings.dead_letter_window_s))
            active: dict[str, dict[str, int]] = {}
            for r in conn.execute(
                select(_alerts.c.terminal_id, _alerts.c.kind, _alerts.c.id).where(_alerts.c.cleared_at.is_(None))
            ):
                if r.kind in _OWN_KINDS:  # others' alerts (the night's) are theirs to clear
                    active.setdefault(r.terminal_id, {})[r.kind] = r.id
            for t in terms:
                terminal = t["terminal_id"]
                f = fleet.get(terminal)
                if f is not None and f["state"] == State.RETIRED.value:
                    continue
                version = f["catalogue_version"] if f is not None else 0
                facts = facts_of(t, version, drops.get(terminal, 0), refused.get(terminal, (0, 0)))
                result = out[terminal] = assess(facts, now, self.settings, desired)
                if f is None or any(_changes(f["state"], result, active.get(terminal, {}))):
                    due.append(terminal)
            if due:
                lock_terminals(conn, due)
                snaps = self._snapshots(conn, due, now)
                for terminal in sorted(snaps):
                    again = self.evaluate(conn, terminal, now, snaps[terminal])
                    if again is None:
                        out.pop(terminal, None)
                    else:
                        out[terminal] = again
        self.stats["evaluations"] += 1
        return out

    def _apply(
        self,
        conn: Connection,
        terminal: str,
        stored: str,
        result: Assessment,
        active: dict[str, int],
        now: datetime,
    ) -> None:
        moved, raise_, clear = _changes(stored, result, active)
        if moved:
            changed = conn.execute(
                update(_fleet)
                .where(_fleet.c.terminal_id == terminal, _fleet.c.state == stored)
                .values(state=result.state.value, state_since=now, updated_at=now)
            ).rowcount
            if changed:
                if result.state is State.SILENT and stored == State.ONLINE.value:
                    conn.execute(_links.insert().values(terminal_id=terminal, at=now, kind=LinkEvent.SILENT))
                elif result.state is State.ONLINE and stored == State.SILENT.value:
                    conn.execute(_links.insert().values(terminal_id=terminal, at=now, kind=LinkEvent.HEARD))
                log.info("terminal %s: %s -> %s", terminal, stored, result.state.value)
        wanted = {k.value: detail for k, detail in result.problems.items()}
        for kind in raise_:
            if raise_alert(conn, terminal, kind, wanted[kind], now):
                self.stats["raised"] += 1
                log.warning("alert raised: %s %s (%s)", terminal, kind, wanted[kind])
        for kind in clear:
            conn.execute(
                update(_alerts)
                .where(_alerts.c.terminal_id == terminal, _alerts.c.kind == kind, _alerts.c.cleared_at.is_(None))
                .values(cleared_at=now)
            )
            self.stats["cleared"] += 1
            log.info("alert cleared: %s %s", terminal, kind)

    # ------------------------------------------------------------------ history
    def _prune_if_due(self) -> None:
        if time.monotonic() - self._last_prune < 600:
            return
        self._last_prune = time.monotonic()
        self.prune()

    def prune(self, now: datetime | None = None) -> int:
        """Drop sampled heartbeats and link events past the retention window; returns rows removed."""
        cutoff = (now or self.clock()) - timedelta(seconds=self.settings.history_keep_s)
        with self.engine.begin() as conn:
            n = conn.execute(delete(_beats).where(_beats.c.at < cutoff)).rowcount
            n += conn.execute(delete(_links).where(_links.c.at < cutoff)).rowcount
        return int(n)
