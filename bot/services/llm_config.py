"""Typed configuration of model providers, models, fallbacks and the retry policy.

The settings loader builds these from `afterglow.toml` and the environment; everything here is
frozen so a running client can never see its configuration change underneath it.

A model is referred to by its `id` ("deepseek-chat") or, when two providers serve the same id,
by `"<provider>/<id>"` ("backup/deepseek-chat").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import ConfigError

# Safety-research F1: per-attempt 60 s, per-turn 120 s, at most 3 attempts.
DEFAULT_ATTEMPT_TIMEOUT = 60.0
DEFAULT_TURN_TIMEOUT = 120.0
DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class ModelConfig:
    """One model served by one provider, with its limits."""

    id: str
    provider: str
    context_window: int = 8192
    vision: bool = False
    max_output_tokens: int = 1024

    @property
    def ref(self) -> str:
        """The fully qualified reference `"<provider>/<id>"`."""
        return f"{self.provider}/{self.id}"


@dataclass(frozen=True)
class ProviderConfig:
    """An OpenAI-compatible endpoint (`base_url` ends before `/chat/completions`)."""

    name: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    models: tuple[ModelConfig, ...] = ()


@dataclass(frozen=True)
class LLMConfig:
    """Every provider, the default model, the fallback order, the allow-list and the timeouts.

    `allowed_models` empty means "only the default and the fallbacks". Construction validates
    every reference, so a typo in the config stops start-up instead of failing a user's turn.
    """

    providers: tuple[ProviderConfig, ...]
    default_model: str
    fallback_order: tuple[str, ...] = ()
    allowed_models: tuple[str, ...] = ()
    attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT
    turn_timeout: float = DEFAULT_TURN_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    def __post_init__(self) -> None:
        names = [p.name for p in self.providers]
        if not names:
            raise ConfigError("llm.providers: at least one provider is required")
        if len(set(names)) != len(names):
            raise ConfigError("llm.providers: provider names must be unique")
        for provider in self.providers:
            for model in provider.models:
                if model.provider != provider.name:
                    raise ConfigError(
                        f"llm.providers.{provider.name}: model {model.id!r} names another provider"
                    )
                if model.context_window <= model.max_output_tokens:
                    raise ConfigError(
                        f"llm.providers.{provider.name}: {model.id!r} context_window too small"
                    )
        for ref in (self.default_model, *self.fallback_order, *self.allowed_models):
            self.model(ref)
        if self.attempt_timeout <= 0 or self.turn_timeout <= 0 or self.max_attempts < 1:
            raise ConfigError("llm: timeouts must be positive and max_attempts at least 1")

    @classmethod
    def single(
        cls,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        context_window: int = 32768,
        vision: bool = False,
    ) -> LLMConfig:
        """One provider with one model: the `AFTERGLOW_LLM_*` environment shortcut."""
        m = ModelConfig(id=model, provider="default", context_window=context_window, vision=vision)
        provider = ProviderConfig(name="default", base_url=base_url, api_key=api_key, models=(m,))
        return cls(providers=(provider,), default_model=model)

    def all_models(self) -> tuple[ModelConfig, ...]:
        """Every configured model in configuration order."""
        return tuple(m for p in self.providers for m in p.models)

    def model(self, ref: str) -> ModelConfig:
        """Resolve an id or `"<provider>/<id>"`; raise `ConfigError` when unknown or ambiguous."""
        qualified = [m for m in self.all_models() if m.ref == ref]
        if qualified:
            return qualified[0]
        plain = [m for m in self.all_models() if m.id == ref]
        if len(plain) == 1:
            return plain[0]
        if not plain:
            raise ConfigError(f"llm: unknown model {ref!r}")
        raise ConfigError(f"llm: model {ref!r} is served by several providers; write provider/id")

    def find(self, ref: str) -> ModelConfig | None:
        """Like `model()` but returns None instead of raising."""
        try:
            return self.model(ref)
        except ConfigError:
            return None

    def provider(self, name: str) -> ProviderConfig:
        """The provider called `name`."""
        for p in self.providers:
            if p.name == name:
                return p
        raise ConfigError(f"llm: unknown provider {name!r}")

    def chain(self, preferred: str | None = None) -> tuple[ModelConfig, ...]:
        """The models to try in order: the preferred (or default) one, then the fallbacks."""
        first = self.model(preferred) if preferred else self.model(self.default_model)
        out = [first]
        for ref in self.fallback_order:
            m = self.model(ref)
            if m not in out:
                out.append(m)
        return tuple(out)

    def selectable(self) -> tuple[ModelConfig, ...]:
        """Models a person may pick with `/model` (the allow-list, else default + fallbacks)."""
        refs = self.allowed_models or (self.default_model, *self.fallback_order)
        out: list[ModelConfig] = []
        for ref in refs:
            m = self.model(ref)
            if m not in out:
                out.append(m)
        return tuple(out)

    def is_selectable(self, ref: str) -> bool:
        """Whether a person may pick `ref`."""
        m = self.find(ref)
        return m is not None and m in self.selectable()


def load_llm_config(
    section: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
) -> LLMConfig | None:
    """Build the config from the `[llm]` TOML table and the `AFTERGLOW_LLM_*` shortcut.

    ```toml
    [llm]
    default_model = "deepseek-chat"
    fallback = ["qwen-plus"]           # tried in order when the default fails
    allowed = ["deepseek-chat", "qwen-plus"]   # what /model offers (default: default + fallback)
    attempt_timeout = 60
    turn_timeout = 120
    max_attempts = 3

    [[llm.providers]]
    name = "deepseek"
    base_url = "https://api.deepseek.com/v1"
    api_key_env = "DEEPSEEK_API_KEY"   # the key itself only ever comes from the environment
    [[llm.providers.models]]
    id = "deepseek-chat"
    context_window = 65536
    vision = false
    max_output_tokens = 2048
    ```

    `base_url`/`api_key`/`model` (AFTERGLOW_LLM_BASE_URL/API_KEY/MODEL) add a provider named
    `env` whose model becomes the default. Returns None when no model is configured at all.
    """
    providers: list[ProviderConfig] = []
    for i, raw in enumerate(_tables(section.get("providers", []), "llm.providers")):
        name = _str(raw, "name", f"llm.providers[{i}]")
        key_env = raw.get("api_key_env")
        key = _env_secret(env, str(key_env)) if key_env else None
        models = tuple(
            ModelConfig(
                id=_str(m, "id", f"llm.providers.{name}.models[{j}]"),
                provider=name,
                context_window=_int(m, "context_window", 8192, f"llm.providers.{name}.models[{j}]"),
                vision=bool(m.get("vision", False)),
                max_output_tokens=_int(
                    m, "max_output_tokens", 1024, f"llm.providers.{name}.models[{j}]"
                ),
            )
            for j, m in enumerate(_tables(raw.get("models", []), f"llm.providers.{name}.models"))
        )
        if not models:
            raise ConfigError(f"llm.providers.{name}: list at least one [[llm.providers.models]]")
        url = _str(raw, "base_url", f"llm.providers.{name}")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"llm.providers.{name}.base_url must start with http:// or https://")
        providers.append(
            ProviderConfig(name=name, base_url=url.rstrip("/"), api_key=key, models=models)
        )

    default = section.get("default_model")
    if base_url:
        if not model:
            raise ConfigError("AFTERGLOW_LLM_MODEL: required when AFTERGLOW_LLM_BASE_URL is set")
        window = _int(env, "AFTERGLOW_LLM_CONTEXT_WINDOW", 32768, "environment")
        env_model = ModelConfig(
            id=model,
            provider="env",
            context_window=window,
            max_output_tokens=min(2048, window // 4),
        )
        providers.insert(
            0, ProviderConfig(name="env", base_url=base_url, api_key=api_key, models=(env_model,))
        )
        default = f"env/{model}"
    elif model and not default:
        default = model
    if not providers:
        if section:
            raise ConfigError("llm: [[llm.providers]] or AFTERGLOW_LLM_BASE_URL is required")
        return None
    if not default:
        default = providers[0].models[0].ref
    return LLMConfig(
        providers=tuple(providers),
        default_model=str(default),
        fallback_order=tuple(str(x) for x in section.get("fallback", ()) or ()),
        allowed_models=tuple(str(x) for x in section.get("allowed", ()) or ()),
        attempt_timeout=float(section.get("attempt_timeout", DEFAULT_ATTEMPT_TIMEOUT)),
        turn_timeout=float(section.get("turn_timeout", DEFAULT_TURN_TIMEOUT)),
        max_attempts=int(section.get("max_attempts", DEFAULT_MAX_ATTEMPTS)),
    )


def _tables(value: Any, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError(f"{where} must be an array of tables")
    return list(value)


def _str(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key} is required (a string)")
    return value.strip()


def _int(table: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = table.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.{key}: {value!r} is not a whole number") from None
    if number <= 0:
        raise ConfigError(f"{where}.{key} must be greater than zero")
    return number


def _env_secret(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value:
        return value.strip()
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            with open(file_name, encoding="utf-8") as fh:
                return fh.read().strip() or None
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {file_name}: {exc.strerror}") from None
    return None
