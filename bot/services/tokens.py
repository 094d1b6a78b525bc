"""A CJK-aware token estimate that needs no tokenizer files (platform-notes §9).

    tokens ≈ n_cjk × 1.0 + n_other / 3.5   (+ a fixed overhead per chat message)

Measured against o200k this over-counts by 5–7 % for Chinese and English, which is the safe
side for a budget. Any OpenAI-compatible model may sit behind the endpoint (Qwen, DeepSeek, GLM
all have their own tokenizers), so the provider's reported `usage` is the truth: `calibrate()`
folds it into a per-model correction factor.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

_CJK = re.compile("[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
# Per-message framing (role markers, separators) in OpenAI-style chat formats.
MESSAGE_OVERHEAD = 4
# Every reply is primed with a few tokens (`<|start|>assistant<|message|>`).
REPLY_PRIMING = 3
# A low-detail image part costs 85 tokens on OpenAI; other vendors are in the same range.
IMAGE_TOKENS = 85


def count_cjk(text: str) -> int:
    """How many characters of `text` fall in the CJK ranges."""
    return len(_CJK.findall(text))


class TokenEstimator:
    """Estimates tokens for text and chat messages; learns a correction factor per model."""

    def __init__(
        self, *, min_ratio: float = 0.6, max_ratio: float = 2.0, smoothing: float = 0.3
    ) -> None:
        self._ratios: dict[str, float] = {}
        self._min = min_ratio
        self._max = max_ratio
        self._alpha = smoothing

    def ratio(self, model: str | None) -> float:
        """The correction factor learned for `model` (1.0 until calibrated)."""
        return self._ratios.get(model or "", 1.0)

    def raw(self, text: str) -> float:
        """The uncalibrated heuristic for `text`, unrounded."""
        cjk = count_cjk(text)
        return cjk + (len(text) - cjk) / 3.5

    def text(self, text: str, model: str | None = None) -> int:
        """Tokens for a piece of text."""
        if not text:
            return 0
        return math.ceil(self.raw(text) * self.ratio(model))

    def content(self, content: Any, model: str | None = None) -> int:
        """Tokens for a message `content`: a string or a list of text / image parts."""
        if isinstance(content, str):
            return self.text(content, model)
        total = 0
        for part in content if isinstance(content, list) else ():
            if isinstance(part, Mapping):
                if part.get("type") == "text":
                    total += self.text(str(part.get("text", "")), model)
                elif part.get("type") == "image_url":
                    total += IMAGE_TOKENS
        return total

    def message(self, message: Mapping[str, Any], model: str | None = None) -> int:
        """Tokens for one chat message including its framing."""
        return MESSAGE_OVERHEAD + self.content(message.get("content", ""), model)

    def messages(self, messages: Iterable[Mapping[str, Any]], model: str | None = None) -> int:
        """Tokens for a whole request's messages, including reply priming."""
        return REPLY_PRIMING + sum(self.message(m, model) for m in messages)

    def calibrate(self, model: str, estimated: int, actual: int) -> float:
        """Fold one observation (our estimate vs the API's `prompt_tokens`) into `model`'s factor.

        An exponential moving average of actual/estimate, clamped, so one odd response cannot
        swing the budget. Returns the new factor.
        """
        if estimated <= 0 or actual <= 0:
            return self.ratio(model)
        current = self.ratio(model)
        # The estimate we compare against was already scaled by the current factor.
        observed = current * actual / estimated
        new = (1 - self._alpha) * current + self._alpha * observed
        new = min(self._max, max(self._min, new))
        self._ratios[model] = new
        return new
