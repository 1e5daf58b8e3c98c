"""The inventory: one TOML file listing a subdistrict's terminals, with defaults and a hub.

```toml
wheelhouse = "wheelhouse"   # built by `shegong provision wheelhouse`, relative to this file

[defaults]                 # every terminal's, unless the terminal says otherwise
ssh_user = "root"
ssh_key = "~/.ssh/shegong_admin"
broker_host = "10.20.0.5"
broker_tls_ca = "ca.crt"   # a path on the administrator's machine, relative to this file
hub_public_key = "…"       # `shegong hub keys public`
hub_audit_public_key = "…" # `shegong hub keys audit-public`
portal_url = "https://zwfw.example.gov.cn/portal"  # the hub's resident portal: the receipts' QR codes open it
admin_networks = ["10.9.0.0/24"]
time_server = "10.20.0.1"

[hub]                      # where `shegong hub broker add` and `hub terminal register` run
host = "10.20.0.5"

[[terminal]]
id = "JW001-K1"
committee_code = "JW001"
committee_name = "潍坊一村居委会"
host = "10.21.3.11"
committee_area = { district = "浦东新区", streets = [{ street = "潍坊路", lanes = "1-200" }] }
```

:func:`load` reads and checks it; every mistake comes back at once in words naming the file, the
terminal and the field (:class:`InventoryError`), never as a traceback.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from protocol.residence import CommitteeArea
from provisioning.errors import InventoryError

__all__ = ["DEFAULT_DEVICES", "Defaults", "HubTarget", "Inventory", "Terminal", "UsbId", "load", "secrets_in"]

# The common USB-serial bridges card readers are built on (CP210x, CH340, FTDI, PL2303), and widely sold
# receipt-printer and scanner makers. A terminal whose devices differ names its own in [defaults.devices].
DEFAULT_DEVICES: dict[str, list[str]] = {
    "reader": ["10c4:ea60", "1a86:7523", "0403:6001", "067b:2303"],
    "printer": ["0416:5011", "0fe6:811e"],
    "scanner": ["1eab:*", "0c2e:*"],
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UsbId(_Model):
    """A USB vendor and product id (four hex digits each; ``*`` for any product of the vendor)."""

    vendor: str = Field(pattern=r"^[0-9a-f]{4}$")
    product: str = Field(pattern=r"^([0-9a-f]{4}|\*)$")

    @classmethod
    def parse(cls, text: str) -> UsbId:
        vendor, _, product = text.lower().partition(":")
        return cls(vendor=vendor, product=product or "*")


class Settings(_Model):
    """What terminals share unless one says otherwise (the ``[defaults]`` table; each may be set per terminal)."""

    ssh_user: str = Field("root", description="the SSH user; not root: it must be allowed sudo without a password")
    ssh_port: int = Field(22, ge=1, le=65535)
    ssh_key: Path | None = Field(None, description="the administrator's private key (else the SSH agent's)")
    known_hosts: Path = Field(Path("~/.ssh/known_hosts"), description="where terminals' host keys are pinned")
    broker_host: str = Field("", description="the hub's Mosquitto, as terminals reach it")
    broker_port: int = Field(8883, ge=1, le=65535)
    broker_tls_ca: Path | None = Field(None, description="the broker's CA (`shegong hub broker tls`), on this machine")
    hub_public_key: str = Field("", description="`shegong hub keys public`: terminals seal cases to it")
    hub_audit_public_key: str = Field(
        "",
        pattern=r"^([0-9a-f]{64})?$",
        description="`shegong hub keys audit-public`: terminals keep only the daily audit anchors it signed",
    )
    portal_url: str = Field(
        "",
        pattern=r"^(https?://\S+)?$",
        description="the hub's resident portal as residents reach it (https://…/portal): a receipt's QR code opens "
        "its progress page (the terminal's [kiosk] progress_url); empty: the edge's default",
    )
    admin_networks: list[str] = Field(default_factory=list, description="SSH is allowed from these only")
    time_server: str = Field("", description="the centre's NTP server; empty: the broker host")
    journal_max_use: str = Field("200M", pattern=r"^\d+[KMG]$", description="journald's SystemMaxUse")
    devices: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_DEVICES))
    edge: dict[str, Any] = Field(default_factory=dict, description="more edge settings, written into edge.toml")
    sshd_extra: list[str] = Field(default_factory=list, description="more sshd_config lines (tests, special sites)")
    firewall: Literal["load", "check"] = Field(
        "load",
        description="load: the rules are checked (nft -c) and loaded, and put back as they were if a second SSH "
        "connection is then refused; check: only checked, not loaded (an image being prepared elsewhere)",
    )
    firewall_rollback_s: int = Field(
        60,
        ge=5,
        le=3600,
        description="load: the rules from before come back by themselves after this long "
        "unless a second SSH connection got in (it confirms the new ones)",
    )
    health_check: str = Field(
        "", description="upgrade: a command on the terminal that must succeed (default: the outbox opens)"
    )

    @field_validator("admin_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not a network (write it as 10.9.0.0/24)") from None
        return value

    @field_validator("devices")
    @classmethod
    def _devices(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(value) - set(DEFAULT_DEVICES)
        if unknown:
            raise ValueError(f"unknown device {sorted(unknown)[0]!r}: the devices are {', '.join(DEFAULT_DEVICES)}")
        for ids in value.values():
            for text in ids:
                try:
                    UsbId.parse(text)
                except ValidationError:
                    raise ValueError(
                        f"{text!r} is not a USB id (write vendor:product in hex, e.g. 1a86:7523)"
                    ) from None
        return {**DEFAULT_DEVICES, **value}

    def usb_ids(self, device: str) -> list[UsbId]:
        return [UsbId.parse(t) for t in self.devices[device]]


class Defaults(Settings):
    """The ``[defaults]`` table."""


class Terminal(Settings):
    """One ``[[terminal]]``: who it is, where it is, and any default it overrides."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="the terminal id (MQTT user and client id)")
    committee_code: str = Field(pattern=r"^[A-Za-z0-9]{1,16}$")
    committee_name: str = Field(min_length=1)
    committee_area: CommitteeArea | None = None
    receipt_series: int | None = Field(
        None,
        ge=1,
        le=9,
        description="a digit of its own among its committee's terminals (receipt numbers stay unique): needed "
        "when a committee has more than one",
    )
    host: str = Field(min_length=1, description="address or name the administrator's machine reaches over SSH")

    @model_validator(mode="after")
    def _complete(self) -> Terminal:
        missing = [f for f in ("broker_host", "hub_public_key", "hub_audit_public_key") if not getattr(self, f)]
        if missing:
            raise ValueError(f"{_listed(missing)} must be set, in [defaults] or for this terminal")
        if self.broker_tls_ca is None:
            raise ValueError("broker_tls_ca must be set: terminals reach the broker over TLS only")
        return self

    @property
    def ntp(self) -> str:
        return self.time_server or self.broker_host


