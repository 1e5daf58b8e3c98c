"""Settings: environment over the TOML file over defaults, read when asked and never at import; every
field says what it is for."""

from __future__ import annotations

import base64

import pytest

from edge.settings import EdgeSettings
from hub.settings import HubSettings


@pytest.mark.parametrize(
    ("cls", "config_env", "prefix"),
    [(EdgeSettings, "SHEGONG_EDGE_CONFIG", "SHEGONG_"), (HubSettings, "SHEGONG_HUB_CONFIG", "SHEGONG_HUB_")],
)
def test_environment_beats_the_file_which_beats_the_defaults(monkeypatch, tmp_path, cls, config_env, prefix):
    toml = tmp_path / "settings.toml"
    toml.write_text('broker_host = "10.1.2.3"\nbroker_port = 8883\n')
    monkeypatch.setenv(config_env, str(toml))
    monkeypatch.setenv(f"{prefix}BROKER_PORT", "1999")
    settings = cls()
    assert (settings.broker_host, settings.broker_port, settings.keepalive_s) == ("10.1.2.3", 1999, 20)


@pytest.mark.parametrize("cls", [EdgeSettings, HubSettings])
def test_every_setting_is_documented(cls):
    undocumented = [name for name, field in cls.model_fields.items() if not (field.description or "").strip()]
    assert not undocumented, f"{cls.__name__} fields without a description: {undocumented}"


def test_the_hubs_sms_settings_are_the_toml_table_sms(monkeypatch, tmp_path):
    toml = tmp_path / "hub.toml"
    toml.write_text('broker_port = 8883\n\n[sms]\nurl = "https://sms-relay.test/send"\nper_minute = 20\n')
    monkeypatch.setenv("SHEGONG_HUB_CONFIG", str(toml))
    settings = HubSettings()
    assert (settings.sms.url, settings.sms.per_minute, settings.sms.max_attempts) == (
        "https://sms-relay.test/send",
        20,
        8,
    )
    monkeypatch.setenv("SHEGONG_HUB_SMS_PER_MINUTE", "5")
    assert HubSettings().sms.per_minute == 5
    monkeypatch.delenv("SHEGONG_HUB_SMS_PER_MINUTE")
    monkeypatch.setenv("SHEGONG_HUB_CONFIG", str(tmp_path / "none.toml"))
    assert HubSettings().sms.url is None  # no gateway: notices wait in the outbox


def test_the_tools_broker_user_is_the_toml_table_tools_and_its_password_an_environment_variable(monkeypatch, tmp_path):
    toml = tmp_path / "hub.toml"
    toml.write_text('broker_username = "hub"\n\n[tools]\nbroker_username = "centre-tools"\n')
    monkeypatch.setenv("SHEGONG_HUB_CONFIG", str(toml))
    monkeypatch.setenv("SHEGONG_HUB_BROKER_PASSWORD", "worker-secret")  # as hub.env sets both
    monkeypatch.setenv("SHEGONG_HUB_TOOLS_BROKER_PASSWORD", "tools-secret")
    settings = HubSettings()
    assert (settings.broker_username, settings.broker_password) == ("hub", "worker-secret")
    assert (settings.tools.broker_username, settings.tools.broker_password) == ("centre-tools", "tools-secret")
    monkeypatch.setenv("SHEGONG_HUB_CONFIG", str(tmp_path / "none.toml"))
    assert HubSettings().tools.broker_username == "hub-tools"


def test_a_malformed_backup_public_key_stops_the_hub_at_start_up():
    """A key the nights could not encrypt to is found when the settings are read, not at 01:30."""
    from nacl.public import PrivateKey
    from pydantic import ValidationError

    good = base64.urlsafe_b64encode(bytes(PrivateKey.generate().public_key)).decode()
    assert HubSettings(backup_public_key=f" {good}\n").backup_public_key == good
    assert HubSettings().backup_public_key == "", "unset: backups in clear (with a warning each night)"
    for bad in (good[:-4], "not base64!", base64.urlsafe_b64encode(b"x" * 31).decode()):
        with pytest.raises(ValidationError, match="backup_public_key: 32 bytes of URL-safe base64"):
            HubSettings(backup_public_key=bad)


@pytest.mark.parametrize(
    ("side", "config_env", "written", "said"),
    [
        ("edge", "SHEGONG_EDGE_CONFIG", 'terminal_id = "T1\n', "is not valid TOML: Illegal character"),
        ("edge", "SHEGONG_EDGE_CONFIG", 'reader_port = "/dev/ttyUSB0"\n', "reader_port is now [devices] reader"),
        ("edge", "SHEGONG_EDGE_CONFIG", "min_free_disk_mb = -5\n", "min_free_disk_mb: "),
        ("hub", "SHEGONG_HUB_CONFIG", "[portal\n", "is not valid TOML"),
    ],
    ids=["unclosed-string", "old-flat-key", "out-of-range", "hub-unclosed-table"],
)
def test_a_configuration_that_cannot_be_used_is_named_with_what_is_wrong_not_a_traceback(
    monkeypatch, tmp_path, capsys, side, config_env, written, said
):
    """A technician's typo in edge.toml gave a tomllib or pydantic traceback; now one line and exit 2."""
    from shegong import cli

    config = tmp_path / f"{side}.toml"
    config.write_text(written, encoding="utf-8")
    monkeypatch.setenv(config_env, str(config))
    command = ["edge", "outbox"] if side == "edge" else ["hub", "partner", "list"]
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert said in err and str(config) in err and "Traceback" not in err


def test_the_console_and_the_fleet_page_call_the_same_free_disk_low():
    """The console turned amber below twice min_free_disk_mb (400 MB), the fleet alerted below 500 MB: at
    449 MB one said 正常 and the other 磁盘空间不足."""
    from hub.settings import FleetSettings

    assert FleetSettings().disk_alert_mb == 2 * EdgeSettings().min_free_disk_mb


@pytest.mark.parametrize("command", [["edge", "outbox"], ["edge", "audit", "verify"], ["edge", "purge", "--dry-run"]])
def test_a_command_on_a_terminal_that_is_not_there_makes_nothing(monkeypatch, tmp_path, capsys, command):
    """SHEGONG_EDGE_CONFIG naming a missing file: the read-only `shegong edge outbox` made a new, empty
    database and audit key in the default data folder, and answered as if that were the terminal."""
    from shegong import cli

    monkeypatch.setenv("SHEGONG_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(command) == 2
    assert "no terminal database at" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
