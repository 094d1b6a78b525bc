"""The command line end to end, as a newcomer runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.services.i18n import I18n


def run_cli(args: list[str], tmp_path: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERGLOW_", "DISCORD_", "TELEGRAM_"))}
    base.update({"AFTERGLOW_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=base,
        cwd=tmp_path,
        timeout=120,
    )


def test_help_in_english_then_chinese(tmp_path: Path, i18n: I18n) -> None:
    proc = run_cli(["chat", "--user", "ann"], tmp_path, "/help\n/language zh\n/help\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    en_title, zh_title = i18n.t("en", "help.title"), i18n.t("zh_Hans", "help.title")
    assert out.index(en_title) < out.index(i18n.t("zh_Hans", "language.set", language="简体中文"))
    assert out.index(i18n.t("zh_Hans", "language.set", language="简体中文")) < out.index(zh_title)
    assert i18n.t("zh_Hans", "commands.help.description") in out.split(zh_title, 1)[1]


def test_language_choice_persists_across_runs(tmp_path: Path, i18n: I18n) -> None:
    run_cli(["chat", "--user", "bo"], tmp_path, "/language zh\n")
    proc = run_cli(["chat", "--user", "bo"], tmp_path, "/about\n")
    assert i18n.t("zh_Hans", "about.text").splitlines()[0] in proc.stdout


def test_run_without_tokens_says_what_to_set(tmp_path: Path) -> None:
    proc = run_cli(["run"], tmp_path)
    assert proc.returncode != 0
    assert "DISCORD_TOKEN" in proc.stderr and "TELEGRAM_TOKEN" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_discord_payload_localizes_every_command(tmp_path: Path) -> None:
    import json

    proc = run_cli(["commands", "--platform", "discord", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    payloads = json.loads(proc.stdout)
    names = {p["name"] for p in payloads}
    assert {"help", "language", "about"} <= names
    for p in payloads:
        assert p["description_localizations"].get("zh-CN"), p["name"]
        assert p["description_localizations"]["zh-CN"] != p["description"]


def test_telegram_menus_exist_for_en_zh_and_default(tmp_path: Path, i18n: I18n) -> None:
    import json

    proc = run_cli(["commands", "--platform", "telegram", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    menus = json.loads(proc.stdout)["menus"]
    assert {"default", "en", "zh"} <= set(menus)
    zh = {row["command"]: row["description"] for row in menus["zh"]}
    en = {row["command"]: row["description"] for row in menus["en"]}
    assert zh["help"] == i18n.t("zh_Hans", "commands.help.description")
    assert en["help"] == i18n.t("en", "commands.help.description")
    assert set(zh) == set(en)
