"""Settings: environment over the TOML file over defaults, read when asked and never at import; every
field says what it is for."""

from __future__ import annotations

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
