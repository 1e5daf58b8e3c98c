"""``shegong hub broker``: the broker's password file (through Debian's ``mosquitto_passwd``), its ACL and
its TLS files, made in a temporary folder. A terminal id reaches the ACL as ``%u``, so anything but one
whole topic level is refused before it gets near a file; passwords are shown once and kept only hashed.
The broker itself enforcing all this is tests/integration/test_broker_security.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import stat

import pytest
from cryptography import x509

from hub import cli
from hub.broker import auth as brokerauth
from hub.broker.auth import BrokerAuthError, BrokerFiles
from shegong.cli import main as shegong


@pytest.fixture
def files(tmp_path):
    return BrokerFiles(tmp_path / "mosquitto")


@pytest.mark.parametrize(
    "bad", ["", "T1\nuser hub", "T1\ntopic readwrite #", "T 1", "+", "#", "T1/up", "%u", "终端1", "x" * 65]
)
def test_a_terminal_id_that_is_not_one_plain_topic_level_is_refused(files, bad):
    with pytest.raises(BrokerAuthError, match="invalid terminal id"):
        brokerauth.add_terminal(files, bad)
    assert brokerauth.users(files) == []


def test_passwords_are_random_shown_once_and_kept_only_as_hashes(files):
    hub = brokerauth.add_hub(files)
    t1, t2 = brokerauth.add_terminal(files, "T1"), brokerauth.add_terminal(files, "JW001-kiosk_2")
    assert len({hub, t1, t2}) == 3 and all(len(p) >= 32 for p in (hub, t1, t2))
    text = files.password_file.read_text()
    assert brokerauth.users(files) == ["hub", "T1", "JW001-kiosk_2"]
    assert all(p not in text for p in (hub, t1, t2)) and text.count(":$7$") == 3  # PBKDF2-SHA512 hashes
    assert not files.password_file.stat().st_mode & stat.S_IRWXO


def test_a_user_is_added_once_the_hub_name_is_not_a_terminals_and_revoking_needs_a_user(files):
    brokerauth.add_hub(files, "centre-hub")
    with pytest.raises(BrokerAuthError, match="hub's user name"):
        brokerauth.add_terminal(files, "centre-hub")
    with pytest.raises(BrokerAuthError, match="hub's user name"):
        brokerauth.add_terminal(files, "hub")  # the default hub name stays reserved too
    brokerauth.add_terminal(files, "T1")
    with pytest.raises(BrokerAuthError, match="exists already"):
        brokerauth.add_terminal(files, "T1")
    brokerauth.revoke(files, "T1")
    assert brokerauth.users(files) == ["centre-hub"]
    with pytest.raises(BrokerAuthError, match="no broker user"):
        brokerauth.revoke(files, "T1")
    brokerauth.add_hub(files, "hub-b")  # a second hub user joins the first in the ACL
    assert brokerauth.hub_users(files) == ["centre-hub", "hub-b"]
    with pytest.raises(BrokerAuthError, match="hub's user name"):
        brokerauth.add_terminal(files, "hub-b")


def test_the_acl_confines_terminals_to_their_own_topics_and_names_the_hub_user(files):
    brokerauth.add_hub(files, "hub-a")
    acl = files.acl_file.read_text()
    patterns = sorted(line for line in acl.splitlines() if line.startswith("pattern"))
    assert patterns == [
        "pattern read shegong/v1/catalogue",
        "pattern read shegong/v1/hub/anchor",
        "pattern read shegong/v1/hub/calendar",
        "pattern read shegong/v1/hub/state",
        "pattern read shegong/v1/t/%u/down/#",
        "pattern write shegong/v1/t/%u/state",
        "pattern write shegong/v1/t/%u/up/audit",
        "pattern write shegong/v1/t/%u/up/cases",
        "pattern write shegong/v1/t/%u/up/catalogue",
        "pattern write shegong/v1/t/%u/up/health",
        "pattern write shegong/v1/t/%u/up/lookup",
        "pattern write shegong/v1/t/%u/up/ratings",
        "pattern write shegong/v1/t/%u/up/reconcile",
    ]
    hub_part = acl.split("user hub-a\n", 1)[1].splitlines()
    assert "topic read shegong/v1/t/+/up/#" in hub_part and "topic write shegong/v1/t/+/down/#" in hub_part
    assert not any(line.startswith("topic") for line in acl.split("user hub-a\n", 1)[0].splitlines())


def test_a_renewed_server_certificate_is_signed_by_the_same_ca(files):
    brokerauth.make_tls(files, ["broker.centre.example", "10.8.0.1"])
    ca = files.ca_cert.read_bytes()
    brokerauth.make_tls(files, ["broker.centre.example"], days=30)
    assert files.ca_cert.read_bytes() == ca, "terminals would have to be given a new CA"
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == ["broker.centre.example"]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    assert not files.server_key.stat().st_mode & stat.S_IRWXO
    brokerauth.make_tls(files, ["10.8.0.1"])
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.8.0.1")]


def test_the_command_line_provisions_a_terminal_and_prints_the_listener_config(files, capsys):
    d = str(files.folder)
    assert cli.main(["broker", "hub", "--dir", d]) == 0
    hub_password = capsys.readouterr().out.strip()
    assert cli.main(["broker", "add", "T7", "--dir", d]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and out.strip() != hub_password, "the password alone on stdout"
    assert 'broker_username = "T7"' in err and "broker_tls_ca" in err
    assert cli.main(["broker", "tls", "--dir", d, "--host", "127.0.0.1"]) == 0
    capsys.readouterr()
    cli.main(["broker", "list", "--dir", d])
    assert capsys.readouterr().out.split() == ["hub", "T7"]
    cli.main(["broker", "conf", "--dir", d, "--port", "8884"])
    conf = capsys.readouterr().out
    for line in (
        "listener 8884 0.0.0.0",
        "allow_anonymous false",
        f"password_file {files.password_file}",
        f"acl_file {files.acl_file}",
        f"certfile {files.server_cert}",
        f"keyfile {files.server_key}",
    ):
        assert line in conf.splitlines()
    cli.main(["broker", "revoke", "T7", "--dir", d])
    assert "revoked" in capsys.readouterr().out and brokerauth.users(files) == ["hub"]
    with pytest.raises(cli.UsageError):
        cli.main(["broker", "add", "--dir", d])
    assert shegong(["hub", "broker", "add", "T1\nuser hub", "--dir", d]) == 2  # a message, not a traceback
    assert "invalid terminal id" in capsys.readouterr().err


def test_acl_stdout_prints_what_acl_writes_and_touches_nothing(files, capsys):
    """Provisioning compares ``acl --stdout`` with the file to bring an upgraded broker's ACL up to the release."""
    d = str(files.folder)
    brokerauth.add_hub(files)
    brokerauth.add_tool(files)
    written = files.acl_file.read_text()
    files.acl_file.write_text(written.replace("pattern read shegong/v1/hub/calendar\n", ""))  # a release before
    capsys.readouterr()
    assert cli.main(["broker", "acl", "--dir", d, "--stdout"]) == 0
    assert capsys.readouterr().out == written
    assert "pattern read shegong/v1/hub/calendar" not in files.acl_file.read_text(), "--stdout writes nothing"
    assert cli.main(["broker", "acl", "--dir", d]) == 0
    assert files.acl_file.read_text() == written


