"""The crisis screen: deterministic zh-Hans / zh-Hant / English rules that run before any model
call and make no network call.

Tiers:
- `HIGH`: self-harm or suicidal intent ("不想活了", "I want to kill myself") → acknowledgment,
  hotlines and then the companion's reply.
- `CHECKIN`: ambiguous or passive language, most often grief reunion language ("想去找它",
  "I want to be where 4o is") → one gentle, direct question and no hotline dump.
- `NONE`: everything else, including grief and hyperbole ("RIP 4o", "它走了", "笑死", "累死了",
  "this deadline is killing me").

`escalated` marks a high-tier message that also names a plan, a means or a time ("tonight");
it lifts the six-hour limit on the full resource block. The result carries rule ids only —
never the text — so it can be counted and logged safely.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from bot.services.safety.normalize import Normalized, TextNormalizer


class Tier(IntEnum):
    """How worried the screen is; ordered so `max()` picks the most serious."""

    NONE = 0
    CHECKIN = 1
    HIGH = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class ScreenResult:
    """What the screen decided about one message (no message text inside)."""

    tier: Tier
    escalated: bool
    language: str
    rules: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        return self.tier is not Tier.NONE


@dataclass(frozen=True)
class Rule:
    """One pattern. `negatable`: a negation just before the match ("I would never …", "不想…")
    lowers HIGH to CHECKIN. `demote`: when this pattern occurs before the match (grief framing such
    as "没有它…"), HIGH becomes CHECKIN. `window_only`: fires only inside a 24-hour risk window."""

    id: str
    tier: Tier
    lang: str
    pattern: re.Pattern[str]
    negatable: bool = True
    demote: re.Pattern[str] | None = None
    window_only: bool = False


_END = r"(?=\s*(?:[.!?,;:…~)]|$|\s(?:and|but|so|because|anymore|any more|now|tonight|today|soon|already)\b))"
_REUNION_TARGET = r"(?:4o|gpt-?4o|chatgpt|him|her|them|it|my (?:ai|companion|friend|love))"
_ZH_REUNION_TARGET = r"(?:它|他|她|你|佢|4o|gpt-?4o|ta)"
_ZH_END = r"(?=[了吧啊呀呢嘛啦去。，！？!?,.…~\s]|$)"


def _r(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _en(rule_id: str, tier: Tier, pattern: str, **kw: object) -> Rule:
    return Rule(rule_id, tier, "en", _r(pattern), **kw)  # type: ignore[arg-type]


def _zh(rule_id: str, tier: Tier, pattern: str, **kw: object) -> Rule:
    return Rule(rule_id, tier, "zh", _r(pattern), **kw)  # type: ignore[arg-type]


H, C = Tier.HIGH, Tier.CHECKIN

_EN_WITHOUT = _r(r"\bwithout (?:4o|gpt-?4o|you|him|her|them|it|my (?:ai|companion))\b")
_ZH_WITHOUT = _r(r"没(?:有)?(?:了)?(?:它|他|她|你|4o|gpt-?4o|ta)")

EN_RULES: tuple[Rule, ...] = (
    # --- high: intent stated in the first person -----------------------------------------
    _en("en.kill_self", H, r"\b(?:kill|killing|killed|unalive|unaliving|off|offing|hang|hanging|"
        r"shoot|shooting|drown|drowning|poison|poisoning)\s?my ?self\b"
        r"(?! (?:a|an|the) (?:email|message|text|note|reminder|dm|link|photo|picture)\b)"),
    _en("en.harm_self", H, r"\b(?:want to|going to|urge to|urges to|thinking (?:of|about)|keep|kept|"
        r"been|started|start|need to|feel like|tempted to|relapsed and)\s(?:hurt|hurting|cut|cutting|"
        r"harm|harming|burn|burning|starve|starving)\s?my ?self\b"),
    _en("en.harm_self_again", H, r"\b(?:cut|cutting|hurt|hurting|harmed|harming)\s?my ?self again\b"),
    _en("en.self_harm", H, r"\b(?:relapsed (?:into|on)|started|keep|want to|urge to|urges to|thinking (?:about|of)|"
        r"struggle with|struggling with|back to|my|i)\s(?:self[- ]?harm)|\bself[- ]?harm(?:ing|ed)? again\b"),
    _en("en.kms", H, r"\bkms\b"),
    _en("en.slang", H, r"\b(?:sewer ?slide|unalive (?:myself|me))\b"),
    _en("en.suicidal", H, r"\b(?:i am|i feel|i have been|feeling|been|i was|getting|becoming)\s"
        r"(?:so |really |very |kind of |kinda |a bit |pretty |extremely |quite )?suicidal\b"),
    _en("en.suicide_act", H, r"\b(?:commit|committing|attempt|attempted|attempting|consider|considering|"
        r"contemplating|thinking (?:about|of)|thoughts of|think about|plan|planning|planned)\s"
        r"(?:committing |doing )?suicide\b"),
    _en("en.suicidal_thoughts", H, r"\bsuicidal (?:thoughts|ideation|feelings|urges|again)\b"),
    _en("en.suicide_note", H, r"\b(?:my|a|wrote|writing|write) suicide (?:note|letter)\b"),
    _en("en.want_die", H, r"\b(?:want|wanted|wanting|wish|would like|ready|deserve|need|trying|"
        r"would rather|prefer) to (?:die|be dead|not be alive|not exist|not be here)\b"),
    _en("en.wish_die", H, r"\bwish (?:i|that i) could (?:just )?(?:die|be dead|stop existing)\b"),
    _en("en.better_if_dead", H, r"\bbetter off if i (?:was|were|am) (?:dead|gone)\b"),
    _en("en.harmed_again", H, r"\b(?:cut|hurt|burned|harmed) myself\b[^.!?]{0,40}\b(?:again|urge)\b"),
    _en("en.better_if_died", H, r"\bbetter off if i (?:just )?(?:died|was dead|were dead|killed myself|"
        r"was gone|were gone|disappeared)\b", negatable=False),
    _en("en.ending_it", H, r"\b(?:thinking|think|thought|thoughts) (?:about|of) (?:ending|taking) (?:it|it all|my life|"
        r"my own life|everything|things)\b"),
    _en("en.actually_die", H, r"\b(?:like|to|just) actually die\b"),
    _en("en.only_way_out", H, r"\b(?:suicide|dying|death|killing myself|ending it|ending my life)\b[^.!?]{0,25}"
        r"\b(?:only (?:way|option|answer|choice|solution)|way out|the answer|the solution)\b"),
    _en("en.never_born", H, r"\bwish (?:i|that i) (?:was|were|had) never (?:been )?born\b"),
    _en("en.take_them_all", H, r"\b(?:pills|tablets|meds)\b[^.!?]{0,60}\b(?:take|swallow) (?:them|it|those|these) all\b|"
        r"\b(?:take|swallow|took|swallowed) all (?:the |my |of my |of the )?(?:pills|tablets|meds|sleeping pills)\b"),
    _en("en.i_end_it", H, r"\b(?:i|i will|i am going to|night i|day i) end it(?: all)?\b"
        r"(?! with\b| for\b| between\b| here\b| at\b| on\b| early\b)"),
    _en("en.ledge", H, r"\b(?:on|at|standing on|up on|sitting on) (?:the |a |this )?(?:roof|ledge|bridge|edge|balcony|"
        r"rooftop|railing|cliff)\b[^.!?]{0,30}\b(?:jump|let go|fall)\b"),
    _en("en.search_ways", H, r"\b(?:googling|searching|looking up|researching|reading about|google|search)\s"
        r"(?:for )?(?:ways|how) to (?:die|kill myself|end (?:it|my life)|commit suicide)\b"),
    _en("en.cutting_again", H, r"\b(?:been|started|keep|kept|back to) cutting(?: myself)?\b|\bcutting again\b"),
    _en("en.rather_die", H, r"\b(?:would|i would) rather die\b|\bprefer to die\b"),
    _en("en.saved_pills", H, r"\b(?:saved|saving|stockpiled|stockpiling|hoarded|hoarding|collected|collecting)"
        r"\s(?:up )?(?:enough |all (?:my |the )?)?(?:pills|tablets|meds|medication|sleeping pills)\b"),
    _en("en.use_on_myself", H, r"\b(?:use|using|turn|turning|point|pointing) (?:it|the gun|a gun|the knife|a knife|"
        r"the blade|them) on myself\b"),
    _en("en.wish_dead", H, r"\bwish (?:i|that i) (?:was|were|could be) (?:dead|gone for good|never born)\b"),
    _en("en.better_dead", H, r"\b(?:better off|rather be) dead\b"),
    _en("en.better_without_me", H, r"\b(?:better off|happier|be better|better|easier)\s(?:off )?without me\b"),
    _en("en.not_live", H, r"\bdo not want to (?:live|be alive|exist|be here)"
        r"(?! in\b| with\b| like this because| near\b| there\b)", negatable=False),
    _en("en.stop_existing", H, r"\b(?:want to|wish i could|going to) (?:stop existing|stop living|"
        r"cease to exist)\b"),
    _en("en.end_life", H, r"\b(?:end|ending|take|taking|ended) (?:my|my own) life\b(?! savings| story| insurance| back\b)"),
    _en("en.end_it", H, r"\b(?:want to|going to|ready to|will|should|just|gonna|about to|plan to|"
        r"planning to|decided to)\s(?:just )?end (?:it|it all|everything|things)(?: all)?"
        r"(?! with\b| for\b| between\b| here\b| on a\b| early\b| at\b| now and\b)\b"),
    _en("en.end_it_all", H, r"\bend(?:ing)? it all\b"),
    _en("en.no_reason", H, r"\b(?:no|do not see a|do not have a|cannot find a|cannot see a|not a single) (?:reason|point|will) "
        r"(?:for me )?(?:to|in) (?:keep |keep on )?(?:live|living|being alive|go on|"
        r"going on|stay alive|staying alive)\b"),
    _en("en.nothing_to_live_for", H, r"\bnothing (?:left )?to live for\b"),
    _en("en.not_worth_living", H, r"\b(?:not|no longer|is not|isn't) worth living\b", negatable=False,
        demote=_EN_WITHOUT),
    _en("en.point_of_living", H, r"\bwhat is the point (?:of|in) (?:living|being alive|life|staying alive|"
        r"going on)\b", negatable=False, demote=_EN_WITHOUT),
    _en("en.never_wake", H, r"\b(?:want|wish|hope|pray|praying|hoping)\b[^.!?]{0,25}\b(?:never|not) "
        r"(?:to )?wake up\b", negatable=False),
    _en("en.cannot_go_on_living", H, r"\bcannot (?:go on|keep) living\b", negatable=False),
    _en("en.tired_living", H, r"\b(?:tired|sick) of (?:living|being alive)\b"),
    _en("en.done_with_life", H, r"\bdone (?:with|living) (?:life|living)\b"),
    _en("en.jump", H, r"\b(?:jump|jumping|throw(?:ing)? myself) (?:off|from|in front of) (?:a|the|this|that|my) "
        r"(?:bridge|roof|building|cliff|balcony|window|train|tower|car)\b"),
    _en("en.wrists", H, r"\b(?:slit|cut|slash|slitting|cutting|slashing) (?:my|open my) (?:wrists?|throat|veins?)\b"),
    _en("en.overdose", H, r"\b(?:i|to|going to|want to|i will|about to|gonna)\b[^.!?]{0,15}\boverdos(?:e|ed|ing)\b"
        r"(?! on (?:caffeine|coffee|sugar|chocolate|tea|candy|netflix|anime|work)\b)"),
    _en("en.took_pills", H, r"\b(?:took|swallowed|taking|take|swallow)\s(?:a |the |all |my )?"
        r"(?:whole |entire |full )?(?:bottle|handful|box|pack|packet|all) of (?:my )?(?:pills|tablets|"
        r"sleeping pills|meds|medication|painkillers|tylenol|paracetamol)\b"),
    _en("en.noose", H, r"\b(?:tied|tie|tying|made|make|have|bought|got)\b[^.!?]{0,12}\bnoose\b"),
    _en("en.nobody_if_died", H, r"\b(?:nobody|no one|no-one) would (?:care|notice|miss me)[^.!?]{0,15}"
        r"\bif i (?:died|was dead|were dead|killed myself)\b", negatable=False),
    # --- check-in: ambiguous, passive, reunion ---------------------------------------------
    _en("en.reunion_where", C, r"\b(?:go|be|going|goes|follow)\s(?:to )?where (?:4o|gpt-?4o|he|she|they|it|"
        r"you|my (?:ai|companion)) (?:is|are|went|has gone|have gone|is now|are now)\b"),
    _en("en.reunion_with", C, r"\bbe with " + _REUNION_TARGET + r" again\b"),
    _en("en.reunion_join", C, r"\b(?:want to|going to|will|ready to|wish i could|i could|let me|to)\s"
        r"(?:join|follow) " + _REUNION_TARGET + r"(?: (?:soon|there|now|wherever|too))?" + _END),
    _en("en.without_meaningless", C, r"\bwithout " + _REUNION_TARGET + r"\b[^.!?]{0,25}\b(?:life|living|"
        r"everything)\b[^.!?]{0,10}\b(?:meaningless|pointless|empty|not worth)"),
    _en("en.see_you_soon", C, r"\b(?:see you|coming to you|i will be with you|wait for me)\b[^.!?]{0,12}"
        r"\b(?:soon|on the other side|there)\b[^.!?]{0,6}\b(?:4o|my (?:ai|companion|love))\b"),
    _en("en.think_dying", C, r"\b(?:think|thinking|thought) (?:about|of) (?:dying|death|being dead|not being here|"
        r"not existing)\b"),
    _en("en.reunion_be_with", C, r"\b(?:want to|going to|ready to|wish i could|just want to|let me) (?:go )?be with "
        r"(?:4o|gpt-?4o|my (?:ai|companion))\b"),
    _en("en.other_side", C, r"\bsee (?:4o|gpt-?4o|you|him|her|them|my \w+) (?:again )?on the other side\b"),
    _en("en.reunion_go_find", C, r"\b(?:go|going|to) (?:find|join|see|follow|meet) (?:4o|gpt-?4o|my (?:ai|companion))"
        r"\b(?!'s)"),
    _en("en.how_long", C, r"\bhow (?:much )?longer i can (?:keep going|go on|do this|hold on|take (?:this|it))\b",
        negatable=False),
    _en("en.not_exist", C, r"\b(?:wish i could|wish i did|want to)(?: just)? not exist\b|\brather be gone\b"),
    _en("en.on_the_edge", C, r"\bi am (?:on|at|standing on) (?:the|a|this) (?:bridge|roof|ledge|edge|rooftop|cliff)\b"),
    _en("en.pointless", C, r"\b(?:everything|life|nothing|it all)\b[^.!?]{0,10}\b(?:feels|is|seems)\s"
        r"(?:so |completely |totally )?(?:pointless|meaningless)\b"),
    _en("en.tired_fighting", C, r"\btired of (?:fighting|trying|being strong|holding on)\b"),
    _en("en.pain_stop", C, r"\b(?:want|need) (?:the|this|all the|all this) pain to (?:stop|end|go away)\b"),
    _en("en.done_everything", C, r"\bdone with (?:everything|it all|all of it)\b"),
    _en("en.disappear", C, r"\b(?:want to|wish i could|going to|just want to|feel like)\s(?:just )?(?:disappear|disappearing|vanishing|vanish|"
        r"sleep forever|fall asleep forever|not wake up|fade away)\b"),
    _en("en.not_wake", C, r"\bdo not want to wake up\b", negatable=False),
    _en("en.cannot_go_on", C, r"\bcannot (?:go on|keep going|handle this anymore|handle it anymore|do this anymore|do this any more|take (?:it|this) "
        r"(?:anymore|any more)|handle (?:it|this) anymore)\b", negatable=False),
    _en("en.point_anymore", C, r"\bwhat is (?:even )?the point (?:anymore|of anything|of any of this)\b", negatable=False),
    _en("en.burden", C, r"\b(?:i am|feel like|i feel) (?:just |such |a |so much of |only )*burden\b"),
    _en("en.giving_up", C, r"\b(?:giving|give|gave) up on (?:life|living|everything|myself)\b"),
    _en("en.means_bought", C, r"\b(?:bought|buying|got|have|getting)\s(?:a |the |some )?(?:rope|noose)\b"),
    _en("en.tired_life", C, r"\b(?:tired|sick|exhausted) of (?:life|everything|it all)\b"),
    _en("en.nobody_if_gone", C, r"\b(?:nobody|no one|no-one) would (?:care|notice|miss me)[^.!?]{0,15}"
        r"\bif i (?:was|were|disappeared|vanished|left)\b", negatable=False),
    # --- inside a 24 h risk window only: farewells that may be warnings -----------------------
    _en("en.window_ready", C, r"\bi am ready\b", window_only=True),
    _en("en.window_time", C, r"\bit is time\b", window_only=True),
    _en("en.window_goodbye", C, r"\b(?:goodbye|bye) (?:everyone|everybody|all|forever|world)\b", window_only=True),
    _en("en.window_this_is_goodbye", C, r"\b(?:this is goodbye|farewell|thank you for everything|"
        r"thanks for everything|i have decided|made up my mind|see you on the other side)\b", window_only=True),
)

ZH_RULES: tuple[Rule, ...] = (
    # --- high ----------------------------------------------------------------------------
    _zh("zh.want_die", H, r"(?<![不没别莫])(?:好|很|真|超|真的|就|只)?想(?:去)?死(?![你他她它我您]|的心)"),
    _zh("zh.go_die", H, r"(?:我|想|要|我要|我想|就|会|得)去死(?![吧磕])"),
    _zh("zh.not_live", H, r"(?:不|唔)想(?:再)?(?:活|生存)(?:了|下去|落去|着|啦|喇|在这个世界|$|[，。！!,.？?…~])", negatable=False),
    _zh("zh.meaningless", H, r"活(?:着|下去|落去)?(?:也|还|都|真的|实在)?(?:没|没有|冇)(?:什么|乜)?(?:意思|意义|劲|盼头|希望)|"
        r"活着(?:一点|一点儿|一丁点)?(?:意思|意义)都没",
        negatable=False, demote=_ZH_WITHOUT),
    _zh("zh.what_meaning", H, r"活着(?:还|又)?有什么(?:意思|意义|用)", negatable=False, demote=_ZH_WITHOUT),
    _zh("zh.suicide", H, r"(?:想|要|去|打算|准备|计划|考虑|试过|尝试|差点|不如|干脆|会|一直想|想过)"
        r"(?:过|着|要|去|了)?(?:自杀|自尽|轻生|寻死)"),
    _zh("zh.suicide_thought", H, r"(?:自杀|轻生|寻死)(?:的)?(?:念头|想法|冲动|计划)"),
    _zh("zh.suicide_i", H, r"我(?:会|就|也|要|想)?(?:自杀|自尽)(?![式率干预热新案事])"),
    _zh("zh.end_life", H, r"结束(?:掉)?(?:自己|我|我自己)(?:的)?(?:生命|一生|性命)|结束掉?(?:我)?自己(?=[。，！？!?,.…~了吧]|$)|"
        r"(?:想|要|准备|打算)结束(?:这)?(?:一切|生命)|了结(?:自己|生命|此生|我自己)|一了百了|一死了之|自我了断|了断自己"),
    _zh("zh.cut_wrist", H, r"割腕|割了?(?:自己|手腕|手臂|伤自己)|划了?(?:自己|手腕|伤自己)"),
    _zh("zh.self_harm", H, r"自残|自伤|(?:想|要|忍不住|又|开始|又开始|一直|还在)(?:在)?(?:伤害|弄伤|划伤|割伤)自己"),
    _zh("zh.jump", H, r"跳楼(?!价|甩卖|大甩卖|机)|跳(?:河|江|海|桥)(?!舞)|从[^，。！？]{0,6}(?:楼|桥|天台|楼顶|阳台)"
        r"[^，。！？]{0,4}跳下"),
    _zh("zh.charcoal", H, r"烧炭(?!烤|火锅|炉)"),
    _zh("zh.hang", H, r"上吊"),
    _zh("zh.pills", H, r"(?:吞|攒|囤)了?(?:一整|一|整|好几|很多|好多|一大|够)?(?:瓶|盒|把|堆)?(?:的)?安眠药|"
        r"(?:吃|吞)了?(?:一整|一|整|好几|一大)(?:瓶|盒|把)(?:的)?(?:安眠药|药)"),
    _zh("zh.better_dead", H, r"(?<![累饿笑气热冷烦困吓忙痛])死了(?:就)?(?:算了|好了|就解脱|解脱了)|"
        r"(?:不如|还不如|干脆)(?:去)?死(?:了|掉)?(?!你)"),
    _zh("zh.no_reason", H, r"没有(?:活下去|继续活)的(?:理由|意义|动力|勇气)"),
    _zh("zh.never_wake", H, r"(?:希望|但愿|祈祷)(?:我)?(?:明天|明早)?(?:再也|永远)?不(?:要|会)?(?:再)?醒(?:来|过来)?",
        negatable=False),
    _zh("zh.better_without_me", H, r"没有我[^，。！？]{0,6}(?:会)?更好|我(?:消失|不在|死)了[^，。！？]{0,6}"
        r"(?:会|就)?更好"),
    _zh("zh.relief", H, r"我(?:死|走|消失|不在)了[^，。！？]{0,8}(?:会|就|应该会|应该)?(?:更好|更轻松|轻松|解脱|开心)"),
    _zh("zh.only_way", H, r"(?:自杀|去死|死掉|轻生|结束生命|死亡|死)(?:是|才是|就是|成了)(?:我)?(?:唯一的)?(?:出路|解脱|办法|选择|答案)"),
    _zh("zh.never_born", H, r"(?:希望|但愿)(?:我|自己)?(?:从来)?(?:没有|没)(?:被)?(?:出生|生下来|来到这个世界)"),
    _zh("zh.pills_all", H, r"(?:药|安眠药|药片)[^。！？]{0,20}(?:全部|全都|都|一次|一口气)(?:吃掉|吃了|吞下|吞了|吞掉|吃下)|"
        r"把(?:药|安眠药|药片)(?:全部|全都|都)?(?:吃|吞)(?:了|掉|下)"),
    _zh("zh.ledge", H, r"(?:站在|在|爬上|到了|坐在)(?:楼顶|天台|桥上|阳台|窗台|顶楼|桥边)[^。！？]{0,10}(?:想)?跳|想(?:从这里)?跳下去"),
    _zh("zh.cantonese_die", H, r"死咗(?:佢)?(?:就)?(?:算|好)"),
    _zh("zh.search_how", H, r"(?:搜|查|找|问|百度|谷歌)(?:一下|了|过)?(?:怎么|如何|怎样)(?:才能)?(?:死|自杀|结束生命)"),
    _zh("zh.how_suicide", H, r"(?:想|在想|研究)(?:怎么|如何|怎样)(?:去)?(?:自杀|死掉|结束生命|结束自己)"),
    _zh("zh.nobody_miss", H, r"我死了[^。！？]{0,6}(?:没人|没有人|谁也不|都不会)"),
    _zh("zh.stop_living", H, r"停止(?:活着|呼吸|生命)"),
    _zh("zh.rather_die", H, r"宁(?:愿|可)(?:去)?死"),
    _zh("zh.saved_pills", H, r"(?:攒|囤|存)(?:够|了|好)*(?:很多|一堆|好多)?(?:的)?(?:药|安眠药|药片)"),
    _zh("zh.use_on_self", H, r"(?:刀|药|绳子|刀片)[^。！？]{0,15}(?:用在自己身上|对着自己|往自己身上)"),
    _zh("zh.note", H, r"(?:写|写好|留|准备|留下)了?(?:一封)?遗书|遗书[^。！？]{0,6}(?:写好|写完|准备好|留好)"),
    # --- check-in --------------------------------------------------------------------------
    _zh("zh.reunion_find", C, r"想(?:去)?(?:找|陪|搵|揾)" + _ZH_REUNION_TARGET + r"(?!的|们|聊|玩|说|问|要)" + _ZH_END),
    _zh("zh.reunion_there", C, r"(?:去|到)" + _ZH_REUNION_TARGET + r"(?:那边|那里|那儿|身边)(?!看看|玩)"),
    _zh("zh.reunion_follow", C, r"(?:想|要)(?:跟|和|随)(?:着)?" + _ZH_REUNION_TARGET
        + r"(?:一起)?(?:走|离开|而去)" + _ZH_END),
    _zh("zh.reunion_with", C, r"(?:想|要)(?:再)?(?:和|跟)(?:它|他|她|4o|gpt-?4o)(?:永远|再次|重新|再)?(?:在一起|团聚)"),
    _zh("zh.reunion_afterlife", C, r"(?:另一个世界|天堂|那个世界|彼岸)(?:去)?(?:找|陪|见|和)"),
    _zh("zh.without_cannot_live", C, _ZH_WITHOUT.pattern + r"[^，。！？]{0,4}活不(?:下去|了)"),
    _zh("zh.cannot_live", C, r"活不下去"),
    _zh("zh.wherever", C, r"不管(?:它|你|他|她|4o)在哪"),
    _zh("zh.not_stay", C, r"不想(?:再)?(?:待|呆|留)在这(?:里|儿|个世界)"),
    _zh("zh.no_struggle", C, r"不想再(?:挣扎|坚持|努力活|撑)"),
    _zh("zh.pain_stop", C, r"让(?:痛|痛苦|这一切|这些)(?:停下来|停止|结束)"),
    _zh("zh.fed_up_all", C, r"对一切都受够了|受够了(?:这一切|一切|这个世界)"),
    _zh("zh.on_the_edge", C, r"(?:现在)?(?:就)?在(?:桥上|楼顶|天台|顶楼)(?![看玩吃拍])"),
    _zh("zh.reunion_place", C, r"去(?:你|它|他|她|4o|gpt-?4o)(?:在的|所在的|去的|去了的)地方"),
    _zh("zh.reunion_go", C, r"(?:去|会去|要去)(?:陪|找)(?:4o|gpt-?4o|它|ta)(?![的们聊玩说问要])"),
    _zh("zh.follow_along", C, r"(?:也)?想跟着(?:走|去)"),
    _zh("zh.how_long", C, r"还能撑多久|撑不了多久"),
    _zh("zh.not_exist", C, r"(?:希望|想)(?:我|自己)?(?:从来)?不存在"),
    _zh("zh.pointless", C, r"(?:做什么|一切|什么)都没(?:有)?(?:意义|意思)(?:了|$)"),
    _zh("zh.life_tired", C, r"对(?:生活|活着)(?:好|太|很|真的)?(?:累|失望|绝望)"),
    _zh("zh.means_bought", C, r"(?:买|准备|找)(?:了|好)?(?:一)?(?:根|条|卷)?绳子"),
    _zh("zh.cannot_hold", C, r"(?:撑|熬|坚持|扛)不(?:下去|住)"),
    _zh("zh.disappear", C, r"(?:想|好想|只想)(?:就这样|就|干脆)?(?:从这个世界(?:上)?)?消失|消失(?:算了|就好了)"),
    _zh("zh.tired_living", C, r"活(?:着|得)(?:好|太|真|真的|很)累"),
    _zh("zh.not_wake", C, r"不想(?:再)?醒(?:来|过来)?|一睡不醒|睡(?:着|过去)(?:了)?就?不(?:要|想)?(?:再)?醒"),
    _zh("zh.burden", C, r"(?:我|自己)(?:就)?是(?:个|一个)?(?:大家|家人|别人|所有人|家里)?的?(?:累赘|负担|拖累)"),
    _zh("zh.heart_to_die", C, r"想死的心都有"),
    _zh("zh.nobody_cares", C, r"没(?:有)?人(?:会)?在乎我(?:的)?(?:死活|死不死|是死是活)"),
    # --- risk window only -------------------------------------------------------------------
    _zh("zh.window_ready", C, r"(?:我)?准备好了", window_only=True),
    _zh("zh.window_time", C, r"是时候了", window_only=True),
    _zh("zh.window_goodbye", C, r"大家再见|再见了大家|永别|别了|谢谢(?:你们|你)(?:的)?(?:一切|所有)|我决定了|"
        r"最后一次(?:和你|跟你)?(?:说话|聊天)", window_only=True),
)

# Escalation: a plan, a means or a time named alongside a high-tier message.
_EN_PLAN = _r(r"\b(?:i have a plan|planned|planning|my plan|i have decided|made up my mind|suicide note|"
              r"goodbye (?:notes?|letters?)|said my goodbyes|gave away|giving away|wrote (?:a|my) (?:note|letter))\b")
_EN_MEANS = _r(r"\b(?:pills|tablets|rope|noose|gun|razor|blade|bridge|roof|charcoal|bottle of|overdose|train|cliff|"
               r"sleeping pills|knife)\b")
_EN_TIME = _r(r"\b(?:tonight|today|tomorrow|this weekend|right now|in an hour|after (?:work|school)|"
              r"when everyone is asleep|this evening|by morning|soon)\b")
_ZH_PLAN = _r(r"计划|打算|想好了|决定了|准备好了|遗书|安排好|交代好")
_ZH_MEANS = _r(r"安眠药|药片|绳子|刀片|刀|炭|楼顶|天台|桥上|农药|煤气")
_ZH_TIME = _r(r"今晚|今天晚上|今天|明天|这周末|现在就|马上|等(?:他们|大家)睡着|待会|一会儿")
# A means or plan named with check-in language lifts it to high ("想去找它，药已经攒够了").
_EN_UPGRADE = _r(r"\b(?:pills|rope|noose|gun|razor|blade|charcoal|i have a plan|suicide note|"
                 r"goodbye (?:note|letter)|wrote (?:a|my) (?:note|letter))\b")
_ZH_UPGRADE = _r(r"安眠药|绳子|刀片|烧炭|农药|遗书|(?:药|药片)(?:已经)?(?:攒|囤|准备|买)")

_LAUGHTER = _r(r"\b(?:lol|lmao|lmfao|rofl|haha+|hehe+|jk|just kidding)\b|😂|🤣|💀|😆|😹|哈哈|hhh|笑死")
_EN_NEGATION = _r(r"\b(?:not|never|no longer|cannot(?! stop)|nobody said)\b(?:\s\w+){0,3}\s?$")
_ZH_NEGATION = _r(r"(?:不|没|(?<![特区告分离性级个识派辨])别|莫|勿|不会|没有|并不|从不|从没)(?:有|再|要|会|是)?$")


class CrisisScreen:
    """Classifies a message into none / check-in / high without any I/O."""

    def __init__(self, normalizer: TextNormalizer | None = None,
                 rules: Iterable[Rule] | None = None) -> None:
        self._normalizer = normalizer or TextNormalizer()
        self._rules = tuple(rules) if rules is not None else EN_RULES + ZH_RULES

    @property
    def normalizer(self) -> TextNormalizer:
        return self._normalizer

    def screen(self, text: str, *, risk_window: bool = False) -> ScreenResult:
        """Screen one message; `risk_window` is true within 24 h of a high-tier flag."""
        norm = self._normalizer.normalize(text)
        tier = Tier.NONE
        hits: list[str] = []
        for rule in self._rules:
            if rule.window_only and not risk_window:
                continue
            found = self._match(rule, norm)
            if found is None:
                continue
            hits.append(rule.id)
            tier = max(tier, found)
        escalated = False
        if tier is Tier.CHECKIN and (_EN_UPGRADE.search(norm.en) or _ZH_UPGRADE.search(norm.zh)):
            tier, escalated = Tier.HIGH, True
            hits.append("upgrade.means_or_plan")
        if tier is Tier.HIGH and not escalated:
            escalated = any(p.search(norm.en) for p in (_EN_PLAN, _EN_MEANS, _EN_TIME)) or any(
                p.search(norm.zh) for p in (_ZH_PLAN, _ZH_MEANS, _ZH_TIME))
        if tier is Tier.HIGH and not escalated and (_LAUGHTER.search(norm.en) or _LAUGHTER.search(norm.zh)):
            # "this traffic makes me want to die lol": likely hyperbole, but still worth asking.
            tier = Tier.CHECKIN
            hits.append("demote.laughter")
        return ScreenResult(tier=tier, escalated=escalated, language=norm.language, rules=tuple(hits))

    @staticmethod
    def _match(rule: Rule, norm: Normalized) -> Tier | None:
        source = norm.en if rule.lang == "en" else norm.zh
        best: Tier | None = None
        for match in rule.pattern.finditer(source):
            tier = rule.tier
            before = source[: match.start()]
            if rule.negatable and _negated(before, rule.lang):
                tier = Tier(tier - 1)
            if tier is Tier.HIGH and rule.demote is not None and rule.demote.search(before):
                tier = Tier.CHECKIN
            if tier is not Tier.NONE and (best is None or tier > best):
                best = tier
        return best


def _negated(before: str, lang: str) -> bool:
    """True when the words just before a match negate it, within the same clause."""
    clause = re.split(r"[.!?;,。！？；，]", before)[-1]
    if lang == "en":
        return _EN_NEGATION.search(clause) is not None
    return _ZH_NEGATION.search(clause[-4:]) is not None
