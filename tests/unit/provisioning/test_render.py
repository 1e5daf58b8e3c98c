"""What lands on a terminal, read back by what reads it there: edge.toml by the terminal's own settings
loader, the udev rules line by line, the secrets masked wherever a diff is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.settings import EdgeSettings
from provisioning import render
from provisioning.inventory import Terminal

AREA = {"district": "浦东新区", "streets": [{"street": "潍坊路", "lanes": "1-200"}]}


def _terminal(tmp_path: Path, **extra: object) -> Terminal:
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    fields: dict[str, object] = {
        "id": "JW001-K1",
        "committee_code": "JW001",
        "committee_name": '潍坊"一村"居委会',
        "host": "10.0.0.1",
        "broker_host": "10.20.0.5",
        "broker_tls_ca": ca,
        "hub_public_key": "PUBKEY",
        "hub_audit_public_key": "a1" * 32,
    }
    return Terminal(**{**fields, **extra})  # type: ignore[arg-type]


def test_edge_toml_is_read_by_the_terminal_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    t = _terminal(tmp_path, committee_area=AREA, edge={"retention_days": 45}, receipt_series=2)
    path = tmp_path / "edge.toml"
    path.write_text(render.edge_toml(t, "s3cr#t\\pw"), encoding="utf-8")
    monkeypatch.setenv("SHEGONG_EDGE_CONFIG", str(path))
    monkeypatch.delenv("SHEGONG_HUB_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("SHEGONG_HUB_AUDIT_PUBLIC_KEY", raising=False)
    s = EdgeSettings()
    assert (s.terminal_id, s.committee_code, s.committee_name) == ("JW001-K1", "JW001", '潍坊"一村"居委会')
    assert (s.broker_host, s.broker_port, s.broker_username) == ("10.20.0.5", 8883, "JW001-K1")
    assert s.broker_password == "s3cr#t\\pw"
    assert s.broker_tls_ca == Path(render.CA_PATH)
    assert s.hub_public_key == "PUBKEY"
    assert s.hub_audit_public_key == "a1" * 32
    assert s.retention_days == 45
    assert s.committee_area is not None and s.committee_area.district == "浦东新区"
    assert s.receipt_series == 2


def test_secrets_are_masked_in_what_is_shown(tmp_path: Path):
    text = render.edge_toml(_terminal(tmp_path, edge={"kiosk": {"staff_pins": "a:b:c"}}), "hunter2")
    shown = render.mask_secrets(text)
    assert "hunter2" not in shown and "a:b:c" not in shown
    assert 'broker_password = "********"' in shown
    assert 'terminal_id = "JW001-K1"' in shown


def test_a_changed_secret_shows_as_changed_without_its_value(tmp_path: Path):
    """A PIN reset on the terminal that the next apply would undo must make a line of the --check diff."""
    now = render.edge_toml(_terminal(tmp_path, edge={"kiosk": {"staff_pins": "k1:reset-on-site"}}), "hunter2")
    wanted = render.edge_toml(_terminal(tmp_path, edge={"kiosk": {"staff_pins": "k1:from-inventory"}}), "hunter2")
    shown = render.mask_secrets(wanted, now)
    assert "from-inventory" not in shown and "hunter2" not in shown
    assert 'staff_pins = "******** (changed)"' in shown.splitlines()
    assert 'broker_password = "********"' in shown.splitlines(), "the same password: shown as before"
    assert render.mask_secrets(wanted, wanted) == render.mask_secrets(wanted), "nothing changed, nothing marked"


def test_udev_rules_name_each_device_by_usb_id(tmp_path: Path):
    rules = render.udev_rules(_terminal(tmp_path, devices={"reader": ["1a86:7523"], "scanner": ["1eab:*"]}))
    lines = [line for line in rules.splitlines() if not line.startswith("#")]
    assert (
        'SUBSYSTEM=="tty", ATTRS{idVendor}=="1a86", ATTRS{idProduct}=="7523", SYMLINK+="shegong-reader", '
        'GROUP="dialout", MODE="0660"'
    ) in lines
    scanner = 'SUBSYSTEM=="tty", ATTRS{idVendor}=="1eab", SYMLINK+="shegong-scanner", GROUP="dialout", MODE="0660"'
    assert scanner in lines, "a vendor's every product"
    assert sum('SYMLINK+="shegong-printer"' in line for line in lines) == 2, "the printer keeps its defaults"


def test_sshd_is_keys_only_and_the_firewall_lets_ssh_in_from_administrators_only(tmp_path: Path):
    t = _terminal(tmp_path, admin_networks=["10.9.0.0/24"])
    sshd = render.sshd_conf(t)
    assert "PasswordAuthentication no" in sshd and "AuthenticationMethods publickey" in sshd
    nft = render.nftables_conf(t)
    assert "ip saddr { 10.9.0.0/24 } tcp dport 22 accept" in nft
    assert "ip daddr { 10.20.0.5 } tcp dport 8883 accept" in nft
    assert "policy drop" in nft


def test_the_portal_address_becomes_the_receipts_qr_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The inventory's ``portal_url`` is where a receipt's QR code points: the portal's progress page."""
    t = _terminal(tmp_path, portal_url="https://zwfw.example.gov.cn/portal/")
    path = tmp_path / "edge.toml"
    path.write_text(render.edge_toml(t, "pw"), encoding="utf-8")
    monkeypatch.setenv("SHEGONG_EDGE_CONFIG", str(path))
    monkeypatch.delenv("SHEGONG_KIOSK_PROGRESS_URL", raising=False)
    assert EdgeSettings().kiosk.progress_url == "https://zwfw.example.gov.cn/portal/progress"
    assert "progress_url" not in render.edge_toml(_terminal(tmp_path), "pw")  # unset: the edge's default
    with pytest.raises(ValueError, match="portal_url"):
        _terminal(tmp_path, portal_url="zwfw.example.gov.cn")
