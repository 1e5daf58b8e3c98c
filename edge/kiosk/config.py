"""The kiosk's own view of the terminal's settings, taken once at start-up.

Each value comes from :class:`edge.settings.EdgeSettings` (which reads the TOML file and the
``SHEGONG_…`` variable named below); objects without a field get the default. Never read at import time.

| field | variable | default |
|---|---|---|
| ``host`` | ``SHEGONG_KIOSK_HOST`` | ``127.0.0.1`` (the kiosk's own browser) |
| ``port`` | ``SHEGONG_KIOSK_PORT`` | ``8600`` |
| ``allow_remote`` | ``SHEGONG_KIOSK_ALLOW_REMOTE`` | ``false``: a ``host`` that is not loopback refuses to start |
| ``idle_timeout_s`` | ``SHEGONG_KIOSK_IDLE_TIMEOUT_S`` | ``60``: a session with no touch ends |
| ``warn_before_s`` | ``SHEGONG_KIOSK_WARN_BEFORE_S`` | ``20``: the warning shows this long before (WCAG 2.2.1) |
| ``staff_pins`` | ``SHEGONG_KIOSK_STAFF_PINS`` | empty: staff mode is off until PINs are provisioned |
| ``staff_signin_s`` | ``SHEGONG_KIOSK_STAFF_SIGNIN_S`` | ``1800``: a staff sign-in lasts this long, across residents |
| ``progress_url`` | ``SHEGONG_KIOSK_PROGRESS_URL`` | ``https://shegong.example/progress``: the receipt QR |
| ``reader_port`` | ``SHEGONG_READER_PORT`` | ``/dev/shegong-reader`` (empty: no ID card reader) |
| ``sscard_lib`` | ``SHEGONG_SSCARD_LIB`` | empty: no social-security card reader |
| ``printer_port`` | ``SHEGONG_PRINTER_PORT`` | ``/dev/shegong-printer`` (empty: no printer) |
| ``scanner_port`` | ``SHEGONG_SCANNER_PORT`` | ``/dev/shegong-scanner`` (empty: no scanner) |
| ``committee_area`` | ``SHEGONG_COMMITTEE_AREA`` (JSON) | none: "lives in this community" is always a staff check |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from protocol.residence import CommitteeArea

__all__ = ["KioskConfig"]


@dataclass(frozen=True)
class KioskConfig:
    host: str = "127.0.0.1"
    port: int = 8600
    allow_remote: bool = False
    idle_timeout_s: float = 60.0
    warn_before_s: float = 20.0
    #: entries made with ``python -m edge.kiosk.staff STAFF_ID``; none shipped: no PINs, no staff mode
    staff_pins: str = ""
    #: a staff member stays signed in this long from their PIN, across residents (or until 退出)
    staff_signin_s: float = 1800.0
    progress_url: str = "https://shegong.example/progress"
    reader_port: str = "/dev/shegong-reader"
    sscard_lib: str = ""
    printer_port: str = "/dev/shegong-printer"
    scanner_port: str = "/dev/shegong-scanner"
    committee_name: str = "示例居委会"
    committee_area: CommitteeArea | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.idle_timeout_s <= 0 or not 0 < self.warn_before_s < self.idle_timeout_s:
            raise ValueError("need 0 < warn_before_s < idle_timeout_s")
        if self.staff_signin_s <= 0:
            raise ValueError("need staff_signin_s > 0")

    @classmethod
    def from_settings(cls, settings: object, **overrides: Any) -> KioskConfig:
        """The terminal's settings fields (``EdgeSettings``, which reads the ``SHEGONG_…`` variables),
        else the defaults; ``overrides`` win over all."""
        values: dict[str, Any] = {}
        names = {
            "host": "kiosk_host",
            "port": "kiosk_port",
            "allow_remote": "kiosk_allow_remote",
            "idle_timeout_s": "kiosk_idle_timeout_s",
            "warn_before_s": "kiosk_warn_before_s",
            "staff_pins": "kiosk_staff_pins",
            "staff_signin_s": "kiosk_staff_signin_s",
            "progress_url": "kiosk_progress_url",
            "reader_port": "reader_port",
            "sscard_lib": "sscard_lib",
            "printer_port": "printer_port",
            "scanner_port": "scanner_port",
            "committee_name": "committee_name",
            "committee_area": "committee_area",
        }
        for name, attr in names.items():
            value = getattr(settings, attr, None)
            if value is not None:
                values[name] = value
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> KioskConfig:
        return replace(self, **changes)
