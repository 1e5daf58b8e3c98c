"""The one way settings are read, on every side: environment variables over a TOML file over defaults.

Each process builds its settings object once at start-up (never at import). The TOML file is named by
an environment variable so tests and the demo can point elsewhere without touching /etc.
"""

from __future__ import annotations

import os
from typing import ClassVar

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

__all__ = ["TomlSettings"]


class TomlSettings(BaseSettings):
    """Base of every settings class: ``config_env`` names the TOML file (else ``default_config``);
    ``toml_table`` picks a table of it (``[fleet]`` …); environment variables win over the file."""

    config_env: ClassVar[str]
    default_config: ClassVar[str]
    toml_table: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(
            settings_cls,
            toml_file=os.environ.get(cls.config_env, cls.default_config),
            toml_table_header=cls.toml_table,
        )
        return init_settings, env_settings, toml
