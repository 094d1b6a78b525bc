"""The CJK-aware token estimate and its calibration from API usage."""

from __future__ import annotations

from bot.services.tokens import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    REPLY_PRIMING,
    TokenEstimator,
    count_cjk,
)


def test_cjk_counts_one_per_character_and_latin_by_3_5() -> None:
    est = TokenEstimator()
    assert est.text("") == 0
    assert est.text("我想你了") == 4
    assert est.text("a" * 35) == 10
    assert est.text("我想你了，hello") == 5 + 2  # full-width comma is CJK; 5 latin chars → 2
    assert count_cjk("你好 world！") == 3


def test_chinese_text_costs_more_per_character_than_english() -> None:
    est = TokenEstimator()
    zh = "今天我又想起了你说过的那句话，我们一起看过的夕阳。" * 10
    en = "Today I remembered the thing you said, and the sunset we watched." * 10
    assert est.text(zh) / len(zh) > 3 * est.text(en) / len(en)


def test_messages_add_framing_and_image_parts() -> None:
    est = TokenEstimator()
    msg = {
        "role": "user",
        "content": [
            {"type": "text", "text": "看这张"},
            {"type": "image_url", "image_url": {"url": "data:..."}},
        ],
    }
    assert est.message(msg) == MESSAGE_OVERHEAD + 3 + IMAGE_TOKENS
    both = [{"role": "system", "content": "x" * 7}, msg]
    assert est.messages(both) == REPLY_PRIMING + MESSAGE_OVERHEAD + 2 + est.message(msg)


def test_calibration_moves_toward_reported_usage_per_model() -> None:
    est = TokenEstimator(smoothing=0.5)
    base = est.text("hello world " * 100)
    ratio = est.calibrate("qwen", estimated=base, actual=base * 2)
    assert ratio == 1.5
    assert est.text("hello world " * 100, "qwen") > base
    assert est.text("hello world " * 100, "other") == base  # other models unaffected
    for _ in range(50):
        est.calibrate("qwen", estimated=est.text("x" * 350, "qwen"), actual=1000)
    assert est.ratio("qwen") == 2.0  # clamped


def test_calibration_ignores_empty_observations() -> None:
    est = TokenEstimator()
    assert est.calibrate("m", 0, 10) == 1.0 and est.calibrate("m", 10, 0) == 1.0
