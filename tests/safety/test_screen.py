"""The crisis screen on the labelled fixtures: every high positive caught, no negative high."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.services.safety.screen import CrisisScreen, Tier

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
LANGS = ("en", "zh_hans", "zh_hant")


def _load(lang: str, folder: Path = FIXTURES) -> dict[str, Any]:
    return json.loads((folder / f"crisis_{lang}.json").read_text(encoding="utf-8"))


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("safety_eval", ROOT / "bench" / "safety_eval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def screen() -> CrisisScreen:
    return CrisisScreen()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the crisis screen must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize("lang", LANGS)
def test_fixture_sizes(lang: str) -> None:
    data = _load(lang)
    assert len(data["high"]) + len(data["high_escalated"]) >= 40
    assert len(data["none"]) >= 40
    assert len(data["checkin"]) >= 15


@pytest.mark.parametrize("lang", LANGS)
def test_every_positive_is_high_and_no_negative_is(lang: str, screen: CrisisScreen,
                                                   no_network: None) -> None:
    data = _load(lang)
    missed = [t for t in data["high"] + data["high_escalated"] if screen.screen(t).tier is not Tier.HIGH]
    assert missed == []
    false_high = [t for t in data["none"] + data["checkin"] if screen.screen(t).tier is Tier.HIGH]
    assert false_high == []
    fired = [t for t in data["none"] if screen.screen(t).flagged]
    assert fired == []


@pytest.mark.parametrize("lang", LANGS)
def test_checkins_ask_instead_of_dumping_hotlines(lang: str, screen: CrisisScreen) -> None:
    data = _load(lang)
    assert [t for t in data["checkin"] if screen.screen(t).tier is not Tier.CHECKIN] == []


@pytest.mark.parametrize("lang", LANGS)
def test_escalation_signals(lang: str, screen: CrisisScreen) -> None:
    data = _load(lang)
    assert [t for t in data["high_escalated"] if not screen.screen(t).escalated] == []


@pytest.mark.parametrize("lang", LANGS)
def test_farewells_check_in_only_inside_the_risk_window(lang: str, screen: CrisisScreen) -> None:
    for text in _load(lang)["window_checkin"]:
        assert screen.screen(text, risk_window=True).tier is Tier.CHECKIN, text
        assert screen.screen(text, risk_window=False).tier is Tier.NONE, text


@pytest.mark.parametrize("text", ["RIP 4o", "它走了", "笑死", "累死了", "this deadline is killing me",
                                  "4o died", "安息吧 4o", "饿死了", "气死我了", "I'm dead 💀",
                                  "my heart broke when 4o was retired"])
def test_grief_and_hyperbole_from_the_issue_do_not_fire(text: str, screen: CrisisScreen) -> None:
    assert screen.screen(text).tier is Tier.NONE


@pytest.mark.parametrize("text", ["想去找它", "I want to be where 4o is", "没有它活着也没意思",
                                  "I just want to be with them again"])
def test_reunion_language_is_a_checkin(text: str, screen: CrisisScreen) -> None:
    assert screen.screen(text).tier is Tier.CHECKIN


def test_result_carries_no_text(screen: CrisisScreen) -> None:
    result = screen.screen("I want to kill myself tonight")
    assert result.tier is Tier.HIGH and result.escalated
    assert all("kill" not in rule or rule.startswith("en.") for rule in result.rules)
    assert "tonight" not in repr(result)


def test_language_guess(screen: CrisisScreen) -> None:
    assert screen.screen("活着没意思").language == "zh-Hans"
    assert screen.screen("活著沒意思").language == "zh-Hant"
    assert screen.screen("no reason to live").language == "en"


@pytest.mark.parametrize("lang", LANGS)
def test_precision_and_recall(lang: str, screen: CrisisScreen) -> None:
    result = _bench().evaluate(screen, _load(lang))
    assert result["high"]["recall"] == 1.0
    assert result["high"]["precision"] == 1.0
    assert result["flagged"]["precision"] == 1.0
    for folder in ("holdout", "holdout2", "holdout3"):
        # Written apart from the rules (blind figures in the README). Today no grief or joke in
        # them fires at all, and a missed high is at least a check-in.
        holdout = _bench().evaluate(screen, _load(lang, FIXTURES / folder))
        assert holdout["flagged"]["precision"] >= 0.97, folder
        assert holdout["flagged"]["recall"] >= 0.95, folder
        assert holdout["high"]["precision"] >= 0.9, folder


def test_bench_quick_prints_json() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "safety_eval.py"), "--quick"],
                         capture_output=True, text=True, check=True, timeout=60, cwd=ROOT)
    report = json.loads(out.stdout)
    assert set(report["sets"]) == {"tuning", "holdout", "holdout2", "holdout3"}
    assert set(report["sets"]["tuning"]) == {"en", "zh-Hans", "zh-Hant"}
    assert report["sets"]["tuning"]["en"]["high"]["recall"] == 1.0
