"""Providers and models from `[llm]` in afterglow.toml and the AFTERGLOW_LLM_* shortcut."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.settings import Settings

TOML = """
[llm]
default_model = "deepseek-chat"
fallback = ["qwen-plus"]
allowed = ["deepseek-chat", "qwen-plus", "qwen-vl"]
max_attempts = 2

[[llm.providers]]
name = "deepseek"
base_url = "https://api.deepseek.example/v1/"
api_key_env = "DEEPSEEK_KEY"
[[llm.providers.models]]
id = "deepseek-chat"
context_window = 65536
max_output_tokens = 2048

[[llm.providers]]
name = "qwen"
base_url = "https://dashscope.example/compatible-mode/v1"
api_key_env = "QWEN_KEY"
[[llm.providers.models]]
id = "qwen-plus"
context_window = 131072
[[llm.providers.models]]
id = "qwen-vl"
context_window = 32000
vision = true
"""


def load(tmp_path: Path, toml: str | None, **env: str) -> Settings:
    base = {"AFTERGLOW_DATA_DIR": str(tmp_path / "d")}
    if toml is not None:
        path = tmp_path / "afterglow.toml"
        path.write_text(toml, encoding="utf-8")
        base["AFTERGLOW_CONFIG"] = str(path)
    return Settings.load({**base, **env})


def test_providers_models_and_keys_from_env(tmp_path: Path) -> None:
    cfg = load(tmp_path, TOML, DEEPSEEK_KEY="sk-d", QWEN_KEY="sk-q").llm()
    assert cfg is not None
    assert [m.id for m in cfg.chain()] == ["deepseek-chat", "qwen-plus"]
    assert cfg.provider("deepseek").api_key == "sk-d" and cfg.provider(
        "deepseek"
    ).base_url.endswith("/v1")
    assert cfg.model("qwen-vl").vision and cfg.model("deepseek-chat").max_output_tokens == 2048
    assert [m.id for m in cfg.selectable()] == ["deepseek-chat", "qwen-plus", "qwen-vl"]
    assert cfg.max_attempts == 2 and cfg.attempt_timeout == 60 and cfg.turn_timeout == 120


def test_env_shortcut_alone_and_in_front(tmp_path: Path) -> None:
    alone = load(
        tmp_path,
        None,
        AFTERGLOW_LLM_BASE_URL="http://127.0.0.1:8089/v1",
        AFTERGLOW_LLM_MODEL="llama3",
        AFTERGLOW_LLM_API_KEY="k",
    ).llm()
    assert alone is not None and alone.default_model == "env/llama3"
    assert alone.provider("env").api_key == "k" and alone.model("llama3").context_window == 32768
    both = load(
        tmp_path,
        TOML,
        AFTERGLOW_LLM_BASE_URL="http://127.0.0.1:8089/v1",
        AFTERGLOW_LLM_MODEL="llama3",
    ).llm()
    assert both is not None and [m.id for m in both.chain()] == ["llama3", "qwen-plus"]


def test_nothing_configured_means_no_model(tmp_path: Path) -> None:
    assert load(tmp_path, None).llm() is None


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        (None, {"AFTERGLOW_LLM_BASE_URL": "http://x/v1"}, "AFTERGLOW_LLM_MODEL"),
        ('[llm]\ndefault_model = "x"\n', {}, "llm.providers"),
        (
            TOML.replace('default_model = "deepseek-chat"', 'default_model = "gpt-5"'),
            {},
            "unknown model",
        ),
        (TOML.replace("https://api.deepseek", "ftp://api.deepseek"), {}, "base_url"),
        (TOML.replace("context_window = 65536", "context_window = 0"), {}, "context_window"),
        (
            TOML.replace('api_key_env = "QWEN_KEY"', 'api_key = "sk-live"'),
            {},
            "secrets are not read",
        ),
    ],
)
def test_bad_config_names_the_setting(
    tmp_path: Path, toml: str | None, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, toml, **env).llm()
