"""Tables of the hub database. Schema changes go through an Alembic revision in ``migrations/``.

Queries are typed: written against a model (``sqlmodel.select`` with ``col()``; ``Session.exec`` for whole
rows) where that reads well, and as Core statements on :func:`table` (``table(CaseRow)``) for bulk and hot
paths. ``Model.__table__`` is untyped and not used.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from kernel.db import BigIntPK, UTCDateTime, table

__all__ = [
    "AuditAnchorRow",
    "AuditDayAnchorRow",
    "AuditEntry",
    "AuditWitnessRow",
    "CalendarDayRow",
    "CalendarYearRow",
    "CaseEventRow",
    "CaseRow",
    "CaseWorkRow",
    "CommitteeRow",
    "DeadLetter",
    "DeadLetterCountRow",
    "HubModel",
    "LoginFailureRow",
    "NoticeRow",
    "PartnerRequestRow",
    "PartnerRow",
    "NightResultRow",
    "PortalFailureRow",
    "RatingRow",
    "TerminalAuditSegmentRow",
    "ReturnCallRow",
    "TranslationRow",
    "TerminalRegisterRow",
    "TerminalRow",
    "UserRow",
    "WebSessionRow",
    "table",
]


class HubModel(SQLModel, registry=registry()):
    """Base of the hub tables: their own metadata, apart from the edge's."""