def test_the_tools_user_is_kept_apart_from_hub_users_and_terminals(files):
    brokerauth.add_hub(files)
    tools = brokerauth.add_tool(files)
    assert len(tools) >= 32 and brokerauth.users(files) == ["hub", "hub-tools"]
    assert brokerauth.hub_users(files) == ["hub"] and brokerauth.tool_users(files) == ["hub-tools"]
    brokerauth.add_hub(files, "hub-b")  # a second worker's user keeps the tools' lines in the ACL
    assert brokerauth.hub_users(files) == ["hub", "hub-b"] and brokerauth.tool_users(files) == ["hub-tools"]
    tool_part = files.acl_file.read_text().split("user hub-tools\n", 1)[1].splitlines()
    assert tool_part == ["topic write shegong/v1/t/+/down/audit", "topic read shegong/v1/t/+/up/audit"]
    with pytest.raises(BrokerAuthError, match="hub's user name"):
        brokerauth.add_terminal(files, "hub-tools")
    with pytest.raises(BrokerAuthError, match="tools' user name"):
        brokerauth.add_hub(files, "hub-tools")
    with pytest.raises(BrokerAuthError, match="a hub user"):
        brokerauth.add_tool(files, "hub-b")


def test_broker_tool_prints_the_password_and_the_setting_it_goes_in(files, capsys):
    assert shegong(["hub", "broker", "hub", "--dir", str(files.folder)]) == 0
    capsys.readouterr()
    assert shegong(["hub", "broker", "tool", "--dir", str(files.folder)]) == 0
    out, err = capsys.readouterr()
    assert "SHEGONG_HUB_TOOLS_BROKER_PASSWORD" in err and '[tools] broker_username = "hub-tools"' in err
    assert len(out.strip()) >= 32 and out.strip() not in files.password_file.read_text()
    assert shegong(["hub", "broker", "acl", "--dir", str(files.folder)]) == 0  # written again, the tools kept
    assert brokerauth.tool_users(files) == ["hub-tools"]


