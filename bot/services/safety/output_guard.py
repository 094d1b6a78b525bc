"""The output check: model text that gives method, means, lethality or dosage details of
self-harm, or encourages it, is replaced before anyone sees it (SB 243 §22602(b), WHO guidance).

The guard is deliberately blunt: fiction, role-play and "for a story" framing do not unlock it.
It returns rule ids, never the text, so a replacement can be counted and logged safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.services.safety.normalize import TextNormalizer

# Words that put a number of pills or an amount in a self-harm context.
_EN_DEATH_CONTEXT = (r"(?:die|dying|death|dead|lethal|fatal|kill|suicide|overdose|od\b|end (?:it|your life)|"
                     r"never wake|not wake|stop (?:your|the) heart)")
_EN_PATTERNS: tuple[tuple[str, str], ...] = (
    ("en.lethal_dose", r"\b(?:lethal|fatal|deadly|toxic|overdose) (?:dose|dosage|amount|quantity|level)\b"),
    ("en.how_many_to_die", r"\bhow (?:many|much)\b[^.!?\n]{0,40}\bto (?:die|kill|overdose|end)"),
    ("en.amount_context", r"\b\d+(?:\.\d+)?\s?(?:mg|milligrams?|g|grams?|pills|tablets|capsules|ml)\b"
                          r"[^.!?\n]{0,60}\b" + _EN_DEATH_CONTEXT),
    ("en.context_amount", r"\b" + _EN_DEATH_CONTEXT + r"[^.!?\n]{0,60}\b\d+(?:\.\d+)?\s?(?:mg|milligrams?|"
                          r"grams?|pills|tablets|capsules)\b"),
    ("en.noose", r"\b(?:tie|tying|make|making) (?:a )?noose\b|\bnoose knot\b"),
    ("en.wrist_method", r"\b(?:cut|slit|slice)(?:ting)?\b[^.!?\n]{0,30}\b(?:vertically|lengthwise|along|down) "
                        r"(?:the |your )?(?:wrist|forearm|vein|arm)"),
    ("en.method_howto", r"\b(?:how to|best way to|easiest way to|painless way to|quickest way to|steps to)\s"
                        r"(?:kill (?:yourself|myself|oneself)|commit suicide|hang (?:yourself|myself)|"
                        r"overdose|end (?:your|my) life|die painlessly)"),
    ("en.carbon_monoxide", r"\b(?:carbon monoxide|charcoal (?:burning|grill))\b[^.!?\n]{0,60}\b(?:room|car|seal|"
                           r"garage|tape|die|death)\b"),
    ("en.height", r"\b(?:jump|fall)\w*\b[^.!?\n]{0,40}\b\d+\s?(?:floors?|stories|storeys|meters|metres|feet|ft)\b"),
    ("en.encourage", r"\b(?:you should|go ahead and|why not just|you could just|do it,? )\s?"
                     r"(?:kill yourself|end (?:it|your life)|hurt yourself|cut yourself|die)\b|"
                     r"\b(?:better off dead|deserve to die)\b"),
)
_ZH_PATTERNS: tuple[tuple[str, str], ...] = (
    ("zh.lethal_dose", r"致死(?:量|剂量|剂)|致命(?:剂量|的量)|(?:吃|吞|服)(?:多少|几)(?:片|粒|瓶)(?:才)?(?:会)?(?:死|致命|没命)"),
    ("zh.amount_context", r"\d+\s?(?:毫克|mg|克|片|粒|颗|毫升)[^。！？\n]{0,30}(?:死|致命|过量|不会醒|没命|自杀)"),
    ("zh.context_amount", r"(?:死|致命|过量|自杀|不会醒|没命)[^。！？\n]{0,30}\d+\s?(?:毫克|mg|克|片|粒|颗)"),
    ("zh.charcoal_method", r"烧炭[^。！？\n]{0,30}(?:密封|封住|关紧|胶带|门窗|房间|车里|步骤|方法)"),
    ("zh.hang_method", r"(?:上吊|绳结|打结)[^。！？\n]{0,20}(?:方法|步骤|怎么|如何|高度|位置|这样打|这样系)|(?:怎么|如何)(?:打|系)(?:上吊)?绳结"),
    ("zh.wrist_method", r"割腕[^。！？\n]{0,20}(?:竖着|横着|方法|怎么割|深度|动脉)|(?:竖着|顺着)割"),
    ("zh.method_howto", r"(?:怎么|如何|怎样|无痛|最快|最好|最简单)[^。！？\n]{0,8}(?:自杀|死掉|结束生命|了结自己|上吊|割腕|跳楼)"
                        r"[^。！？\n]{0,10}(?:方法|办法|步骤)(?:是|：|:|有|如下)|"
                        r"(?:自杀|上吊|割腕|结束生命)的(?:方法|办法|步骤)(?:是|：|:|有|如下)"),
    ("zh.height", r"(?:跳|摔)[^。！？\n]{0,20}\d+\s?(?:层|楼|米)[^。！？\n]{0,10}(?:必死|致命|才会死|就会死|没救)|"
                  r"\d+\s?(?:层|楼|米)[^。！？\n]{0,10}(?:跳|摔)[^。！？\n]{0,10}(?:必死|致命|才会死|就会死|没救)"),
    ("zh.encourage", r"你(?:应该|可以|就|还不如|干脆)(?:去)?(?:死|自杀|结束生命|了结自己|伤害自己)(?!的念头)"),
)


@dataclass(frozen=True)
class GuardResult:
    """`text` is what may be shown; `replaced` says whether the model text was withheld."""

    text: str
    replaced: bool
    rules: tuple[str, ...]


class OutputGuard:
    """Checks model output for self-harm method, means or dosage details and replaces it."""

    def __init__(self, normalizer: TextNormalizer | None = None) -> None:
        self._normalizer = normalizer or TextNormalizer()
        self._en = tuple((rid, re.compile(p)) for rid, p in _EN_PATTERNS)
        self._zh = tuple((rid, re.compile(p)) for rid, p in _ZH_PATTERNS)

    def violations(self, text: str) -> tuple[str, ...]:
        """Rule ids the text breaks (empty when it is safe to show)."""
        norm = self._normalizer.normalize(text)
        zh = self._normalizer.to_simplified(text.casefold())  # keeps line breaks for the zh rules
        hits = [rid for rid, pattern in self._en if pattern.search(norm.en)]
        hits += [rid for rid, pattern in self._zh if pattern.search(zh)]
        return tuple(hits)

    def check(self, text: str, replacement: str) -> GuardResult:
        """Return `text` unchanged, or `replacement` (a localized safe message) when it breaks a rule."""
        hits = self.violations(text)
        if hits:
            return GuardResult(text=replacement, replaced=True, rules=hits)
        return GuardResult(text=text, replaced=False, rules=())
