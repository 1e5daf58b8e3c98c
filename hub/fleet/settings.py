"""Thresholds of fleet health, from the ``[fleet]`` table of the hub's TOML file and ``SHEGONG_HUB_FLEET_…``.

Read once at start-up by :func:`load` (never at import); every field is documented here.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from hub.settings import DEFAULT_CONFIG
from kernel.settings import TomlSettings

__all__ = ["FleetSettings", "load"]


class FleetSettings(TomlSettings):
    config_env = "SHEGONG_HUB_CONFIG"
    default_config = DEFAULT_CONFIG
    toml_table = ("fleet",)
    model_config = SettingsConfigDict(env_prefix="SHEGONG_HUB_FLEET_", extra="ignore")

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
    disk_alert_mb: float = Field(500.0, ge=0, description="alert when a terminal's free disk is below")
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


def load(**overrides: object) -> FleetSettings:
    """Read the fleet settings now (once, at start-up); keyword overrides win."""
    return FleetSettings(**overrides)  # type: ignore[arg-type]
