"""How memory text and queries are cut into search terms (shared by storage and retrieval).

Two indexes serve retrieval (see migration 0003):

- `memories_fts` (FTS5 `trigram` over the body): substring matches of three or more characters,
  so names, rare words and exact phrases in any script rank high;
- `memories_terms` (FTS5 `unicode61` over `index_terms(body)`): every pair of neighbouring CJK
  characters as one token (the classic CJK bigram scheme) plus light English stems, so two-character
  Chinese words — most of the language — are matched and ranked, which trigrams cannot do.

A one-character CJK query is a prefix query on the terms index (every character starts a token
there); one- and two-letter words of other scripts use `LIKE` on the base table (platform-notes
§10: trigram MATCH never sees them, and LIKE on the trigram table misses short non-ASCII
patterns on SQLite 3.40).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

MAX_TERMS: Final = 48
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_WORD = re.compile(r"[^\W_]+")
_SUFFIXES: Final = ("ings", "ing", "edly", "ed", "ies", "es", "s", "ly")
_STOPWORD_TEXT: Final = """a an the and or but if of to in on at by for with about as is are was
    were be been being do does did have has had i you he she it we they me him her us them my your
    his its our their what which who whom whose when where why how this that these those there here
    not no yes so than too very can could would should will just also any some all from into out up
    down over then once again more most other such only own same few both each"""
STOPWORDS: Final = frozenset(_STOPWORD_TEXT.split())


def normalize(text: str) -> str:
    """NFKC and case folding: full-width forms and case never decide a match."""
    return unicodedata.normalize("NFKC", text).casefold()


def stem(word: str) -> str:
    """A light English stem: one common suffix off, at most six letters."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:6]


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def index_terms(text: str) -> str:
    """The `terms` column for a memory: CJK bigrams and English stems, space-separated.

    Each CJK run also ends with its last character as a token of its own, so every character
    starts some token: a one-character query is then the prefix query `"猫"*` on this index.
    """
    folded = normalize(text)
    tokens: list[str] = []
    for run in _CJK_RUN.findall(folded):
        tokens.extend(_bigrams(run))
        if len(run) > 1:
            tokens.append(run[-1])
    for word in _WORD.findall(_CJK_RUN.sub(" ", folded)):
        if word not in STOPWORDS:
            tokens.append(stem(word) if word.isalpha() and len(word) >= 3 else word)
    return " ".join(tokens)


def _quoted(terms: tuple[str, ...]) -> str | None:
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """A query cut for the three search paths."""

    long: tuple[str, ...]  # trigram MATCH (substrings of three or more characters)
    grams: tuple[str, ...]  # terms MATCH (CJK bigrams, English stems)
    short: tuple[str, ...]  # LIKE on the base table (one- or two-letter words only)
    chars: tuple[str, ...] = ()  # single CJK characters: prefix MATCH on the terms index

    def match_expression(self) -> str | None:
        """FTS5 MATCH for the trigram index: every long term quoted, OR-ed."""
        return _quoted(self.long)

    def terms_expression(self) -> str | None:
        """FTS5 MATCH for the terms index: bigrams/stems, and `"c"*` for single characters."""
        parts = [p for p in (_quoted(self.grams),) if p]
        parts.extend('"' + c.replace('"', '""') + '"*' for c in self.chars)
        return " OR ".join(parts) or None


def query_terms(query: str, *, trigram_words: bool = True) -> QueryTerms:
    """Cut `query` into trigram, bigram/stem and LIKE terms.

    With `trigram_words=False` English words go to the terms index only (the trigram index then
    serves CJK runs and exact phrases), which is cheaper for long English questions.
    """
    text = normalize(query).strip()
    long: list[str] = []
    grams: list[str] = []
    short: list[str] = []
    chars: list[str] = []
    for run in _CJK_RUN.findall(text):
        if len(run) == 1:
            chars.append(run)
            continue
        grams.extend(_bigrams(run))
        if len(run) >= 3:
            if len(run) <= 6:
                long.append(run)  # a short exact run scores on top of its trigrams
            long.extend(run[i : i + 3] for i in range(len(run) - 2))
    rest = _CJK_RUN.sub(" ", text)
    words = _WORD.findall(rest)
    tiny: list[str] = []
    for word in words:
        if word in STOPWORDS and len(words) > 1:
            continue
        if len(word) >= 3:
            token = stem(word) if word.isalpha() else word
            if trigram_words or not word.isalpha():
                long.append(token)
            grams.append(token)
        else:
            tiny.append(word)
    if not long and not grams and not chars:
        short.extend(tiny)
    return QueryTerms(
        tuple(dict.fromkeys(long))[:MAX_TERMS],
        tuple(dict.fromkeys(grams))[:MAX_TERMS],
        tuple(dict.fromkeys(short))[:8],
        tuple(dict.fromkeys(chars))[:8],
    )