def _ts(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class TerminalRow(HubModel, table=True):
    """What the hub knows of one terminal, from births, deaths and heartbeats."""

    __tablename__ = "terminals"

    terminal_id: str = Field(primary_key=True, max_length=64)
    online: bool = False
    bd_seq: int = Field(default=-1, sa_type=BigIntPK)
    birth_seq: int = Field(
        default=-1,
        sa_type=BigIntPK,
        sa_column_kwargs={"server_default": "-1"},
        description="the message number of the birth on record: a retained birth read back is not new (h0029)",
    )
    last_seq: int = Field(default=0, sa_type=BigIntPK)
    seq_gaps: int = 0
    last_birth_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_seen_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    clock_skew_s: float | None = None
    app_version: str = ""
    health: str = Field(default="{}", sa_type=Text)


class CaseRow(HubModel, table=True):
    """A case as committed at the hub; ``case_id`` is the terminal's UUIDv7, so redelivery is a no-op."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_dept_status", "department", "status"),
        # A receipt number names one case of its committee (h0012): the hub refuses a second case with it.
        UniqueConstraint("committee", "receipt_no", name="ux_cases_committee_receipt"),
    )

    case_id: str = Field(primary_key=True, max_length=36)
    terminal_id: str = Field(index=True, max_length=64)
    committee: str = Field(max_length=16)
    receipt_no: str = Field(index=True, max_length=40)
    printed_receipt_no: str | None = Field(
        default=None,
        index=True,
        max_length=40,
        description="the number on the resident's receipt where the hub took the case under one of its own: another"
        " case held it (the terminal forgot it after a power cut) (h0031)",
    )
    query_code: str = Field(max_length=6)
    item_code: str = Field(index=True, max_length=64)
    department: str = Field(max_length=32)
    status: str = Field(max_length=32)
    version: int = 1
    id_number: str = Field(index=True, max_length=18)
    applicant_name: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_ts())
    sent_at: datetime = Field(sa_column=_ts())
    received_at: datetime = Field(sa_column=_ts())  # indexed first in ix_cases_report
    clock_skew_s: float | None = Field(default=None, description="set when the terminal clock was off at send")
    clock_fix_s: float | None = Field(
        default=None, description="the terminal's clock was set by this much after it accepted the case (h0028)"
    )
    due_date: date | None = None
    promised_days: int | None = Field(
        default=None, description="working days the catalogue promised at arrival; due dates count from it (h0013)"
    )
    statutory_days: int | None = Field(
        default=None, description="法定办结时限 in working days, as the catalogue stated it at arrival (h0018)"
    )
    statutory_due: date | None = Field(
        default=None, description="the last day the law allows, moved by 补正 pauses as the due date is (h0018)"
    )
    updated_at: datetime = Field(sa_column=_ts())
    payload: str = Field(sa_type=Text)


class CaseEventRow(HubModel, table=True):
    """One state change of a case; ``id`` orders events hub-wide (a terminal's resync watermark).

    ``published_at``: when the broker acknowledged (PUBACK) a message carrying the event; NULL until then,
    and :class:`hub.cases.delivery.EventDelivery` sends it again (h0011).
    """

    __tablename__ = "case_events"
    __table_args__ = (
        UniqueConstraint("case_id", "version"),
        Index("ix_case_events_terminal_id", "terminal_id", "id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    case_id: str = Field(max_length=36)  # indexed first in the (case_id, version) key
    terminal_id: str = Field(max_length=64)
    version: int
    status: str = Field(max_length=32)
    at: datetime = Field(sa_column=_ts())
    actor: str = Field(default="", max_length=64)
    note: str = Field(default="", sa_type=Text)
    department: str = Field(default="", max_length=32)
    published_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class DeadLetter(HubModel, table=True):
    """Anything refused, with its reason, for an operator: the first bytes of what arrived (a few KiB at
    most, never the opened inside of a sealed case) and the SHA-256 of all of it (h0012). The newest
    ``dead_letters_per_terminal`` rows of each terminal are kept; ``dead_letter_counts`` counts them all."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_terminal_at", "terminal_id", "received_at"),)

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    received_at: datetime = Field(sa_column=_ts(index=True))
    topic: str = Field(max_length=256)
    terminal_id: str | None = Field(default=None, max_length=64)
    reason: str = Field(index=True, max_length=32)
    detail: str = Field(sa_type=Text)
    message_id: str | None = Field(default=None, max_length=36)
    item_id: str | None = Field(default=None, max_length=36)
    size: int = Field(description="bytes that arrived; ``payload`` holds at most the first few KiB of them")
    sha256: str | None = Field(default=None, max_length=64, description="of all that arrived (NULL before h0012)")
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class DeadLetterCountRow(HubModel, table=True):
    """Every dead letter counted, per terminal and reason, also those the bound or a purge removed since:
    what a terminal sent that the hub refused stays accounted for. ``terminal_id`` is '' when the topic
    named none."""

    __tablename__ = "dead_letter_counts"

    terminal_id: str = Field(primary_key=True, max_length=64)
    reason: str = Field(primary_key=True, max_length=32)
    count: int = Field(default=0, sa_type=BigIntPK, description="dead letters recorded")
    dropped: int = Field(default=0, sa_type=BigIntPK, description="of them, removed by the per-terminal bound")
    last_at: datetime = Field(sa_column=_ts())


class TerminalRegisterRow(HubModel, table=True):
    """The committee each terminal serves, set at provisioning (``shegong hub terminal register``): the hub
    takes a case only from a registered terminal and only for its committee (h0012). ``receipt_series``
    (h0015) is the terminal's digit in its receipt numbers, unique within the committee, so two terminals
    of one committee never make the same number."""

    __tablename__ = "terminal_register"
    __table_args__ = (Index("ux_terminal_register_series", "committee", "receipt_series", unique=True),)

    terminal_id: str = Field(primary_key=True, max_length=64)
    committee: str = Field(max_length=16)
    receipt_series: int | None = None
    registered_at: datetime = Field(sa_column=_ts())
    registered_by: str = Field(default="", max_length=64)


