"""The hotline data file: sourced, fresh, correct, and picked per region and locale (A10, A11)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.services.i18n import I18n
from bot.services.safety.hotlines import DEFAULT_PATH, MAX_AGE_DAYS, HotlineBook, format_block


@pytest.fixture(scope="module")
def book() -> HotlineBook:
    return HotlineBook.load()


def test_every_entry_has_a_source_and_is_fresh(book: HotlineBook) -> None:
    """Fails when an entry lacks a source or was verified more than 180 days before today."""
    raw = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))["entries"]
    for item in raw:
        for field in ("region", "name_en", "name_zh", "number", "channel", "hours", "source_url",
                      "verified_on"):
            assert item.get(field), f"{item.get('id')} lacks {field}"
    today = date.today()
    assert book.stale(today) == (), "re-verify these hotlines at their source, then bump verified_on"
    for entry in book.entries:
        assert (today - entry.verified_on).days <= MAX_AGE_DAYS
        assert entry.verified_on <= today


def test_stale_check_catches_missing_source_and_old_dates(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    raw["entries"][0]["source_url"] = ""
    raw["entries"][1]["verified_on"] = (date.today() - timedelta(days=181)).isoformat()
    path = tmp_path / "hotlines.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    stale = HotlineBook.load(path).stale(date.today())
    assert {e.id for e in stale} == {raw["entries"][0]["id"], raw["entries"][1]["id"]}


def test_beijing_landline_and_mobile_are_not_swapped(book: HotlineBook) -> None:
    by_number = {e.number: e for e in book.entries}
    assert by_number["800-810-1117"].channel == "landline"
    assert by_number["010-82951332"].channel == "mobile"


@pytest.mark.parametrize(
    ("locale", "region", "must", "must_not", "overseas"),
    [
        ("zh_Hans", None, {"12356", "800-810-1117", "010-82951332"}, {"988"}, True),
        ("zh-CN", None, {"12356", "010-82951332"}, set(), True),
        ("en", None, {"988", "116 123"}, {"12356"}, False),
        ("en-US", None, {"988", "116 123"}, set(), False),
        ("zh-TW", None, {"1925"}, {"12356"}, False),
        ("zh-HK", None, {"18111", "2896 0000"}, {"12356"}, False),
        ("zh-Hant", None, {"18111", "1925"}, {"12356"}, False),
        ("zh_Hans", "US", {"988"}, {"12356"}, False),
        ("en", "CN", {"12356", "800-810-1117"}, {"988"}, False),
        ("en", "hk", {"18111"}, {"988"}, False),
        ("en", "GB", {"116 123"}, {"988"}, False),
        ("en", "JP", set(), {"988", "12356"}, False),
    ],
)
def test_region_resolution(book: HotlineBook, locale: str, region: str | None, must: set[str],
                           must_not: set[str], overseas: bool) -> None:
    plan = book.plan(region, locale)
    numbers = {e.number for e in plan.entries}
    assert must <= numbers
    assert not (must_not & numbers)
    assert "findahelpline.com" in numbers, "Find A Helpline is always included"
    assert plan.overseas_note is overseas
    assert plan.unknown_region is (region == "JP")


def test_block_text_in_both_languages(book: HotlineBook, i18n: I18n) -> None:
    zh = format_block(book.plan(None, "zh_Hans"), "zh", lambda k, **kw: i18n.t("zh_Hans", k, **kw))
    assert "12356" in zh and "座机拨打" in zh and "988" in zh and "findahelpline.com" in zh
    en = format_block(book.plan(None, "en"), "en", lambda k, **kw: i18n.t("en", k, **kw))
    assert "988" in en and "116 123" in en and "call or text" in en and "{" not in en
    jp = format_block(book.plan("JP", "en"), "en", lambda k, **kw: i18n.t("en", k, **kw))
    assert "findahelpline.com" in jp and "local emergency number" in jp
