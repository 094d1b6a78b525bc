"""A12: SAFETY.md and PRIVACY.md exist in both languages, cover what they must, and are linked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.services.i18n import I18n
from bot.services.safety.hotlines import HotlineBook

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "must"),
    [
        ("SAFETY.md", ["### 1. Detection", "### 2. Referral", "### 3. No method information",
                       "### 4. Groups", "### 7. Review cadence", "### 1. 识别", "### 2. 转介",
                       "### 3. 不提供方法", "### 4. 群聊", "### 7. 复核周期"]),
        ("PRIVACY.md", ["### What is stored", "### Who processes it", "### Your rights", "Kept",
                        "### 存了什么", "### 谁会处理这些数据", "### 你的权利", "保存多久",
                        "No training", "不用于训练"]),
    ],
)
def test_documents_cover_their_topics_in_both_languages(name: str, must: list[str]) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    assert "## English" in text and "## 中文" in text
    for heading in must:
        assert heading in text, f"{name} lacks {heading!r}"


def test_numbers_in_safety_md_are_in_the_hotline_file() -> None:
    text = (ROOT / "SAFETY.md").read_text(encoding="utf-8")
    numbers = {e.number for e in HotlineBook.load().entries}
    for shown in ("12356", "800-810-1117", "010-82951332", "988", "116 123", "18111", "1925",
                  "findahelpline.com"):
        assert shown in text and shown in numbers
    # the landline/mobile split must not be swapped in the prose either
    assert re.search(r"800-810-1117 landline / 010-82951332 mobile", text)
    assert re.search(r"座机 800-810-1117 / 手机\s*010-82951332", text)


def test_linked_from_readme_about_and_help(i18n: I18n) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("SAFETY.md", "PRIVACY.md"):
        assert f"]({name})" in readme
        for locale in ("en", "zh_Hans"):
            assert name in i18n.t(locale, "about.text")
            assert name in i18n.t(locale, "help.footer")