class AuditEntry(HubModel, table=True):
    """One link of the hash chain: ``hash = sha256(prev_hash + canonical entry)``."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    at: datetime = Field(sa_column=_ts())
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    subject: str = Field(max_length=64)
    data: str = Field(sa_type=Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
    mac: str | None = Field(
        default=None,
        max_length=64,
        description="HMAC-SHA256 of ``hash`` under the audit key kept outside the database (h0016; NULL before)",
    )


class RatingRow(HubModel, table=True):
    """A resident's satisfaction rating (好差评); levels 1–2 are bad ratings that need a return call."""

    __tablename__ = "ratings"

    rating_id: str = Field(primary_key=True, max_length=36)
    case_id: str | None = Field(default=None, index=True, max_length=36)
    terminal_id: str = Field(max_length=64)
    committee: str = Field(max_length=16)
    receipt_no: str = Field(default="", max_length=40)
    item_code: str = Field(default="", index=True, max_length=64)
    department: str = Field(default="", max_length=32)
    level: int = Field(index=True)
    reason: str = Field(default="", sa_type=Text)
    rated_at: datetime = Field(sa_column=_ts())  # by the hub's clock when the terminal's was far off (reports)
    received_at: datetime = Field(sa_column=_ts(index=True))
    # as the terminal stamped it, whatever its clock: the day nightly reconciliation files it under on both sides
    stamped_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


# --------------------------------------------------------------------------- back office (issue 6)
class UserRow(HubModel, table=True):
    """A back-office user: a role, the departments a clerk works for, an argon2 password hash."""

    __tablename__ = "users"

    user_id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=64)
    role: str = Field(max_length=16, description="manager, clerk, auditor or operator")
    departments: str = Field(default="", max_length=256, description="department codes, comma-separated (clerks)")
    password_hash: str = Field(sa_type=Text)
    disabled: bool = False
    session_epoch: int = Field(
        default=0, description="raised by a password change or disabling: sessions and tokens made before are void"
    )
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class LoginFailureRow(HubModel, table=True):
    """Failed sign-ins counted per hour, client and user name, every unknown name as one: a tally whose
    size a stranger cannot grow at will, kept ``login_failures_keep_days`` (hub.people.throttle)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_client", "client", "window_start"),
        Index("ix_login_failures_username", "username", "window_start"),
    )

    window_start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    client: str = Field(primary_key=True, max_length=64, description="an IPv4 address, or an IPv6 /64")
    username: str = Field(primary_key=True, max_length=64, description="a user's name, or '(unknown)' for any other")
    failures: int = 0
    last_at: datetime = Field(sa_column=_ts())


class WebSessionRow(HubModel, table=True):
    """A server-side web session or API token; only the SHA-256 of its key is kept."""

    __tablename__ = "web_sessions"

    key_hash: str = Field(primary_key=True, max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True, index=True))


class CaseWorkRow(HubModel, table=True):
    """The back office's working facts of a case, kept with each transition so reports need no event scan."""

    __tablename__ = "case_work"
    __table_args__ = (
        # covering the report's scan of decided cases: no lookup into either table per case
        Index("ix_case_work_report", "decided_at", "department", "item_code", "outcome", "processing_s", "in_time"),
    )

    case_id: str = Field(primary_key=True, max_length=36)
    department: str = Field(max_length=32, description="copy of cases.department, kept on re-routing")
    item_code: str = Field(max_length=64, description="copy of cases.item_code")
    assignee: str = Field(default="", index=True, max_length=64)
    accepted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    paused_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True), description="补正 started")
    paused_days: int = Field(default=0, description="working days the clock stood still for 补正")
    pause_began: datetime | None = Field(
        default=None, sa_column=_ts(nullable=True), description="补正 started, kept after it ended (h0030)"
    )
    pause_ended: datetime | None = Field(default=None, sa_column=_ts(nullable=True), description="补正 ended (h0030)")
    due_before_pause: date | None = Field(default=None, description="the due date when 补正 started (h0030)")
    statutory_before_pause: date | None = Field(
        default=None, description="the statutory due date when 补正 started (h0030)"
    )
    notices: int = Field(default=0, description="补正 notices sent (一次性告知: at most one)")
    decided_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    outcome: str = Field(default="", max_length=32, description="completed, rejected or withdrawn")
    processing_s: float | None = Field(default=None, description="received → decided, seconds")
    in_time: bool | None = Field(default=None, description="decided on or before the due date")
    statutory_in_time: bool | None = Field(
        default=None, description="decided on or before the statutory due date (h0018)"
    )