def _listed(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class HubTarget(_Model):
    """The ``[hub]`` table: where terminals are given broker users and entered in the terminal register."""

    host: str = Field(description='the hub machine over SSH, or "@local" for this machine')
    ssh_user: str = "root"
    ssh_port: int = Field(22, ge=1, le=65535)
    ssh_key: Path | None = None
    shegong: str = Field("/opt/shegong/current/bin/shegong", description="the hub's shegong command")
    broker_dir: str = Field("/etc/mosquitto/shegong", description="the broker's users, ACL and TLS files")
    reload_broker: str = Field("systemctl reload mosquitto", description="makes Mosquitto read its users again")
    env: dict[str, str] = Field(default_factory=dict, description="environment for the hub's commands")
    # `shegong provision apply` brings the hub machine to its desired state too when this is set
    provision: bool = Field(False, description="apply: install the hub here (release, hub.toml, broker, units)")
    settings: dict[str, Any] = Field(default_factory=dict, description="the hub's settings, written into hub.toml")
    broker_names: list[str] = Field(default_factory=list, description="names/addresses in the broker's certificate")
    broker_port: int = Field(8883, ge=1, le=65535, description="the broker's TLS listener")
    broker_bind: str = Field("0.0.0.0", description="the address the broker's listener binds")
    ingest_workers: int = Field(2, ge=1, le=16, description="ingest workers (shegong-ingest@N.service) sharing intake")

    @property
    def address(self) -> str:
        return self.host if self.ssh_port == 22 else f"{self.host}:{self.ssh_port}"


class Inventory(_Model):
    path: Path
    terminals: list[Terminal]
    hub: HubTarget | None = None
    wheelhouse: Path = Field(description="the wheels terminals install from (`shegong provision wheelhouse`)")

    def select(self, limit: list[str] | None) -> list[Terminal]:
        """The terminals named by ``--limit`` (all when None); an unknown id is an error."""
        if not limit:
            return list(self.terminals)
        known = {t.id: t for t in self.terminals}
        unknown = [i for i in limit if i not in known]
        if unknown:
            raise InventoryError(f"{self.path}: no terminal {', '.join(unknown)} in the inventory")
        return [known[i] for i in limit]


_PATH_FIELDS = ("ssh_key", "known_hosts", "broker_tls_ca")


def _resolve(table: dict[str, Any], base: Path) -> dict[str, Any]:
    """Paths relative to the inventory file, ``~`` expanded."""
    out = dict(table)
    for key in _PATH_FIELDS:
        if isinstance(out.get(key), str):
            p = Path(out[key]).expanduser()
            out[key] = p if p.is_absolute() else base / p
    return out


def _words(exc: ValidationError, where: str) -> list[str]:
    lines = []
    for err in exc.errors():
        field = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is missing"
        elif err["type"] == "extra_forbidden":
            msg = "is not a setting the inventory knows (misspelt?)"
        lines.append(f"{where}: {field + ' ' if field else ''}{msg}")
    return lines


# A setting whose value is a secret: broker passwords, staff PIN hashes (a PIN has few digits: its scrypt
# hash is brute-forced offline), the hub's web secret and gateway token; by the last part of its name.
_SECRET_NAME = re.compile(r"(password|secret|token|pins)$", re.I)
_URL_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]+@")  # postgresql+psycopg://user:password@host/db


