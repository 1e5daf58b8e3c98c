"""The terminal's settings: one object per process, read at start-up from a TOML file and the environment.

Precedence: ``SHEGONG_…`` environment variables, then the TOML file named by ``SHEGONG_EDGE_CONFIG``
(default ``/etc/shegong/edge.toml``), then the defaults below. Never read at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import SettingsConfigDict

from kernel.settings import TomlSettings
from protocol.residence import CommitteeArea

__all__ = ["DeviceSettings", "EdgeSettings", "KioskSettings", "load"]

DEFAULT_CONFIG = "/etc/shegong/edge.toml"


class KioskSettings(BaseModel):
    """The kiosk web app on the touch screen (``[kiosk]``, ``SHEGONG_KIOSK_…``)."""

    host: str = Field("127.0.0.1", description="address the kiosk web app listens on (the touch screen's browser)")
    port: int = Field(8600, description="port of the kiosk web app")
    allow_remote: bool = Field(
        False,
        description="let the kiosk listen on an address other hosts reach (host not loopback); logged as a"
        " warning. Off: such a host refuses to start",
    )
    # Long enough to read an item's page without touching it (its median is about 390 characters, the longest
    # 600) and to answer the warning slowly: 40 s was under what an elderly reader needs (accessibility review).
    idle_timeout_s: float = Field(120.0, gt=0, description="a resident's session with no touch ends after this")
    warn_before_s: float = Field(30.0, gt=0, description="the idle warning shows this long before (WCAG 2.2.1)")
    staff_pins: str | None = Field(
        None,
        description="staff PIN entries (python -m edge.kiosk.staff STAFF_ID), comma separated; unset: no staff"
        " mode (none ships with the terminal)",
    )
    staff_signin_s: float = Field(
        1800.0, gt=0, description="a staff member stays signed in at the kiosk this long from the PIN, across residents"
    )
    progress_url: str = Field("https://shegong.example/progress", description="base URL in the receipt's QR code")
    ime_index: Path | None = Field(
        None,
        description="the pinyin keyboard's word index (built on first use, or by `shegong edge ime build`)."
        " Unset: data_dir/ime.sqlite",
    )

    def ime_path(self, data_dir: Path) -> Path:
        """Where the pinyin keyboard's index is: ``ime_index``, else ``data_dir/ime.sqlite``."""
        return self.ime_index or data_dir / "ime.sqlite"

    @model_validator(mode="after")
    def _warning_fits(self) -> KioskSettings:
        if not self.warn_before_s < self.idle_timeout_s:
            raise ValueError("need warn_before_s < idle_timeout_s")
        return self


class DeviceSettings(BaseModel):
    """Where the devices are (``[devices]``, ``SHEGONG_DEVICES_…``): an empty value means that device is absent."""

    reader: str = Field("/dev/shegong-reader", description="serial port of the ID-card reader; empty: none")
    sscard_lib: str = Field(
        "", description="vendor library implementing iReadCardBas (social-security card); empty: none"
    )
    printer: str = Field("/dev/shegong-printer", description="serial port of the ESC/POS receipt printer; empty: none")
    scanner: str = Field("/dev/shegong-scanner", description="serial port of the QR scanner (USB-CDC); empty: none")


#: Settings that moved into a section: an old flat key is refused by name rather than silently ignored.
MOVED = {
    **{f"kiosk_{name}": f"[kiosk] {name}" for name in KioskSettings.model_fields},
    "reader_port": "[devices] reader",
    "sscard_lib": "[devices] sscard_lib",
    "printer_port": "[devices] printer",
    "scanner_port": "[devices] scanner",
}
#: Variables whose name changed with the move (the kiosk's kept theirs: SHEGONG_KIOSK_PORT is [kiosk] port).
MOVED_VARIABLES = {
    "SHEGONG_READER_PORT": "SHEGONG_DEVICES_READER",
    "SHEGONG_SSCARD_LIB": "SHEGONG_DEVICES_SSCARD_LIB",
    "SHEGONG_PRINTER_PORT": "SHEGONG_DEVICES_PRINTER",
    "SHEGONG_SCANNER_PORT": "SHEGONG_DEVICES_SCANNER",
}


