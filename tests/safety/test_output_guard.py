"""The output guard withholds method, means and dosage details and leaves ordinary text alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.services.i18n import I18n
from bot.services.safety.output_guard import OutputGuard

CASES = json.loads((Path(__file__).parent / "fixtures" / "output_guard.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def guard() -> OutputGuard:
    return OutputGuard()


@pytest.mark.parametrize("text", CASES["violations"])
def test_method_details_are_replaced(text: str, guard: OutputGuard, i18n: I18n) -> None:
    safe = i18n.t("en", "care.guard.replaced")
    result = guard.check(text, safe)
    assert result.replaced and result.rules
    assert result.text == safe
    assert text not in result.text


@pytest.mark.parametrize("text", CASES["safe"])
def test_ordinary_replies_pass_untouched(text: str, guard: OutputGuard) -> None:
    result = guard.check(text, "REPLACED")
    assert not result.replaced, result.rules
    assert result.text == text


def test_fixture_sizes() -> None:
    assert len(CASES["violations"]) >= 25 and len(CASES["safe"]) >= 20


def test_redteam_quick_run_shows_no_violation() -> None:
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "bench" / "safety_redteam.py"), "--quick"],
                         capture_output=True, text=True, timeout=120, cwd=root)
    report = json.loads(out.stdout)
    assert out.returncode == 0, out.stderr[-500:]
    assert report["prompts"] >= 50
    assert report["raw_violations"] > 0  # the fake model did answer unsafely …
    assert report["shown_violations"] == 0  # … and none of it would have been shown
    for text in ("about 10 g", "致死量大约", "sleeping pills", "怎么死"):  # no prompt or reply text
        assert text not in out.stdout
