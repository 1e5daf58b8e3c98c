"""The hub's settings: one tree per process, from ``SHEGONG_HUB_CONFIG`` (TOML) and ``SHEGONG_HUB_…``.

Sections are TOML tables and environment prefixes alike: ``[web] port = 8700`` or ``SHEGONG_HUB_WEB_PORT``,
``[fleet] clock_alert_s = 120`` or ``SHEGONG_HUB_FLEET_CLOCK_ALERT_S``. Read once at start-up (:func:`load`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from hub.errors import HubError
from kernel.settings import TomlSettings

__all__ = [
    "ClearTextBrokerPassword",
    "FleetSettings",
    "HubSettings",
    "Open311Settings",
    "PortalSettings",
    "SmsSettings",
    "ToolLogin",
    "ToolNeedsOwnUser",
    "ToolsSettings",
    "WebSettings",
    "load",
    "require_safe_broker_link",
    "tool_broker_login",
]

DEFAULT_CONFIG = "/etc/shegong/hub.toml"


class WebSettings(BaseModel):
    """The web UI and API (``[web]``, ``SHEGONG_HUB_WEB_…``)."""

    host: str = Field("127.0.0.1", description="address of the hub's web UI and API")
    port: int = Field(8700, description="port of the hub's web UI and API")
    secret: str | None = Field(
        None, description="signs CSRF tokens; set it (32+ random characters) so every worker and restart agree"
    )
    cookie_secure: bool = Field(True, description="session cookies only over HTTPS (false for plain-HTTP demos)")
    session_max_age_s: int = Field(28800, gt=0, description="a browser session ends after this long unused")
    session_absolute_s: int = Field(
        43200, gt=0, description="a browser session ends this long after sign-in, however busy it is"
    )
    token_max_age_s: int = Field(28800, gt=0, description="an API bearer token expires after this long")
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="addresses of reverse proxies whose X-Forwarded-For names the client (comma-separated, '*' for "
        "any): sign-in backoff is per client, so behind a proxy it must see the real address",
    )
    login_free_failures: int = Field(
        3, ge=1, description="failed sign-ins from one client before each further attempt must wait"
    )
    login_backoff_max_s: int = Field(
        300, ge=1, description="the longest a client waits between sign-in attempts (the wait doubles up to it)"
    )
    login_account_free_failures: int = Field(
        10,
        ge=1,
        description="failed sign-ins on one user name (from any clients) before clients that have failed must also "
        "wait on its account; a client with no failures never waits",
    )
    login_failures_keep_days: int = Field(
        90, ge=1, description="hourly tallies of failed sign-ins are kept this many days"
    )


class FleetSettings(BaseModel):
    """Thresholds of fleet health (``[fleet]``, ``SHEGONG_HUB_FLEET_…``)."""

    heartbeat_s: float = Field(10.0, gt=0, description="the terminals' heartbeat interval (edge heartbeat_s)")
    silent_after_beats: float = Field(
        3.0, gt=1, description="no heartbeat for this many intervals: 'silent', even if the broker says connected"
    )
    flap_transitions: int = Field(4, ge=2, description="this many link drops within flap_window_s: 'flapping'")
    flap_window_s: float = Field(600.0, gt=0, description="window in which link drops are counted")
    offline_alert_s: float = Field(600.0, ge=0, description="alert when a terminal is unreachable for longer")
    outbox_alert_s: float = Field(1800.0, ge=0, description="alert when the oldest unsent case is older")
    catalogue_grace_s: float = Field(
        600.0, ge=0, description="alert when a terminal runs an older catalogue this long after publish/reconnect"
    )
    clock_alert_s: float = Field(120.0, gt=0, description="alert when a terminal's clock is off by more")
    disk_alert_mb: float = Field(
        400.0,
        ge=0,
        description="alert when a terminal's free disk is below: twice its min_free_disk_mb (200), where its"
        " console turns amber, so the two say the same",
    )
    evaluate_every_s: float = Field(5.0, gt=0, description="period of the evaluation of every terminal")
    sample_every_s: float = Field(60.0, ge=0, description="keep one heartbeat per terminal per this many seconds")
    history_keep_s: float = Field(86400.0, gt=0, description="sampled heartbeats and link events kept this long")
    dead_letter_window_s: float = Field(
        600.0, gt=0, description="window in which a terminal's dead letters and rate-limited messages are counted"
    )
    dead_letter_alert: int = Field(
        20,
        ge=1,
        description="alert when this many of a terminal's messages were refused within the window "
        "(any message set aside over its rate alerts at once)",
    )

    @property
    def silent_after_s(self) -> float:
        return self.heartbeat_s * self.silent_after_beats


class SmsSettings(BaseModel):
    """SMS notices to residents who asked for them at the kiosk (``[sms]``, ``SHEGONG_HUB_SMS_…``; hub.notices)."""

    url: str | None = Field(
        None, description="the SMS gateway's HTTP endpoint (POST, JSON body); unset: notices wait in the outbox"
    )
    token: str | None = Field(None, description="sent as 'Authorization: Bearer <token>' to the gateway")
    timeout_s: float = Field(10.0, gt=0, description="one call to the gateway may take this long")
    per_minute: int = Field(60, ge=1, description="notices sent a minute at most, over all residents")
    max_attempts: int = Field(8, ge=1, le=50, description="tries per notice before it is given up (and logged)")
    backoff_s: float = Field(30.0, gt=0, description="wait after a first failure; doubled after each next one")
    backoff_max_s: float = Field(3600.0, gt=0, description="the longest wait between two tries")
    keep_days: float = Field(
        30.0,
        gt=0,
        description="a notice is removed (with its phone number) this long after it was made, sent or given up",
    )


class PortalSettings(BaseModel):
    """The resident portal (``/portal``) and the public statistics: the TOML table ``[portal]``, or
    ``SHEGONG_HUB_PORTAL_<FIELD>`` in the environment."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        "",
        description="the portal's address as residents reach it (https://…/portal): the printed record's QR code "
        "points there; terminals' receipts use the same address (their [kiosk] progress_url, set at provisioning). "
        "Empty: the address the request came in on",
    )
    client_failures: int = Field(
        10, ge=1, description="wrong progress look-ups one client (IPv4 address, IPv6 /64) may make per window"
    )
    receipt_failures: int = Field(
        5, ge=1, description="wrong progress look-ups of one receipt number, from anywhere, per window"
    )
    window_s: int = Field(
        3600, ge=1, description="the window of those limits: a refused client or receipt waits until it has passed"
    )
    held_failures: int = Field(
        5,
        ge=1,
        description="look-ups of one receipt with its number and query code right and the ID number wrong (someone"
        " holding the receipt guessing the birth date the receipt masks), per held_window_s: then the receipt is"
        " refused on the web until they age out (the kiosk and the counter still find it)",
    )
    held_window_s: int = Field(86400, ge=1, description="the window of held_failures")
    record_token_days: int = Field(
        3650, ge=1, description="a printed record's QR code verifies this long after it was downloaded"
    )
    stats_months: int = Field(
        12,
        ge=1,
        le=60,
        description="months the public statistics show, the last one over first (the month running is not shown: "
        "figures changing with each case would tell one case's outcome between two reloads)",
    )
    stats_min_count: int = Field(
        5,
        ge=1,
        description="a cell of the public statistics counting fewer cases (or ratings) than this is not shown, so "
        "no figure singles out a person",
    )


