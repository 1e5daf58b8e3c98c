"""The one way settings are read, on every side: environment variables over a TOML file over defaults.

Each process builds its settings object once at start-up (never at import). The TOML file is named by
an environment variable so tests and the demo can point elsewhere without touching /etc.
"""

from __future__ import annotations

import os
import tomllib
from typing import ClassVar, Self

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

__all__ = ["SettingsError", "TomlSettings"]


class SettingsError(ValueError):
    """The configuration cannot be read or is not valid: said on stderr with the file, not as a traceback."""

    is_user_error = True


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
            toml_file=cls.config_path(),
            toml_table_header=cls.toml_table,
        )
        return init_settings, env_settings, toml

    @classmethod
    def config_path(cls) -> str:
        """The TOML file read: the one ``config_env`` names, else ``default_config``."""
        return os.environ.get(cls.config_env, cls.default_config)

    @classmethod
    def read(cls, **overrides: object) -> Self:
        """The settings now (once, at start-up), or :class:`SettingsError` naming the file and what is wrong."""
        path = cls.config_path()
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path} is not valid TOML: {exc}") from None
        except ValidationError as exc:
            wrong = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise SettingsError(f"the configuration ({path}, or a SHEGONG_ variable) is not valid: {wrong}") from None