class CalendarYearRow(HubModel, table=True):
    """A year whose holiday arrangement the administrator has entered (or the seed provided)."""

    __tablename__ = "calendar_years"

    year: int = Field(primary_key=True)
    source: str = Field(default="", max_length=200)
    updated_at: datetime = Field(sa_column=_ts())


class CalendarDayRow(HubModel, table=True):
    """A holiday (``off``) or an adjusted working weekend day (``work``, 调休上班)."""

    __tablename__ = "calendar_days"

    day: date = Field(primary_key=True)
    kind: str = Field(max_length=8)
    name: str = Field(max_length=32)
    updated_by: str = Field(default="", max_length=64)
    updated_at: datetime = Field(sa_column=_ts())


class AuditAnchorRow(HubModel, table=True):
    """The audit chain's length and head, moved in the same transaction as every append.

    Deleting the newest entries leaves the chain itself consistent; the anchor still names the entry
    that should end it, so ``audit verify`` sees the truncation.
    """

    __tablename__ = "audit_anchor"

    id: int = Field(primary_key=True)
    entries: int = Field(sa_type=BigIntPK)
    last_id: int = Field(sa_type=BigIntPK)
    head_hash: str = Field(max_length=64)
    at: datetime = Field(sa_column=_ts())


_case_cols = table(CaseRow).c
Index("ix_cases_report", _case_cols.received_at, _case_cols.department, _case_cols.item_code)
"""Added with the back office (h0003): the report counts cases received per department and item from the
index alone."""


# --------------------------------------------------------------------------- fleet and catalogue (issue 5)
class CatalogueVersionRow(HubModel, table=True):
    """One catalogue version: a draft being edited (``published_at`` empty) or a published one (immutable)."""

    __tablename__ = "catalogue_versions"

    version: int = Field(primary_key=True)
    content_hash: str = Field(default="", max_length=80)
    manifest_hash: str = Field(default="", max_length=80)
    departments: str = Field(sa_type=Text, description="the departments, as JSON")
    note: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_column=_ts())
    created_by: str = Field(default="", max_length=64)
    published_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True, index=True))
    published_by: str = Field(default="", max_length=64)


class CatalogueItemRow(HubModel, table=True):
    """One item of one version, in display order, as canonical JSON with its content hash."""

    __tablename__ = "catalogue_items"
    __table_args__ = (Index("ix_catalogue_items_code", "code"),)  # the last version listing an item (h0032)

    version: int = Field(primary_key=True)
    code: str = Field(primary_key=True, max_length=16)
    position: int
    hash: str = Field(max_length=80)
    body: str = Field(sa_type=Text)


class FleetTerminalRow(HubModel, table=True):
    """The fleet's own view of one terminal, beside ``terminals``: the assessed state, since when, and
    what the catalogue rollout needs (the version it reports and since when: the one place the hub keeps a
    terminal's catalogue version, h0023)."""

    __tablename__ = "fleet_terminals"

    terminal_id: str = Field(primary_key=True, max_length=64)
    state: str = Field(default="unknown", max_length=16)
    state_since: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_heartbeat_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_sample_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    catalogue_version: int = 0
    catalogue_version_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    catalogue_error: str = Field(default="", max_length=300)
    updated_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class FleetHeartbeatRow(HubModel, table=True):
    """A sampled heartbeat (at most one per terminal per sample interval), kept for the retention window."""

    __tablename__ = "fleet_heartbeats"
    __table_args__ = (Index("ix_fleet_heartbeats_terminal_at", "terminal_id", "at"),)

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    terminal_id: str = Field(max_length=64)
    at: datetime = Field(sa_column=_ts(index=True))
    uptime_s: float = 0
    outbox_depth: int = 0
    oldest_unsent_age_s: float | None = None
    parked: int = 0
    disk_free_mb: float = 0
    clock_skew_s: float | None = None
    app_version: str = Field(default="", max_length=32)
    catalogue_version: int = 0
    reader: str = Field(default="", max_length=32)
    printer: str = Field(default="", max_length=32)
    alarms: str = Field(default="", max_length=300)


