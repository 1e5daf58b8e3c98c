"""The files a terminal gets, as text: pure functions of the inventory entry (and its credentials).

Kept apart from pyinfra so a test can read exactly what lands on the terminal, and ``--check`` can show
a diff of it with the secrets masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provisioning.inventory import Terminal

__all__ = [
    "BROWSER_POLICY_PATH",
    "CA_PATH",
    "CONFIG_PATH",
    "SECRET_KEYS",
    "edge_toml",
    "journald_conf",
    "kiosk_browser_policy",
    "mask_secrets",
    "nftables_boot",
    "nftables_conf",
    "sshd_conf",
    "timesyncd_conf",
    "toml_document",
    "toml_value",
    "udev_rules",
]

CONFIG_PATH = "/etc/shegong/edge.toml"
CA_PATH = "/etc/shegong/broker-ca.crt"
BROWSER_POLICY_PATH = "/etc/chromium/policies/managed/shegong-kiosk.json"  # Debian's Chromium reads it at start
SECRET_KEYS = ("broker_password", "staff_pins")  # staff_pins: under [kiosk]
HEADER = "# Written by `shegong provision apply`; changes made here are undone by the next run.\n"


def toml_value(value: Any) -> str:
    """``value`` as TOML: strings, numbers, booleans, lists and inline tables (all the inventory holds)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def edge_toml(t: Terminal, broker_password: str) -> str:
    """``/etc/shegong/edge.toml`` for terminal ``t`` (0600, the ``shegong`` user's): its identity, the
    broker over TLS with its own credentials, the hub's public keys, and any extra edge settings."""
    values: dict[str, Any] = {
        "terminal_id": t.id,
        "committee_code": t.committee_code,
        "committee_name": t.committee_name,
        "broker_host": t.broker_host,
        "broker_port": t.broker_port,
        "broker_username": t.id,
        "broker_password": broker_password,
        "broker_tls_ca": CA_PATH,
        "hub_public_key": t.hub_public_key,
        "hub_audit_public_key": t.hub_audit_public_key,
        **t.edge,
    }
    if t.portal_url:  # the receipts' QR codes open the portal's progress page; the inventory's own [kiosk] wins
        values["kiosk"] = {"progress_url": f"{t.portal_url.rstrip('/')}/progress", **values.get("kiosk", {})}
    if t.committee_area is not None:
        values["committee_area"] = t.committee_area.model_dump(mode="json", exclude_none=True)
    if t.receipt_series is not None:
        values["receipt_series"] = t.receipt_series
    return toml_document(values)


