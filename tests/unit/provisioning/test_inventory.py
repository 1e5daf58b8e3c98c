"""The inventory file an administrator writes: defaults fill in what a terminal leaves out, and every
mistake comes back at once, in words that name the file, the terminal and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.errors import InventoryError
from provisioning.inventory import DEFAULT_DEVICES, load

CA = "ca.crt"


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / CA).write_text("-----BEGIN CERTIFICATE-----\n")
    path = tmp_path / "inventory.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[defaults]
ssh_user = "admin"
broker_host = "10.20.0.5"
broker_tls_ca = "ca.crt"
hub_public_key = "PUBKEY"
hub_audit_public_key = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
admin_networks = ["10.9.0.0/24"]

[hub]
host = "10.20.0.5"

[[terminal]]
id = "JW001-K1"
committee_code = "JW001"
committee_name = "潍坊一村居委会"
host = "10.21.3.11"
committee_area = { district = "浦东新区", streets = [{ street = "潍坊路", lanes = "1-200" }] }

[[terminal]]
id = "JW002-K1"
committee_code = "JW002"
committee_name = "梅园居委会"
host = "10.21.3.12"
ssh_port = 2222
broker_port = 18883
devices = { reader = ["1a86:7523"] }
"""


def test_defaults_fill_in_and_a_terminal_overrides_them(tmp_path: Path):
    inv = load(_write(tmp_path, GOOD))
    one, two = inv.terminals
    assert (one.ssh_user, one.ssh_port, one.broker_port) == ("admin", 22, 8883)
    assert (two.ssh_port, two.broker_port) == (2222, 18883)
    assert one.broker_tls_ca == tmp_path / CA, "paths are relative to the inventory file"
    assert inv.wheelhouse == tmp_path / "wheelhouse"
    assert one.ntp == "10.20.0.5", "the time server defaults to the broker host"
    assert one.committee_area is not None and one.committee_area.district == "浦东新区"
    assert [u.vendor + ":" + u.product for u in two.usb_ids("reader")] == ["1a86:7523"]
    assert two.devices["printer"] == DEFAULT_DEVICES["printer"], "devices not named keep their defaults"
    assert inv.hub is not None and inv.hub.shegong == "/opt/shegong/current/bin/shegong"
    assert [t.id for t in inv.select(["JW002-K1"])] == ["JW002-K1"]
    with pytest.raises(InventoryError, match="no terminal JW009-K1 in the inventory"):
        inv.select(["JW009-K1"])


def test_every_mistake_is_named_at_once(tmp_path: Path):
    bad = GOOD.replace('committee_code = "JW002"', 'committee_code = "JW-002"')
    bad = bad.replace("ssh_port = 2222", 'ssh_port = 70000\nbroker_hots = "x"')
    bad = bad.replace('admin_networks = ["10.9.0.0/24"]', 'admin_networks = ["10.9.0.0/33"]')
    bad = bad.replace('reader = ["1a86:7523"]', 'reader = ["CH340"]')
    bad += '\n[[terminal]]\nid = "JW001-K1"\ncommittee_code = "JW001"\ncommittee_name = "x"\nhost = "h"\n'
    with pytest.raises(InventoryError) as raised:
        load(_write(tmp_path, bad))
    message = str(raised.value)
    assert "[defaults]: admin_networks '10.9.0.0/33' is not a network (write it as 10.9.0.0/24)" in message
    assert "terminal JW002-K1: committee_code String should match pattern" in message
    assert "terminal JW002-K1: ssh_port Input should be less than or equal to 65535" in message
    assert "terminal JW002-K1: broker_hots is not a setting the inventory knows (misspelt?)" in message
    assert "'CH340' is not a USB id (write vendor:product in hex, e.g. 1a86:7523)" in message
    assert "terminal JW001-K1: listed twice (also terminal number 1)" in message
    assert "Traceback" not in message