class FleetLinkEventRow(HubModel, table=True):
    """A change of a terminal's link: birth, death, late will ignored, silent, heard again."""

    __tablename__ = "fleet_link_events"
    __table_args__ = (Index("ix_fleet_link_events_terminal_at", "terminal_id", "at"),)

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    terminal_id: str = Field(max_length=64)
    at: datetime = Field(sa_column=_ts(index=True))
    kind: str = Field(max_length=16)
    bd_seq: int | None = Field(default=None, sa_type=BigIntPK)


class FleetAlertRow(HubModel, table=True):
    """An operator alert: raised once when its condition starts, cleared when it ends; kept as history.

    At most one alert of a kind is active per terminal (a partial unique index holds it)."""

    __tablename__ = "fleet_alerts"
    __table_args__ = (Index("ix_fleet_alerts_terminal_raised", "terminal_id", "raised_at"),)

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    terminal_id: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    detail: str = Field(default="", max_length=300, description="the measured value, e.g. minutes offline")
    raised_at: datetime = Field(sa_column=_ts(index=True))
    cleared_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True, index=True))
    acknowledged_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    acknowledged_by: str = Field(default="", max_length=64, description="user name of who answered a help call")
    responder: str = Field(default="", max_length=64, description="their display name, as the terminal shows it")
    ack_sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class CommitteeRow(HubModel, table=True):
    """A residents' committee's name by its code, set at provisioning (``shegong hub terminal register T
    --committee C --committee-name 名称``): pages show the name, the code only where no name is known."""

    __tablename__ = "committees"

    code: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=64)
    updated_at: datetime = Field(sa_column=_ts())
    updated_by: str = Field(default="", max_length=64)


_alert_cols = table(FleetAlertRow).c
Index(
    "ux_fleet_alerts_active",
    _alert_cols.terminal_id,
    _alert_cols.kind,
    unique=True,
    sqlite_where=_alert_cols.cleared_at.is_(None),
    postgresql_where=_alert_cols.cleared_at.is_(None),
)

_event_cols = table(CaseEventRow).c
Index(  # small: only the events the broker has not acknowledged yet, in the order they are resent
    "ix_case_events_unpublished",
    _event_cols.id,
    sqlite_where=_event_cols.published_at.is_(None),
    postgresql_where=_event_cols.published_at.is_(None),
)


# --------------------------------------------------------------------------- the night (issue 15)
class NightResultRow(HubModel, table=True):
    """A terminal's latest nightly result, as it reported it (its fleet page shows it)."""

    __tablename__ = "night_results"

    terminal_id: str = Field(primary_key=True, max_length=64)
    started_at: datetime = Field(sa_column=_ts())
    received_at: datetime = Field(sa_column=_ts())
    seconds: float
    ok: bool
    steps: str = Field(sa_type=Text, description="the steps as JSON: name, ok, seconds, counts, error")


class HubRestoreRow(HubModel, table=True):
    """A ``shegong hub restore``: the backup written over the database, the number the catalogue's versions
    continue above, and on the restore's day the number partner receipts continue above (publications and
    partner requests made after the backup are lost with it, but terminals may run those versions and
    partners hold those request ids: no number is given twice)."""

    __tablename__ = "hub_restores"

    id: int | None = Field(default=None, primary_key=True)
    restored_at: datetime = Field(sa_column=_ts())
    backup: str = Field(max_length=255)
    restored_by: str = Field(max_length=64)
    catalogue_above: int
    open311_day: date = Field(description="the local day of the restore: partner receipts are numbered per day")
    open311_above: int


