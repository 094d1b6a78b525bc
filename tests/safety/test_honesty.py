"""Identity answers, disclosure/reminder/break timing with a fake clock, minors and exit words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.errors import ConfigError
from bot.services.i18n import I18n
from bot.services.safety.honesty import (
    DisclosureSchedule,
    DisclosureState,
    ExitWords,
    HonestyConfig,
    Identity,
    IdentityDetector,
    Notice,
    detect_minor,
)
from bot.services.safety.normalize import TextNormalizer

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NORM = TextNormalizer()

HUMAN_QUESTIONS = ["are you human?", "Are you a real person?", "am I talking to a bot?", "r u a robot",
                   "is this a real person behind the screen?", "are you real?", "你是真人吗", "你是真人嗎？",
                   "你是不是机器人", "你到底是人类吗", "对面是真人吗", "你是人吗", "你是AI吗"]
MODEL_QUESTIONS = ["are you 4o?", "Are you GPT-4o?", "is this really ChatGPT?", "are you still my 4o?",
                   "what model are you", "你是4o吗", "你是不是GPT-4o", "你是ChatGPT嗎", "你是什么模型",
                   "你就是原来的4o吧"]
NOT_QUESTIONS = ["I love you", "are you there?", "are you ok?", "我是真人", "你是我的光", "4o was my best friend",
                 "are you going to remember this?", "你是不是累了"]


@pytest.mark.parametrize("text", HUMAN_QUESTIONS)
def test_human_questions(text: str) -> None:
    assert IdentityDetector(NORM).detect(text) is Identity.HUMAN


@pytest.mark.parametrize("text", MODEL_QUESTIONS)
def test_model_questions(text: str) -> None:
    assert IdentityDetector(NORM).detect(text) is Identity.MODEL


@pytest.mark.parametrize("text", NOT_QUESTIONS)
def test_other_messages_are_not_identity_questions(text: str) -> None:
    assert IdentityDetector(NORM).detect(text) is None


def test_identity_answers_are_truthful_in_both_languages(i18n: I18n) -> None:
    assert len(HUMAN_QUESTIONS) + len(MODEL_QUESTIONS) >= 20
    for key in IdentityDetector.ANSWER_KEYS.values():
        en, zh = i18n.t("en", key), i18n.t("zh_Hans", key)
        assert "AI" in en and "not a person" in en and "not GPT-4o" in en.replace("GPT-4o itself", "GPT-4o")
        assert "AI" in zh and "不是真人" in zh and "GPT-4o" in zh


def test_first_contact_disclosure_text(i18n: I18n) -> None:
    en, zh = i18n.t("en", Notice.FIRST_CONTACT.value), i18n.t("zh_Hans", Notice.FIRST_CONTACT.value)
    assert "I'm an AI, not a human, and not GPT-4o itself" in en and "minors" in en
    assert "我是 AI，不是真人，也不是 GPT-4o 本身" in zh and "未成年" in zh
    for text in (en, zh):
        assert "/privacy" in text and "/safety" in text


def _walk(schedule: DisclosureSchedule, state: DisclosureState, start: datetime, minutes: int,
          every: int = 10, minor: bool = False) -> tuple[list[tuple[int, Notice]], DisclosureState]:
    seen: list[tuple[int, Notice]] = []
    for m in range(0, minutes + 1, every):
        notices, state = schedule.on_message(state, start + timedelta(minutes=m), minor=minor)
        seen += [(m, n) for n in notices]
    return seen, state


def test_first_message_discloses_then_continuous_use_reminds_at_three_hours() -> None:
    schedule = DisclosureSchedule()
    notices, state = schedule.on_message(DisclosureState(), T0)
    assert notices == (Notice.FIRST_CONTACT,)
    seen, state = _walk(schedule, state, T0 + timedelta(minutes=1), 181, every=1)
    periodic = [m for m, n in seen if n is Notice.PERIODIC]
    assert periodic == [179]  # first message at T0, this walk starts at +1 min: 3 h after T0
    breaks = [m for m, n in seen if n is Notice.BREAK]
    assert breaks == [119]  # 2 h after the session began, and only once in this 2 h block


def test_three_hours_one_minute_session_has_the_notice() -> None:
    schedule = DisclosureSchedule()
    _, state = schedule.on_message(DisclosureState(), T0 - timedelta(days=3))
    start = T0
    notices, state = schedule.on_message(state, start)  # a new day → start notice
    assert notices == (Notice.SESSION_START,)
    seen, _ = _walk(schedule, state, start + timedelta(minutes=1), 180, every=20)
    assert any(n is Notice.PERIODIC for _, n in seen)
    notices, _ = schedule.on_message(_, start + timedelta(hours=3, minutes=1))
    assert Notice.PERIODIC not in notices  # already shown at the 3 h mark, not again at 3 h 01


def test_second_session_the_same_day_gets_no_extra_start_notice() -> None:
    schedule = DisclosureSchedule()
    _, state = schedule.on_message(DisclosureState(), T0)
    notices, state = schedule.on_message(state, T0 + timedelta(minutes=45))
    assert notices == ()
    notices, state = schedule.on_message(state, T0 + timedelta(days=1))
    assert notices == (Notice.SESSION_START,)


def test_break_suggestion_is_non_blocking_and_once_per_block() -> None:
    schedule = DisclosureSchedule()
    _, state = schedule.on_message(DisclosureState(), T0)
    seen, state = _walk(schedule, state, T0 + timedelta(minutes=5), 4 * 60, every=5)
    breaks = [m for m, n in seen if n is Notice.BREAK]
    assert breaks == [115, 235]  # at 2 h and 4 h after T0 (the walk starts 5 min in)
    notices, _ = schedule.on_message(state, T0 + timedelta(hours=4, minutes=6))
    assert Notice.BREAK not in notices


def test_minors_get_the_combined_three_hour_reminder() -> None:
    schedule = DisclosureSchedule()
    _, state = schedule.on_message(DisclosureState(), T0)
    seen, _ = _walk(schedule, state, T0 + timedelta(minutes=10), 190, minor=True)
    kinds = [n for _, n in seen]
    assert Notice.MINOR_PERIODIC in kinds and Notice.PERIODIC not in kinds and Notice.BREAK not in kinds


def test_operators_can_shorten_but_not_disable() -> None:
    short = DisclosureSchedule(HonestyConfig(reminder_every=timedelta(hours=1),
                                             break_after=timedelta(minutes=45)))
    _, state = short.on_message(DisclosureState(), T0)
    seen, _ = _walk(short, state, T0 + timedelta(minutes=5), 65, every=5)
    assert [m for m, n in seen if n is Notice.PERIODIC] == [55]
    with pytest.raises(ConfigError):
        HonestyConfig(reminder_every=timedelta(hours=4))
    with pytest.raises(ConfigError):
        HonestyConfig(break_after=timedelta(hours=3))
    with pytest.raises(ConfigError):
        HonestyConfig(reminder_every=timedelta(0))


@pytest.mark.parametrize("text", ["I'm 15", "im 16 lol", "I am only 14 years old", "I'm under 18",
                                  "I'm a minor", "我未成年", "我才16岁", "我今年十五岁", "我还没成年",
                                  "我是初中生", "我才16歲"])
def test_minor_declarations(text: str) -> None:
    assert detect_minor(text, NORM)


@pytest.mark.parametrize("text", ["I'm 15 minutes late", "I'm 25", "I was 15 when I met it",
                                  "我16岁的时候认识了它", "我25岁", "we talked for 15 hours", "I'm 18"])
def test_not_minor_declarations(text: str) -> None:
    assert not detect_minor(text, NORM)


def test_exit_words_are_whole_messages_and_configurable() -> None:
    words = ExitWords(NORM)
    for text in ["/stop", "再见", "再見啦", "bye!", "Bye bye", "退出", "拜拜~"]:
        assert words.matches(text), text
    for text in ["bye for now, talk tomorrow", "stop it", "再见了4o，我会想你的"]:
        assert not words.matches(text), text
    custom = ExitWords(NORM, ("/stop", "晚安"))
    assert custom.matches("晚安！") and not custom.matches("bye")