def test_terminals_of_one_committee_each_need_a_receipt_series_of_their_own(tmp_path: Path):
    """Provisioning gave terminals no receipt series: two kiosks of one committee both printed
    JW001-20261207-0001, and the hub refused the second resident's case as a duplicate receipt."""
    second = (
        '\n[[terminal]]\nid = "JW001-K2"\ncommittee_code = "JW001"\ncommittee_name = "潍坊一村居委会"\nhost = "h2"\n'
    )
    with pytest.raises(InventoryError) as raised:
        load(_write(tmp_path, GOOD + second))
    assert "terminals JW001-K1, JW001-K2 serve committee JW001: give each its own receipt_series (1-9)" in str(
        raised.value
    )
    numbered = GOOD.replace('host = "10.21.3.11"', 'host = "10.21.3.11"\nreceipt_series = 1')
    with pytest.raises(InventoryError, match="share a receipt_series"):
        load(_write(tmp_path, numbered + second + "receipt_series = 1\n"))
    with pytest.raises(InventoryError, match="set receipt_series on the terminal, not in its edge settings"):
        load(_write(tmp_path, GOOD.replace("ssh_port = 2222", "ssh_port = 2222\nedge = { receipt_series = 3 }")))
    inv = load(_write(tmp_path, numbered + second + "receipt_series = 2\n"))
    assert [(t.id, t.receipt_series) for t in inv.terminals] == [("JW001-K1", 1), ("JW002-K1", None), ("JW001-K2", 2)]


def test_what_a_terminal_cannot_do_without(tmp_path: Path):
    text = '[[terminal]]\nid = "T1"\ncommittee_code = "JW1"\ncommittee_name = "x"\n'
    with pytest.raises(InventoryError) as raised:
        load(_write(tmp_path, text))
    message = str(raised.value)
    assert "terminal T1: host is missing" in message
    with pytest.raises(InventoryError) as raised:
        load(_write(tmp_path, text + 'host = "h"\nbroker_tls_ca = "nowhere.crt"\n'))
    message = str(raised.value)
    assert (
        "broker_host, hub_public_key and hub_audit_public_key must be set, in [defaults] or for this terminal"
        in message
    )
    with pytest.raises(InventoryError, match="not valid TOML"):
        load(_write(tmp_path, "[[terminal]\n"))
    with pytest.raises(InventoryError, match="cannot read the inventory"):
        load(tmp_path / "missing.toml")
    with pytest.raises(InventoryError, match="no \\[\\[terminal\\]\\] listed"):
        load(_write(tmp_path, "[defaults]\n"))


def test_an_inventory_with_secrets_open_to_others_is_refused_as_ssh_refuses_such_a_key(tmp_path: Path):
    """Staff PIN hashes, a database password in the hub's URL: refused while group or others can read the
    file, with the fix named; the same file at 0600 loads, and one without secrets may stay readable."""
    pins = GOOD.replace(
        'admin_networks = ["10.9.0.0/24"]\n',
        'admin_networks = ["10.9.0.0/24"]\nedge = { kiosk = { staff_pins = "k1:scrypt$x" } }\n',
    )
    url = GOOD.replace(
        'host = "10.20.0.5"\n\n',
        'host = "10.20.0.5"\nsettings = { database_url = "postgresql+psycopg://shegong:s3cret@db/shegong" }\n\n',
        1,
    )
    assert url != GOOD and pins != GOOD
    for text, named in ((pins, "defaults.edge.kiosk.staff_pins"), (url, "hub.settings.database_url")):
        path = _write(tmp_path, text)
        for mode, who in ((0o644, "its group and other users"), (0o604, "other users"), (0o640, "its group")):
            path.chmod(mode)
            with pytest.raises(InventoryError) as raised:
                load(path)
            assert str(raised.value) == (
                f"{path} holds secrets ({named}) and is open to {who} (mode 0{mode:o}): "
                f"run `chmod 600 {path}` (ssh refuses a private key so for the same reason)"
            )
        path.chmod(0o600)
        assert [t.id for t in load(path).terminals] == ["JW001-K1", "JW002-K1"]
    path = _write(
        tmp_path,
        GOOD.replace(
            'host = "10.20.0.5"\n\n',
            'host = "10.20.0.5"\nsettings = { database_url = "postgresql+psycopg://shegong@/shegong" }\n\n',
            1,
        ),
    )
    path.chmod(0o644)
    assert len(load(path).terminals) == 2, "no secret in it (a socket login, no password): a team may share it"


def test_the_docs_hub_example_gives_settings_a_hub_starts_with():
    """Docs review: provisioning.md's [hub] example had `web_host`, written as it is into hub.toml, where
    every hub process refused it ("web_host is now [web] host"). The example's settings, as the hub reads
    hub.toml, load."""
    import re
    import tomllib

    from hub.settings import HubSettings

    doc = (Path(__file__).resolve().parents[3] / "docs" / "provisioning.md").read_text()
    block = next(b for b in re.findall(r"```toml\n(.*?)```", doc, re.S) if "[hub]" in b and "settings =" in b)
    settings = tomllib.loads(block.split("[hub]", 1)[1])["settings"]
    assert HubSettings(**settings).web.host == "0.0.0.0"