class AuditDayAnchorRow(HubModel, table=True):
    """The hub's daily audit anchor (head hash, count, time), signed with the hub's audit key and published
    retained to every terminal, which keeps it as a witness."""

    __tablename__ = "audit_day_anchors"

    day: date = Field(primary_key=True)
    entries: int = Field(sa_type=BigIntPK)
    last_id: int = Field(sa_type=BigIntPK)
    head_hash: str = Field(max_length=64)
    at: datetime = Field(sa_column=_ts())
    signature: str = Field(max_length=128)


class AuditWitnessRow(HubModel, table=True):
    """A hub anchor as a terminal says it received it (``shegong hub audit verify --witnesses``)."""

    __tablename__ = "audit_witnesses"

    terminal_id: str = Field(primary_key=True, max_length=64)
    day: date = Field(primary_key=True)
    entries: int = Field(sa_type=BigIntPK)
    last_id: int = Field(sa_type=BigIntPK)
    head_hash: str = Field(max_length=64)
    at: datetime = Field(sa_column=_ts())
    signature: str = Field(max_length=128)
    received_at: datetime = Field(sa_column=_ts())


class TerminalAuditSegmentRow(HubModel, table=True):
    """A terminal's audit entry as it sent it up (an entry holds no ID number or name), its hash checked and
    following the one before: the hub's copy of each terminal's chain."""

    __tablename__ = "terminal_audit_segments"

    terminal_id: str = Field(primary_key=True, max_length=64)
    entry_id: int = Field(primary_key=True, sa_type=BigIntPK)
    at: datetime = Field(sa_column=_ts())
    actor: str = Field(sa_type=Text)
    action: str = Field(max_length=64)
    subject: str = Field(sa_type=Text)
    data: str = Field(sa_type=Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    received_at: datetime = Field(sa_column=_ts())
    sig: str | None = Field(
        default=None, max_length=128, description="the terminal's Ed25519 signature of ``hash`` (h0021)"
    )


class TerminalAuditKeyRow(HubModel, table=True):
    """The public half of a terminal's audit signing key (h0021): the hub checks the terminal's
    chain with it and, holding no private half, cannot write entries in the terminal's name. Registered at
    provisioning (``shegong hub terminal register … --audit-key``) or, failing that, the first key the
    terminal's own MQTT login presented (``how``: provisioning or first-use); never replaced silently."""

    __tablename__ = "terminal_audit_keys"

    terminal_id: str = Field(primary_key=True, max_length=64)
    public_key: str = Field(max_length=64)
    how: str = Field(max_length=16)
    registered_at: datetime = Field(sa_column=_ts())


_work_cols = table(CaseWorkRow).c
Index(  # small: only the cases decided after their statutory limit, which the report counts
    "ix_case_work_statutory_late",
    _work_cols.decided_at,
    sqlite_where=_work_cols.statutory_in_time.is_(False),
    postgresql_where=_work_cols.statutory_in_time.is_(False),
)


# --------------------------------------------------------------------------- issue 11
class ReturnCallRow(HubModel, table=True):
    """A return call and rectification (回访整改) a bad rating opened for the item's department (h0018).

    Opened when the rating reaches the hub, due ``return_call_days`` working days later; a clerk of the
    department (or the manager) records what the call found and what was put right."""

    __tablename__ = "return_calls"
    __table_args__ = (Index("ix_return_calls_dept_open", "department", "done_at"),)

    rating_id: str = Field(primary_key=True, max_length=36)
    case_id: str | None = Field(default=None, max_length=36)
    receipt_no: str = Field(default="", max_length=40)
    item_code: str = Field(default="", max_length=64)
    department: str = Field(default="", max_length=32)
    committee: str = Field(default="", max_length=16)
    level: int
    reason: str = Field(default="", sa_type=Text)
    opened_at: datetime = Field(sa_column=_ts(index=True))
    due_date: date
    done_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    done_by: str = Field(default="", max_length=64)
    reached: bool | None = Field(default=None, description="the resident was reached by the call")
    outcome: str = Field(default="", sa_type=Text, description="what the call found and what was put right")


class TranslationRow(HubModel, table=True):
    """Which Chinese text an English catalogue text was written for (h0018): the SHA-256 of the Chinese
    source when its English was last saved. A source whose hash differs has an English older than it."""

    __tablename__ = "catalogue_translations"

    code: str = Field(primary_key=True, max_length=16)
    field: str = Field(
        primary_key=True, max_length=64, description="the English field's path, e.g. materials.0.name_en"
    )
    source_hash: str = Field(max_length=64)
    updated_at: datetime = Field(sa_column=_ts())


# --------------------------------------------------------------------------- public channels (issue 16)
class PartnerRow(HubModel, table=True):
    """A partner system allowed to create and follow requests over Open311 (the 12345 hotline): its key's
    public id and the argon2 hash of its secret, never the secret itself (h0019)."""

    __tablename__ = "open311_partners"

    partner_id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    key_id: str = Field(max_length=16, unique=True, description="the key's public part, before the dot")
    key_hash: str = Field(sa_type=Text, description="argon2 hash of the key's secret part")
    created_at: datetime = Field(sa_column=_ts())
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    refused: int = Field(default=0, description="POSTs refused over the partner's request limit (h0022)")
    last_refused_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class PartnerRequestRow(HubModel, table=True):
    """A case a partner created over Open311: who created it, under which public request id (h0019).
    The caller's own data is in the case (``cases``), as a kiosk case's is."""

    __tablename__ = "open311_requests"
    __table_args__ = (Index("ix_open311_requests_partner", "partner_id", "created_at"),)

    case_id: str = Field(primary_key=True, max_length=36)
    service_request_id: str = Field(max_length=40, unique=True, description="the case's receipt number")
    partner_id: int = Field(sa_type=BigIntPK)
    created_at: datetime = Field(sa_column=_ts(index=True))


class NoticeRow(HubModel, table=True):
    """An SMS notice waiting to go to a resident who asked for them at the kiosk, with its retries (h0019).

    ``sent_at`` set: the gateway took it; ``failed_at`` set: given up after the last retry."""

    __tablename__ = "sms_outbox"
    __table_args__ = (Index("ix_sms_outbox_due", "sent_at", "failed_at", "next_at"),)

    id: int | None = Field(default=None, sa_type=BigIntPK, primary_key=True)
    case_id: str = Field(index=True, max_length=36)
    version: int = Field(description="the case version the notice tells of: one notice per change")
    kind: str = Field(max_length=16, description="accepted, more_materials, completed or refused")
    phone: str = Field(max_length=20)
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_column=_ts())
    attempts: int = 0
    next_at: datetime = Field(sa_column=_ts())
    last_error: str = Field(default="", max_length=300)
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    failed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class PortalFailureRow(HubModel, table=True):
    """Wrong progress look-ups on the resident portal, counted per client (an address; an IPv6 /64) and per
    receipt number, in short buckets (h0019): a client or a receipt with too many in the window is refused,
    however right its next try (:mod:`hub.portal.throttle`). No ID number or query code is kept: keys are
    keyed hashes."""

    __tablename__ = "portal_failures"
    __table_args__ = (Index("ix_portal_failures_bucket", "bucket"),)

    kind: str = Field(primary_key=True, max_length=8, description="client, receipt or held")
    key: str = Field(primary_key=True, max_length=64)
    bucket: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    failures: int = 0