def secrets_in(raw: object, where: str = "") -> list[str]:
    """The names of the secrets in an inventory as read (a table, at any depth), e.g. ``defaults.edge.kiosk.
    staff_pins``: a setting named as a secret, or a URL with a password in it."""
    if isinstance(raw, dict):
        found = []
        for key, value in raw.items():
            name = f"{where}.{key}" if where else str(key)
            if _SECRET_NAME.search(str(key)) and value not in ("", None):
                found.append(name)
            else:
                found += secrets_in(value, name)
        return found
    if isinstance(raw, list):
        return [s for n, item in enumerate(raw, 1) for s in secrets_in(item, f"{where}[{n}]")]
    return [where] if isinstance(raw, str) and _URL_PASSWORD.search(raw) else []


def _private(path: Path, raw: dict[str, Any]) -> None:
    """Refuse an inventory holding secrets that other users can read, as ssh refuses such a private key:
    the administrator tightens it once (``chmod 600``) rather than have it read by every account on the
    laptop. One without secrets (hosts and defaults a team shares) may be readable."""
    mode = path.stat().st_mode & 0o777
    found = secrets_in(raw)
    if mode & 0o077 and found:
        who = " and ".join(w for bits, w in ((0o070, "its group"), (0o007, "other users")) if mode & bits)
        raise InventoryError(
            f"{path} holds secrets ({', '.join(found[:3])}{', …' if len(found) > 3 else ''}) and is open to {who} "
            f"(mode {mode:04o}): run `chmod 600 {path}` (ssh refuses a private key so for the same reason)"
        )


def _series_problems(path: Path, terminals: list[Terminal]) -> list[str]:
    """Terminals of one committee each need a receipt series of their own: without one, both number the day's
    first case 0001 and the hub refuses the second as a duplicate receipt while its resident holds it."""
    problems: list[str] = []
    committees: dict[str, list[Terminal]] = {}
    for t in terminals:
        committees.setdefault(t.committee_code, []).append(t)
        if "receipt_series" in t.edge:
            problems.append(f"{path} terminal {t.id}: set receipt_series on the terminal, not in its edge settings")
    for code, group in committees.items():
        if len(group) < 2:
            continue
        ids = ", ".join(t.id for t in group)
        if any(t.receipt_series is None for t in group):
            problems.append(
                f"{path}: terminals {ids} serve committee {code}: give each its own receipt_series (1-9), or they "
                "print the same receipt numbers"
            )
        elif len({t.receipt_series for t in group}) < len(group):
            problems.append(f"{path}: terminals {ids} of committee {code} share a receipt_series: each needs its own")
    return problems


def load(path: Path) -> Inventory:
    """Read and check the inventory at ``path``; :class:`InventoryError` lists every problem found, or says
    that it holds secrets other users can read (:func:`_private`)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InventoryError(f"cannot read the inventory {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{path} is not valid TOML: {exc}") from None
    _private(path, raw)
    base = path.resolve().parent
    problems: list[str] = []
    unknown = set(raw) - {"defaults", "hub", "terminal", "wheelhouse"}
    problems += [
        f"{path}: unknown setting {name!r} (the inventory has wheelhouse, [defaults], [hub], [[terminal]])"
        for name in sorted(unknown)
    ]
    wheelhouse = Path(str(raw.get("wheelhouse", "wheelhouse"))).expanduser()
    wheelhouse = wheelhouse if wheelhouse.is_absolute() else base / wheelhouse
    defaults = _resolve(raw.get("defaults", {}), base)
    try:
        Defaults(**defaults)
    except ValidationError as exc:
        problems += _words(exc, f"{path} [defaults]")
    terminals: list[Terminal] = []
    seen: dict[str, int] = {}
    entries = raw.get("terminal", [])
    if not entries:
        problems.append(f"{path}: no [[terminal]] listed")
    for n, entry in enumerate(entries, 1):
        name = entry.get("id", f"number {n}")
        where = f"{path} terminal {name}"
        if name in seen:
            problems.append(f"{where}: listed twice (also terminal number {seen[name]})")
        seen[name] = n
        try:
            terminals.append(Terminal(**{**defaults, **_resolve(entry, base)}))
        except ValidationError as exc:
            problems += _words(exc, where)
    hub = None
    if "hub" in raw:
        try:
            hub = HubTarget(**_resolve(raw["hub"], base))
        except ValidationError as exc:
            problems += _words(exc, f"{path} [hub]")
    problems += _series_problems(path, terminals)
    for t in terminals:
        if t.broker_tls_ca is not None and not t.broker_tls_ca.is_file():
            problems.append(f"{path} terminal {t.id}: broker_tls_ca {t.broker_tls_ca} is not a file here")
    if problems:
        raise InventoryError("\n".join(problems))
    return Inventory(path=path, terminals=terminals, hub=hub, wheelhouse=wheelhouse)