def toml_document(values: Mapping[str, Any]) -> str:
    """A settings file: :data:`HEADER`, the top-level keys, then each mapping as its own table (``[kiosk]``,
    ``[web]`` …: the settings' sections)."""
    tables = {k: v for k, v in values.items() if isinstance(v, Mapping)}
    lines = [HEADER.rstrip("\n")]
    lines += [f"{k} = {toml_value(v)}" for k, v in values.items() if k not in tables and v is not None]
    for name, table in tables.items():
        lines += ["", f"[{name}]"] + [f"{k} = {toml_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def mask_secrets(text: str, before: str | None = None) -> str:
    """``text`` with the value of every secret line replaced, for diffs on the administrator's screen. Given
    ``before`` (the file as it is), a secret whose value differs there is shown as ``"******** (changed)"``:
    masked alike, a changed password or PIN would make no line of the diff."""
    pattern = re.compile(rf"^(\s*({'|'.join(SECRET_KEYS)})\s*=\s*)(.*)$", re.M)
    was = {m.group(2): m.group(3) for m in pattern.finditer(before)} if before is not None else {}

    def masked(m: re.Match[str]) -> str:
        changed = before is not None and was.get(m.group(2)) != m.group(3)
        return m.group(1) + ('"******** (changed)"' if changed else '"********"')

    return pattern.sub(masked, text)


def udev_rules(t: Terminal) -> str:
    """Stable names (``/dev/shegong-reader`` …) by USB vendor and product id, group dialout."""
    lines = [HEADER.rstrip("\n")]
    for device in ("reader", "printer", "scanner"):
        for usb in t.usb_ids(device):
            product = "" if usb.product == "*" else f', ATTRS{{idProduct}}=="{usb.product}"'
            lines.append(
                f'SUBSYSTEM=="tty", ATTRS{{idVendor}}=="{usb.vendor}"{product}, '
                f'SYMLINK+="shegong-{device}", GROUP="dialout", MODE="0660"'
            )
    return "\n".join(lines) + "\n"


def journald_conf(t: Terminal) -> str:
    return f"{HEADER}[Journal]\nStorage=persistent\nSystemMaxUse={t.journal_max_use}\nSystemKeepFree=1G\n"


#: Chromium's enterprise policies for the kiosk's browser (``chrome://policy`` lists them as applied). A
#: form's ``autocomplete="off"`` does not stop the password manager: it offers to save the staff PIN, and a
#: saved PIN is filled in for whoever opens the staff login next. Nor is anything a resident typed or opened
#: kept (autofill, history), or Chinese pages offered for translation, or a sign-in or sync offered.
KIOSK_BROWSER_POLICY: Mapping[str, object] = {
    "PasswordManagerEnabled": False,
    # (AutofillAddressEnabled and AutofillCreditCardEnabled before Chromium 156, which calls them deprecated)
    "AutofillSettings": [{"url_pattern": "*", "blocked_types": ["contact_info", "payments"]}],
    "SavingBrowserHistoryDisabled": True,
    "TranslateEnabled": False,
    "BrowserSignin": 0,
    "SyncDisabled": True,
    "MetricsReportingEnabled": False,
}


def kiosk_browser_policy() -> str:
    """:data:`KIOSK_BROWSER_POLICY` as the JSON file Chromium reads from ``policies/managed``."""
    return json.dumps(KIOSK_BROWSER_POLICY, indent=2) + "\n"


def timesyncd_conf(t: Terminal) -> str:
    """The centre's time server only: terminals have no internet."""
    return f"{HEADER}[Time]\nNTP={t.ntp}\nFallbackNTP=\n"


def sshd_conf(t: Terminal) -> str:
    """Keys only. Checked with a second connection before the first closes (see provisioning.terminal)."""
    lines = [
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitEmptyPasswords no",
        "PubkeyAuthentication yes",
        "AuthenticationMethods publickey",
        "PermitRootLogin prohibit-password",
        "X11Forwarding no",
        *t.sshd_extra,
    ]
    return HEADER + "\n".join(lines) + "\n"


def nftables_boot() -> str:
    """A drop-in for Debian's nftables.service: at boot it loads the terminal's rules."""
    return f"{HEADER}[Service]\nExecStart=\nExecStart=/usr/sbin/nft -f /etc/shegong/nftables.conf\n"


def nftables_conf(t: Terminal) -> str:
    """In: SSH from the administrators' networks; the broker and time server answer our own connections.
    Out: the broker and the time server only. The kiosk listens on loopback, which is always open."""
    ssh_from = ", ".join(t.admin_networks) if t.admin_networks else "0.0.0.0/0"
    return (
        f"#!/usr/sbin/nft -f\n{HEADER}flush ruleset\n"
        "table inet shegong {\n"
        "  chain input {\n    type filter hook input priority 0; policy drop;\n"
        "    iif lo accept\n    ct state established,related accept\n    icmp type echo-request accept\n"
        f"    ip saddr {{ {ssh_from} }} tcp dport {t.ssh_port} accept\n  }}\n"
        "  chain output {\n    type filter hook output priority 0; policy drop;\n"
        "    oif lo accept\n    ct state established,related accept\n"
        # SSH's replies, also of a session the connection tracker has not seen begin (the administrator's,
        # when these rules are first loaded): it is not cut off
        f"    tcp sport {t.ssh_port} accept\n"
        f"    ip daddr {{ {t.broker_host} }} tcp dport {t.broker_port} accept\n"
        f"    udp dport 123 accept\n    udp dport 53 accept\n  }}\n"
        "}\n"
    )