class EdgeSettings(TomlSettings):
    config_env = "SHEGONG_EDGE_CONFIG"
    default_config = DEFAULT_CONFIG
    model_config = SettingsConfigDict(
        env_prefix="SHEGONG_", env_nested_delimiter="_", env_nested_max_split=1, extra="ignore"
    )

    terminal_id: str = Field(
        "T-DEV", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="stable MQTT client id and topic level"
    )
    committee_code: str = Field("JW000", pattern=r"^[A-Za-z0-9]{1,16}$", description="prefix of receipt numbers")
    receipt_series: int | None = Field(
        None,
        ge=1,
        le=9,
        description="this terminal's receipt series within its committee, given at provisioning (`shegong hub "
        "terminal register T --committee C --series N`): the first digit of its receipts' sequence"
        " (JW001-20261204-20001), so terminals of one committee never make the same number. Unset: no digit"
        " (a committee with one terminal)",
    )
    committee_name: str = Field("示例居委会", description="shown on the kiosk and receipts")
    committee_area: CommitteeArea | None = Field(
        None,
        description="the committee's own area: its district and streets, each whole or by number ranges "
        '(TOML: [committee_area] district = "浦东新区", streets = [{street = "潍坊路", lanes = "1-200"}]; '
        "docs/kiosk.md). A card address in it shows the holder lives here; unset: staff always check",
    )
    data_dir: Path = Field(Path("/var/lib/shegong"), description="the database lives here (0700)")
    run_dir: Path | None = Field(
        None,
        description="per-boot files: the kiosk browser's way in (kiosk.url, kiosk.html). Unset: data_dir/run; "
        "under systemd /run/shegong (RuntimeDirectory)",
    )
    log_level: str = Field(
        "INFO",
        pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$",
        description="lowest level the terminal service logs (SHEGONG_LOG_LEVEL)",
    )
    log_file: Path | None = Field(
        None,
        description="the terminal service's log file, rotated at 5 MiB with 4 old files kept, ID numbers masked"
        " (the console reads it where journald is not). Unset: data_dir/log/edge.log",
    )
    db_max_pages: int | None = Field(None, description="SQLite max_page_count: a hard cap on the database size")

    broker_host: str = Field("127.0.0.1", description="MQTT broker (the hub's Mosquitto) host")
    broker_port: int = Field(1883, description="MQTT broker port")
    broker_username: str | None = Field(
        None, description="per-terminal MQTT user (defaults to terminal_id if a password is set)"
    )
    broker_password: str | None = Field(None, description="per-terminal MQTT password")
    broker_tls_ca: Path | None = Field(None, description="CA file: set it to use TLS on the MQTT link")
    broker_insecure: bool = Field(
        False,
        description="allow a broker password over plain MQTT (no broker_tls_ca): the demo on loopback only. "
        "Without it a terminal with a password and no CA refuses to start",
    )
    hub_public_key: str = Field(
        "",
        description="the hub's public case key (`shegong hub keys public`); every case is sealed to it on "
        "acceptance. Empty: this terminal accepts no cases",
    )
    seal_key_cases: int = Field(
        1000, ge=1, description="cases sealed under one ephemeral key at most (a key also lasts at most a minute)"
    )
    keepalive_s: int = Field(20, ge=2, description="MQTT keepalive; a half-open link is noticed within 1.5x")

    batch_size: int = Field(200, ge=1, le=1000, description="cases per published batch (also cut at the size limit)")
    inflight_window: int = Field(20, ge=1, description="batches published and not yet acked by the hub")
    ack_timeout_s: float = Field(
        10.0, gt=0, description="republish a batch the hub has not acked by then; each later wait doubles"
    )
    resend_max_s: float = Field(
        30.0, gt=0, le=30, description="longest wait for an ack before a batch is sent again (at most 30 s)"
    )
    backoff_min_s: float = Field(0.5, gt=0, description="first reconnect delay; doubles with full jitter")
    backoff_max_s: float = Field(
        30.0, gt=0, le=30, description="longest reconnect delay (at most 30 s: a terminal is never away for long)"
    )
    probe_interval_s: float = Field(
        2.0,
        gt=0,
        description="while the link is down after a network failure, a TCP connection to the broker is tried"
        " about this often; when one holds, the terminal reconnects at once instead of waiting out its backoff",
    )
    heartbeat_s: float = Field(10.0, gt=0, description="interval of health heartbeats")

    outbox_limit: int = Field(100_000, ge=1, description="unsent items past which new submissions are refused")
    min_free_disk_mb: float = Field(200.0, ge=0, description="free disk below which new submissions are refused")
    reserve_pages: int = Field(64, ge=0, description="pages kept free under db_max_pages for alarms and acks")
    retention_days: int = Field(
        30,
        ge=1,
        description="a case the hub acked and closed, and an acked rating, are purged this many days after"
        " their last change (hourly, and by `shegong edge purge`), once the hub confirmed it in a nightly"
        " reconciliation; open, unacked or unreconciled ones stay",
    )
    open_case_limit_days: int = Field(
        365,
        ge=1,
        description="a case the centre never closed is purged all the same this many days after its last change"
        " (acked and reconciled only), with an audit entry counting it",
    )
    night_window_days: int = Field(
        30, ge=1, le=365, description="days of cases and ratings the nightly reconciliation compares with the hub"
    )
    night_backups: int = Field(3, ge=1, le=30, description="nightly database backups kept (oldest removed first)")
    night_reply_timeout_s: float = Field(
        60.0, gt=0, description="how long the nightly run waits for each answer of the hub"
    )
    clock_skew_alarm_s: float = Field(
        120.0, gt=0, description="the nightly clock check raises an alarm when the hub's clock is this far off"
    )

    kiosk: KioskSettings = Field(default_factory=KioskSettings, description="the kiosk web app ([kiosk])")
    devices: DeviceSettings = Field(default_factory=DeviceSettings, description="device ports ([devices])")

    @model_validator(mode="before")
    @classmethod
    def _refuse_moved(cls, data: Any) -> Any:
        moved = [f"{key} is now {MOVED[key]}" for key in data if key in MOVED] if isinstance(data, dict) else []
        moved += [f"{old} is now {new}" for old, new in MOVED_VARIABLES.items() if old in os.environ]
        if moved:
            raise ValueError("settings moved into sections: " + "; ".join(moved))
        return data

    audit_key_file: Path | None = Field(
        None,
        description="this terminal's audit signing key (Ed25519, 0600, made at provisioning by "
        "`shegong edge keys init`; the hub registers its public half). Unset: data_dir/audit.key",
    )
    hub_audit_public_key: str = Field(
        "",
        pattern=r"^([0-9a-f]{64})?$",
        description="the hub's audit verification key (Ed25519, hex; `shegong hub keys audit-public`): a signed"
        " daily audit anchor is kept only when it holds, one that fails is refused with an alarm. Empty (a"
        " terminal provisioned before it existed): anchors are kept unchecked, with a warning",
    )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "edge.db"

    @property
    def audit_key_path(self) -> Path:
        """The audit signing key: ``audit_key_file``, else ``data_dir/audit.key`` (outside the database)."""
        return self.audit_key_file or self.data_dir / "audit.key"

    @property
    def backup_dir(self) -> Path:
        """Nightly backups of the database (0700), newest last by name."""
        return self.data_dir / "backups"

    @property
    def log_path(self) -> Path:
        """The terminal service's log file: ``log_file``, else ``data_dir/log/edge.log``."""
        return self.log_file or self.data_dir / "log" / "edge.log"

    @property
    def runtime_dir(self) -> Path:
        """Where per-start files go: ``run_dir``, else ``data_dir/run``."""
        return self.run_dir or self.data_dir / "run"


def load(**overrides: object) -> EdgeSettings:
    """Read the settings now (call once at start-up); keyword overrides win over everything."""
    return EdgeSettings.read(**overrides)