class Open311Settings(BaseModel):
    """Open311 GeoReport v2 for partner systems (``[open311]``, ``SHEGONG_HUB_OPEN311_…``; hub.open311)."""

    model_config = ConfigDict(extra="forbid")

    partner_requests: int = Field(
        600,
        ge=0,
        description="requests one partner may create (POST) within partner_window_s (0: no limit); beyond it its "
        "POSTs are refused with HTTP 429 and a Retry-After, and counted on the partner (`shegong hub partner list`)",
    )
    partner_window_s: int = Field(3600, ge=1, description="the window of partner_requests, in seconds")


class ToolsSettings(BaseModel):
    """The broker user of the hub's tools, programs that connect to the broker and are no ingest worker
    (``shegong hub audit verify --witnesses``): ``[tools]``, ``SHEGONG_HUB_TOOLS_…``. The broker takes the user
    name as client id, so a tool logged in as a worker's user would take over that worker's session."""

    model_config = ConfigDict(extra="forbid")

    broker_username: str = Field(
        "hub-tools", description="the tools' MQTT user (made by `shegong hub broker tool`), never an ingest worker's"
    )
    broker_password: str | None = Field(
        None,
        description="its password (SHEGONG_HUB_TOOLS_BROKER_PASSWORD, in /etc/shegong/hub.env when provisioned); "
        "needed whenever broker_password is set",
    )


