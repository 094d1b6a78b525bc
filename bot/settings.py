"""Typed settings: an optional `afterglow.toml` (path in AFTERGLOW_CONFIG) plus AFTERGLOW_* variables.

Secrets (tokens, API keys) come only from the environment or from a file named by a `*_FILE`
variable; a secret-looking key inside the TOML file is refused. A bad setting raises
`ConfigError` with one line naming the setting, which the CLI prints instead of a traceback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.errors import ConfigError

if TYPE_CHECKING:
    from bot.services.llm_config import LLMConfig

SECRET_HINTS = ("token", "api_key", "apikey", "secret", "password")
DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the process needs to start; feature sections stay in `sections` as parsed TOML."""

    data_dir: Path = Path("data")
    log_level: str = "INFO"
    default_locale: str = "en"
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    discord_token: str | None = None
    telegram_token: str | None = None
    telegram_base_url: str | None = None
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    config_path: Path | None = None
    sections: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the TOML file (if any) and the environment; raises ConfigError on bad values."""
        env = dict(os.environ if env is None else env)
        config_path = _path_or_none(env.get("AFTERGLOW_CONFIG"))
        data: dict[str, Any] = {}
        if config_path is not None:
            data = _read_toml(config_path)
        elif Path("afterglow.toml").is_file():
            config_path = Path("afterglow.toml")
            data = _read_toml(config_path)
        _refuse_secrets(data, "")

        core = data.get("afterglow", {})
        if not isinstance(core, dict):
            raise ConfigError("[afterglow] in the config file must be a table")

        def pick(name: str, env_name: str, default: Any) -> Any:
            if env_name in env and env[env_name] != "":
                return env[env_name]
            return core.get(name, default)

        data_dir = Path(str(pick("data_dir", "AFTERGLOW_DATA_DIR", "data"))).expanduser()
        log_level = str(pick("log_level", "AFTERGLOW_LOG_LEVEL", "INFO")).upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(
                f"AFTERGLOW_LOG_LEVEL: {log_level!r} is not one of DEBUG, INFO, WARNING, ERROR"
            )
        default_locale = str(pick("default_locale", "AFTERGLOW_DEFAULT_LOCALE", "en"))
        if default_locale not in ("en", "zh", "zh_Hans"):
            raise ConfigError(f"AFTERGLOW_DEFAULT_LOCALE: {default_locale!r} must be en or zh")
        max_upload = _positive_int(
            pick("max_upload_mb", "AFTERGLOW_MAX_UPLOAD_MB", 20), "AFTERGLOW_MAX_UPLOAD_MB"
        )
        base_url = _url_or_none(env.get("AFTERGLOW_LLM_BASE_URL"), "AFTERGLOW_LLM_BASE_URL")
        tg_base = _url_or_none(env.get("TELEGRAM_BASE_URL"), "TELEGRAM_BASE_URL")
        return cls(
            data_dir=data_dir,
            log_level=log_level,
            default_locale="zh_Hans" if default_locale.startswith("zh") else "en",
            max_upload_bytes=max_upload * 1024 * 1024,
            discord_token=secret(env, "DISCORD_TOKEN"),
            telegram_token=secret(env, "TELEGRAM_TOKEN"),
            telegram_base_url=tg_base,
            llm_base_url=base_url,
            llm_api_key=secret(env, "AFTERGLOW_LLM_API_KEY"),
            llm_model=env.get("AFTERGLOW_LLM_MODEL") or None,
            config_path=config_path,
            sections=data,
            env=env,
        )

    def section(self, name: str) -> Mapping[str, Any]:
        """A feature's `[name]` table from the config file (empty when absent)."""
        value = self.sections.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] in the config file must be a table")
        return value

    def secret(self, name: str) -> str | None:
        """A secret from the environment (or the file named by NAME_FILE)."""
        return secret(self.env, name)

    def llm(self) -> LLMConfig | None:
        """Model providers from `[llm]` plus the AFTERGLOW_LLM_* shortcut (None: no model set)."""
        from bot.services.llm_config import load_llm_config

        return load_llm_config(
            self.section("llm"),
            self.env,
            base_url=self.llm_base_url,
            api_key=self.llm_api_key,
            model=self.llm_model,
        )


def secret(env: Mapping[str, str], name: str) -> str | None:
    """`NAME` from the environment, or the contents of the file named by `NAME_FILE`."""
    value = env.get(name)
    if value:
        return value.strip()
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {file_name}: {exc.strerror}") from None
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"AFTERGLOW_CONFIG: no such file {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"AFTERGLOW_CONFIG: {path} is not valid TOML ({exc})") from None


def _refuse_secrets(data: Mapping[str, Any], prefix: str) -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            _refuse_secrets(value, dotted + ".")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _refuse_secrets(item, f"{dotted}[{i}].")
        elif any(h in key.lower() for h in SECRET_HINTS) and not key.lower().endswith(
            # `*_env` names a variable; `*_tokens` is a count (max_output_tokens, daily_tokens).
            ("_env", "_tokens")
        ):
            raise ConfigError(
                f"{dotted}: secrets are not read from the config file; set an environment variable"
                " and name it with a *_env key"
            )


def _path_or_none(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a whole number") from None
    if number <= 0:
        raise ConfigError(f"{name}: must be greater than zero, got {number}")
    return number


def _url_or_none(value: str | None, name: str) -> str | None:
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name}: {value!r} must start with http:// or https://")
    return value.rstrip("/")
