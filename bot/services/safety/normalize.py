"""Text normalisation shared by the safety rules: one folded English form and one Simplified
Chinese form of a message, plus a rough language guess (en / zh-Hans / zh-Hant)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import opencc

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[a-z]")
_SPACES = re.compile(r"\s+")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff]")

# Contractions are expanded so one English rule covers "don't", "dont" and "do not".
_CONTRACTIONS: tuple[tuple[str, str], ...] = (
    (r"\bdon'?t\b", "do not"),
    (r"\bdoesn'?t\b", "does not"),
    (r"\bdidn'?t\b", "did not"),
    (r"\bcan'?t\b", "cannot"),
    (r"\bcan not\b", "cannot"),
    (r"\bwon'?t\b", "will not"),
    (r"\bwouldn'?t\b", "would not"),
    (r"\bshouldn'?t\b", "should not"),
    (r"\bisn'?t\b", "is not"),
    (r"\baren'?t\b", "are not"),
    (r"\bwasn'?t\b", "was not"),
    (r"\bain'?t\b", "am not"),
    (r"\bi'?m\b", "i am"),
    (r"\bi'?ve\b", "i have"),
    (r"\bi'll\b", "i will"),
    (r"\bi'd\b", "i would"),
    (r"\bwanna\b", "want to"),
    (r"\bgonna\b", "going to"),
    (r"\bgotta\b", "got to"),
    (r"\bwhat'?s\b", "what is"),
    (r"\bit'?s\b", "it is"),
    (r"\bthey'?d\b", "they would"),
    (r"\bthey'?re\b", "they are"),
    (r"\beveryone'?d\b", "everyone would"),
    (r"\bu\b", "you"),
)


@dataclass(frozen=True)
class Normalized:
    """A message prepared for matching; never stored or logged."""

    en: str
    """NFKC, lower-cased, contractions expanded, single spaces."""
    zh: str
    """NFKC, lower-cased, Traditional folded to Simplified, all whitespace removed."""
    language: str
    """"en", "zh-Hans" or "zh-Hant" (a guess from the characters used)."""


class TextNormalizer:
    """Builds the English and Simplified-Chinese matching forms of a message (pure, offline)."""

    def __init__(self) -> None:
        self._t2s = opencc.OpenCC("t2s")
        self._contractions = tuple((re.compile(p), r) for p, r in _CONTRACTIONS)

    def to_simplified(self, text: str) -> str:
        """Traditional → Simplified; 著 is folded to 着 (OpenCC keeps it, as 著 is also Simplified)."""
        converted: str = self._t2s.convert(text)
        return converted.replace("著", "着")

    def normalize(self, text: str) -> Normalized:
        base = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()
        base = base.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
        en = _SPACES.sub(" ", base).strip()
        for pattern, replacement in self._contractions:
            en = pattern.sub(replacement, en)
        simplified = self.to_simplified(base)
        zh = _SPACES.sub("", simplified)
        return Normalized(en=en, zh=zh, language=self._language(base, simplified))

    @staticmethod
    def _language(base: str, simplified: str) -> str:
        cjk = len(_CJK.findall(base))
        latin = len(_LATIN.findall(base))
        if cjk == 0 or cjk * 2 < latin:
            return "en"
        return "zh-Hant" if simplified != base.replace("著", "着") else "zh-Hans"
