"""Settings: defaults with no file, env over file, one clear line for a bad setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.settings import Settings


def test_defaults_need_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.load({})
    assert s.data_dir == Path("data")
    assert s.telegram_token is None and s.llm_base_url is None
    s = Settings.load(
        {
            "AFTERGLOW_LLM_BASE_URL": "http://127.0.0.1:9/v1/",
            "AFTERGLOW_LLM_API_KEY": "k-123456",
            "AFTERGLOW_LLM_MODEL": "m",
        }
    )
    assert (s.llm_base_url, s.llm_api_key, s.llm_model) == ("http://127.0.0.1:9/v1", "k-123456", "m")


def test_env_wins_over_file_and_secret_files_work(tmp_path: Path) -> None:
    cfg = tmp_path / "afterglow.toml"
    cfg.write_text('[afterglow]\ndata_dir = "from-file"\nlog_level = "debug"\n', encoding="utf-8")
    token = tmp_path / "tg"
    token.write_text("123:abc\n", encoding="utf-8")
    s = Settings.load(
        {"AFTERGLOW_CONFIG": str(cfg), "AFTERGLOW_DATA_DIR": "env-dir", "TELEGRAM_TOKEN_FILE": str(token)}
    )
    assert s.data_dir == Path("env-dir")
    assert s.log_level == "DEBUG"
    assert s.telegram_token == "123:abc"


@pytest.mark.parametrize(
    ("env", "toml", "names"),
    [
        ({"AFTERGLOW_LOG_LEVEL": "LOUD"}, None, "AFTERGLOW_LOG_LEVEL"),
        ({"AFTERGLOW_MAX_UPLOAD_MB": "-1"}, None, "AFTERGLOW_MAX_UPLOAD_MB"),
        ({"AFTERGLOW_LLM_BASE_URL": "localhost:8080"}, None, "AFTERGLOW_LLM_BASE_URL"),
        ({}, "[llm]\napi_key = 'sk-oops'\n", "llm.api_key"),
        ({}, "not = [valid", "AFTERGLOW_CONFIG"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path: Path, env, toml, names) -> None:
    if toml is not None:
        cfg = tmp_path / "c.toml"
        cfg.write_text(toml, encoding="utf-8")
        env = {**env, "AFTERGLOW_CONFIG": str(cfg)}
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        Settings.load(env)


def test_cli_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--user", "ann"],
        input="",
        capture_output=True,
        text=True,
        env={"AFTERGLOW_LOG_LEVEL": "LOUD", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "AFTERGLOW_LOG_LEVEL" in proc.stderr and "Traceback" not in proc.stderr