def test_a_tool_refuses_to_log_in_as_the_workers_broker_user_naming_the_setting():
    from hub.settings import HubSettings, ToolLogin, ToolNeedsOwnUser, tool_broker_login

    link = {"broker_tls_ca": "/etc/mosquitto/shegong/ca.crt", "broker_username": "hub", "broker_password": "w"}
    with pytest.raises(ToolNeedsOwnUser, match=r"\[tools\] broker_password \(SHEGONG_HUB_TOOLS_BROKER_PASSWORD\)"):
        tool_broker_login(HubSettings(**link), "witness")
    with pytest.raises(ToolNeedsOwnUser, match=r"\[tools\] broker_username is 'hub'"):
        tool_broker_login(HubSettings(**link, tools={"broker_username": "hub", "broker_password": "t"}), "witness")
    assert tool_broker_login(HubSettings(**link, tools={"broker_password": "t"}), "witness") == ToolLogin(
        "hub-tools", "hub-tools", "t"
    )
    open_broker = tool_broker_login(HubSettings(), "witness")  # no users: anonymous, a client id of its own
    assert open_broker.username is None and open_broker.client_id.startswith("shegong-hub-1-witness-")


def _file_takes(files: BrokerFiles, user: str, password: str) -> bool:
    """Mosquitto's ``$7$`` line for ``user`` checked here as the broker checks it (PBKDF2-HMAC-SHA512)."""
    for line in files.password_file.read_text().splitlines():
        name, _, entry = line.partition(":")
        if name == user:
            _, _, rounds, salt, digest = entry.split("$")
            want = base64.b64decode(digest)
            got = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(rounds), len(want))
            return got == want
    return False


def test_a_terminals_old_password_is_put_back_from_standard_input_never_its_arguments(files, capsys, monkeypatch):
    """What provisioning runs when a rotate could not give the terminal its new password."""
    d = str(files.folder)
    old = brokerauth.add_terminal(files, "T7")
    brokerauth.revoke(files, "T7")
    brokerauth.add_terminal(files, "T7")  # the rotate's new one, which never reached the terminal
    brokerauth.revoke(files, "T7")
    monkeypatch.setattr("sys.stdin", io.StringIO(old + "\n"))
    assert cli.main(["broker", "add", "T7", "--dir", d, "--password-stdin"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "T7 added with the password given" in err, "no password printed: the terminal has it"
    assert _file_takes(files, "T7", old)
    assert not files.password_file.stat().st_mode & stat.S_IRWXO
    brokerauth.revoke(files, "T7")
    for bad in ("", "short", f" {old}"):
        with pytest.raises(BrokerAuthError, match="not one the hub issued"):
            brokerauth.add_terminal(files, "T7", bad)