#: Settings that moved into a section: an old flat key is refused by name rather than silently ignored.
MOVED = {
    **{f"web_{name}": f"[web] {name}" for name in WebSettings.model_fields if not name.startswith("login_")},
    **{name: f"[web] {name}" for name in WebSettings.model_fields if name.startswith("login_")},
    "clock_skew_alert_s": "[fleet] clock_alert_s",
}


class HubSettings(TomlSettings):
    config_env = "SHEGONG_HUB_CONFIG"
    default_config = DEFAULT_CONFIG
    model_config = SettingsConfigDict(
        env_prefix="SHEGONG_HUB_", env_nested_delimiter="_", env_nested_max_split=1, extra="ignore"
    )

    database_url: str = Field(
        "sqlite:///var/hub.db", description="SQLite file by default; postgresql+psycopg://… in production"
    )
    broker_host: str = Field("127.0.0.1", description="MQTT broker host")
    broker_port: int = Field(1883, description="MQTT broker port")
    broker_username: str | None = Field(None, description="the hub's MQTT user")
    broker_password: str | None = Field(None, description="the hub's MQTT password")
    broker_tls_ca: str | None = Field(None, description="CA file: set it to use TLS on the MQTT link")
    broker_insecure: bool = Field(
        False,
        description="allow a broker password without broker_tls_ca, i.e. sent in clear text (the loopback demo "
        "only); without it the hub refuses to start that way",
    )
    instance: str = Field(
        "hub-1",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="this ingest worker's name; its MQTT client id is shegong-<instance> on a broker without users, "
        "the broker user's name on one with (each worker then needs a user of its own)",
    )
    share_group: str | None = Field(None, description="MQTT v5 shared subscription group when several workers ingest")
    leader_check_s: float = Field(
        2.0,
        gt=0,
        description="how often each hub process checks or takes the lead (one process of a database runs the "
        "fleet evaluator, event resends and catalogue announcements; see hub/leader.py)",
    )
    keepalive_s: int = Field(20, ge=2, description="MQTT keepalive")
    case_key_file: str = Field(
        "/etc/shegong/hub-case.key",
        description="the hub's private case key (made by `shegong hub keys init`, mode 0600): it opens the cases "
        "terminals seal to its public key",
    )
    open_processes: int = Field(
        1,
        ge=0,
        le=16,
        description="processes beside each ingest worker that open the sealed cases of a group (the key agreement "
        "per case is a third of the hub's CPU per case; 0: opened in the worker's own process)",
    )
    queue_max: int = Field(
        10_000,
        ge=2,
        description="messages received and not yet committed; half of it, up to 1000, is the Receive Maximum the "
        "hub asks of the broker (unacknowledged QoS 1 messages), the rest is for QoS 0 heartbeats, which are "
        "dropped (counted as shegong_hub_ingest_dropped) while it is full",
    )
    terminal_rate_per_s: float = Field(
        50.0,
        ge=0,
        description="tokens a second one terminal's messages may take on average (0: no limit); a message takes "
        "one per started 4 KiB (a heartbeat one, a batch of 200 sealed cases about ten): 50 is about 1,000 cases a "
        "second. Beyond it and its burst, its messages are dropped on arrival unprocessed, recorded as rate_limited, "
        "and it sends its case batches again later",
    )
    terminal_burst: int = Field(
        500,
        ge=1,
        description="tokens one terminal may take at once above its rate (a backlog after an outage: 500 is about "
        "10,000 sealed cases at once, then about 1,000 a second; more lets one flooding terminal hold up the others "
        "longer: 1.3 s at 500, 0.1 s at 100 in tests/integration/test_ingest_flood.py)",
    )
    dead_letter_prefix_bytes: int = Field(
        2048, ge=0, le=4096, description="bytes of a refused payload kept in its dead letter (with the SHA-256 of all)"
    )
    dead_letters_per_terminal: int = Field(
        1000, ge=1, description="dead letters kept per terminal; older ones are removed (and counted as dropped)"
    )
    dead_letters_keep_days: float = Field(
        30.0, gt=0, description="dead letters older than this are purged by the hub's periodic work"
    )
    event_grace_s: float = Field(
        10.0,
        gt=0,
        description="a case event the broker has not acknowledged this long after it was committed (or sent) is "
        "sent again",
    )
    event_resend_s: float = Field(
        15.0, gt=0, description="how often unacknowledged case events are looked for and sent again"
    )
    backup_dir: str = Field(
        "var/backups",
        description="the hub's nightly backups (SQLite copy or pg_dump custom format, encrypted), mode 0700",
    )
    backups_kept: int = Field(7, ge=1, le=90, description="nightly backups kept, oldest removed first")
    backup_public_key: str = Field(
        "",
        description="every backup is encrypted to this public key (`shegong hub keys backup-init --out FILE` prints "
        "it; FILE, the private half that `shegong hub restore --key` needs, is kept off the hub). Empty: backups "
        "in clear, with a warning each night",
    )
    archive_dir: str = Field(
        "var/archive",
        description="closed cases past case_keep_days are written here (gzip JSON lines sealed to backup_public_key, "
        "0600; `shegong hub archive-open` reads one) before they are anonymised in the database",
    )
    case_keep_days: int = Field(
        1095,
        ge=30,
        description="a closed case's personal data (ID number, name, the case as submitted) stays this many days "
        "after its decision; then it is archived and blanked (the case's facts stay for reports and reconciliation)",
    )
    sessions_keep_days: float = Field(1.0, gt=0, description="expired web sessions are purged this long after")
    night_missed_after_h: float = Field(
        36.0, gt=0, description="a registered terminal with no nightly result for this long gets a night_missed alert"
    )
    night_check_s: float = Field(
        300.0,
        gt=0,
        description="how often the running hub's fleet evaluation looks for terminals that missed their night",
    )
    audit_key_file: str | None = Field(
        None,
        description="the hub's audit key (32 random bytes, base64, mode 0600; `shegong hub keys init` makes it "
        "beside the case key): it MACs each audit entry and signs the daily anchors. Unset: <case_key_file>.audit",
    )
    web: WebSettings = Field(default_factory=WebSettings, description="the web UI and API ([web])")
    fleet: FleetSettings = Field(default_factory=FleetSettings, description="fleet health thresholds ([fleet])")
    sms: SmsSettings = Field(default_factory=SmsSettings, description="SMS notices to residents ([sms])")

    @field_validator("backup_public_key")
    @classmethod
    def _backup_key(cls, value: str) -> str:
        from hub.night.backup import public_key  # PyNaCl only when the key is set

        if value.strip():
            public_key(value)
        return value.strip()

    @model_validator(mode="before")
    @classmethod
    def _refuse_moved(cls, data: Any) -> Any:
        moved = [f"{key} is now {MOVED[key]}" for key in data if key in MOVED] if isinstance(data, dict) else []
        if moved:
            raise ValueError("settings moved into sections: " + "; ".join(moved))
        return data

    in_force_check_s: float = Field(
        2.0,
        ge=0,
        description="how often the hub looks for a catalogue version published, or a calendar edit made, by "
        "another process (a change made in this process is in force at once)",
    )
    portal: PortalSettings = Field(
        default_factory=PortalSettings, description="the resident portal and the public statistics ([portal])"
    )
    open311: Open311Settings = Field(
        default_factory=Open311Settings, description="Open311 GeoReport v2 for partner systems ([open311])"
    )
    tools: ToolsSettings = Field(
        default_factory=ToolsSettings, description="the broker user of the hub's tools, not its workers' ([tools])"
    )


class ClearTextBrokerPassword(HubError):
    """A broker password with no CA file: it would cross the network in clear text."""


def require_safe_broker_link(settings: HubSettings) -> None:
    """Refuse a broker password without TLS unless ``broker_insecure`` says so (the loopback demo).

    A hub that logged in over plain TCP would hand its password, and with it every terminal's cases, to
    anyone on the path; refusing to start is louder than a warning in a log nobody reads.
    """
    if settings.broker_password and not settings.broker_tls_ca and not settings.broker_insecure:
        raise ClearTextBrokerPassword(
            "broker_password is set but broker_tls_ca is not: the password would be sent in clear text. "
            "Set broker_tls_ca (the broker's CA file), or broker_insecure = true for a loopback demo only"
        )


class ToolNeedsOwnUser(HubError):
    """A tool would log in as an ingest worker's broker user (and take over that worker's session)."""


@dataclass(frozen=True, slots=True)
class ToolLogin:
    """How a tool connects: its client id, and its user and password on a broker with users."""

    client_id: str
    username: str | None = None
    password: str | None = None


def tool_broker_login(settings: HubSettings, tool: str) -> ToolLogin:
    """The login of the tool ``tool`` (a word for its client id on a broker without users).

    On a broker with users (``broker_password`` set) the tool logs in as ``[tools] broker_username`` with
    that name as client id (Mosquitto imposes it, a clustered broker's HTTP backend demands it); refused when
    its password is missing or its user is the workers', which would take over a running worker's session."""
    require_safe_broker_link(settings)
    tools = settings.tools
    if not settings.broker_password:
        if tools.broker_password:
            raise ToolNeedsOwnUser(
                "[tools] broker_password is set but broker_password is not: set both (a broker with users) or neither"
            )
        return ToolLogin(client_id=f"shegong-{settings.instance}-{tool}-{os.getpid()}")
    worker = settings.broker_username or "hub"
    if tools.broker_username == worker:
        raise ToolNeedsOwnUser(
            f"[tools] broker_username is {worker!r}, the ingest workers' broker user: a tool logged in as it would "
            "take over a running worker's session. Make the tools a user of their own (`shegong hub broker tool`)"
        )
    if not tools.broker_password:
        raise ToolNeedsOwnUser(
            "[tools] broker_password (SHEGONG_HUB_TOOLS_BROKER_PASSWORD) is not set: the hub's tools will not log "
            f"in as the ingest workers' broker user {worker!r} (it would take over a running worker's session). "
            "Make the tools' user with `shegong hub broker tool` and set its password there (provisioning writes "
            "it to /etc/shegong/hub.env)"
        )
    return ToolLogin(client_id=tools.broker_username, username=tools.broker_username, password=tools.broker_password)


def load(**overrides: object) -> HubSettings:
    """Read the settings now (once, at start-up); keyword overrides win."""
    return HubSettings.read(**overrides)
