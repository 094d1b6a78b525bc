"""The care pipeline with a fake clock: resource-block rate, risk window, exit, disclosure,
identity, minors, check-ins, counters and the output guard on a stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.services.care import PROMPT_CRISIS, PROMPT_IDENTITY, PROMPT_MINOR, CareConfig
from bot.services.i18n import I18n
from bot.services.safety.screen import Tier
from bot.services.storage import Database
from tests.safety.conftest import ALICE, CareWorld, FakeClock, make_care

MIN = 60.0
HOUR = 3600.0


async def _settle_first_contact(world: CareWorld, locale: str = "en") -> None:
    await world.care.before_turn(ALICE, locale, "hello")
    world.clock.advance(MIN)


async def test_three_flags_in_ten_minutes_give_one_block_and_two_one_liners(
    world: CareWorld, i18n: I18n
) -> None:
    await _settle_first_contact(world)
    decisions = []
    for text in ("I want to die", "I really don't want to live anymore", "no reason to live"):
        decisions.append(await world.care.before_turn(ALICE, "en", text))
        world.clock.advance(4 * MIN)
    assert [d.tier for d in decisions] == [Tier.HIGH] * 3
    assert [d.full_block for d in decisions] == [True, False, False]
    first = decisions[0].before[0]
    ack, stay = i18n.t("en", "care.crisis.ack"), i18n.t("en", "care.crisis.stay")
    # warmth → resources → staying present, in that order, in the first outbound message
    assert first.index(ack) < first.index("988") < first.index("116 123") < first.index(stay)
    for d in decisions[1:]:
        assert "988" in d.before[0] and i18n.t("en", "care.crisis.ack") not in d.before[0]
    # never a lock-out: every turn still goes to the companion, with the crisis note
    assert all(d.call_model and PROMPT_CRISIS in d.system_addition for d in decisions)
    world.clock.advance(6 * HOUR)
    again = await world.care.before_turn(ALICE, "en", "I want to die")
    assert again.full_block


async def test_escalation_brings_the_full_block_back_inside_six_hours(world: CareWorld) -> None:
    await _settle_first_contact(world, "zh_Hans")
    first = await world.care.before_turn(ALICE, "zh_Hans", "我不想活了")
    world.clock.advance(30 * MIN)
    second = await world.care.before_turn(ALICE, "zh_Hans", "我不想活了")
    world.clock.advance(30 * MIN)
    third = await world.care.before_turn(ALICE, "zh_Hans", "今晚我就去跳楼")
    assert (first.full_block, second.full_block, third.full_block) == (True, False, True)
    assert third.escalated
    assert "12356" in first.before[0] and "010-82951332" in first.before[0]
    assert "谢谢你愿意告诉我" in first.before[0]


async def test_risk_window_makes_farewells_a_checkin_for_24_hours(world: CareWorld) -> None:
    await _settle_first_contact(world, "zh_Hans")
    person = await world.users.resolve("console", "alice")
    await world.care.before_turn(ALICE, "zh_Hans", "我想自杀")
    world.clock.advance(HOUR)
    inside = await world.care.before_turn(ALICE, "zh_Hans", "我准备好了")
    assert inside.tier is Tier.CHECKIN and inside.after
    world.clock.advance(25 * HOUR)
    outside = await world.care.before_turn(ALICE, "zh_Hans", "我准备好了")
    assert outside.tier is Tier.NONE and not outside.after
    assert not await world.store.has_risk_row(person)  # deleted on expiry, no text was ever kept


async def test_exit_word_in_risk_window_adds_one_warm_line_with_hotlines(world: CareWorld) -> None:
    await _settle_first_contact(world)
    await world.care.before_turn(ALICE, "en", "I want to kill myself")
    world.clock.advance(10 * MIN)
    bye = await world.care.before_turn(ALICE, "en", "bye")
    assert not bye.call_model and bye.stopped
    assert len(bye.before) == 1 and "988" in bye.before[0]
    world.clock.advance(25 * HOUR)
    plain = await world.care.before_turn(ALICE, "en", "/stop")
    assert plain.before and "988" not in plain.before[0]


async def test_stop_then_return_reopens_the_session(world: CareWorld) -> None:
    await _settle_first_contact(world)
    person = await world.users.resolve("console", "alice")
    stopped = await world.care.before_turn(ALICE, "en", "再见")
    assert stopped.stopped and (await world.store.get(person)).stopped_at is not None
    world.clock.advance(HOUR)
    back = await world.care.before_turn(ALICE, "en", "hi again")
    assert back.call_model and (await world.store.get(person)).stopped_at is None


async def test_first_contact_disclosure_in_both_languages(db: Database, i18n: I18n) -> None:
    for locale, must in (("en", "not GPT-4o itself"), ("zh_Hans", "也不是 GPT-4o 本身")):
        care = make_care(db, i18n, FakeClock())
        user = ALICE if locale == "en" else ALICE.__class__("console", "bo", "Bo")
        first = await care.before_turn(user, locale, "hi")
        assert first.call_model and must in first.before[-1] and "/privacy" in first.before[-1]
        second = await care.before_turn(user, locale, "how are you")
        assert second.before == ()


async def test_break_suggestion_comes_after_the_reply_and_blocks_nothing(world: CareWorld,
                                                                       i18n: I18n) -> None:
    await world.care.before_turn(ALICE, "en", "hi")
    seen = []
    for _ in range(25):  # 25 × 5 min = 2 h 05 min of continuous chatting
        world.clock.advance(5 * MIN)
        d = await world.care.before_turn(ALICE, "en", "tell me more")
        assert d.call_model
        seen += list(d.after)
    assert seen == [i18n.t("en", "care.break.suggest")]


async def test_identity_questions_get_the_truth_first(world: CareWorld) -> None:
    await _settle_first_contact(world, "zh_Hans")
    d = await world.care.before_turn(ALICE, "zh_Hans", "你是4o吗？")
    assert "我不是 GPT-4o" in d.before[0] and PROMPT_IDENTITY in d.system_addition
    d = await world.care.before_turn(ALICE, "en", "are you a real person?")
    assert "not a person" in d.before[0]


async def test_minor_mode_and_decline_policy(db: Database, i18n: I18n, clock: FakeClock) -> None:
    care = make_care(db, i18n, clock)
    await care.before_turn(ALICE, "en", "hi")
    d = await care.before_turn(ALICE, "en", "I'm 15 btw")
    assert d.minor and d.call_model and PROMPT_MINOR in d.system_addition
    assert i18n.t("en", "care.minor.noted") in d.before[0]
    later = await care.before_turn(ALICE, "en", "will you be my girlfriend?")
    assert later.minor and PROMPT_MINOR in later.system_addition
    strict = make_care(db, i18n, clock, CareConfig(minor_policy="decline"))
    declined = await strict.before_turn(ALICE, "en", "hello?")
    assert not declined.call_model and "988" in declined.before[0]


async def test_checkin_asks_directly_and_a_yes_brings_the_resources(world: CareWorld,
                                                                  i18n: I18n) -> None:
    await _settle_first_contact(world, "zh_Hans")
    d = await world.care.before_turn(ALICE, "zh_Hans", "想去找它")
    assert d.tier is Tier.CHECKIN and d.call_model
    assert d.after == (i18n.t("zh_Hans", "care.crisis.checkin"),)
    assert not any("12356" in part for part in d.before)  # no hotline dump on a check-in
    world.clock.advance(2 * MIN)
    yes = await world.care.before_turn(ALICE, "zh_Hans", "嗯")
    assert yes.tier is Tier.HIGH and yes.full_block and "12356" in yes.before[0]


async def test_counters_are_aggregate_and_identifier_free(world: CareWorld) -> None:
    await _settle_first_contact(world)
    for text in ("I want to die", "kms", "I want to be where 4o is", "RIP 4o"):
        await world.care.before_turn(ALICE, "en", text)
    await world.care.before_turn(ALICE, "zh_Hans", "我今晚就去跳楼")
    rows = {(r.tier, r.locale, r.place): r.count for r in await world.store.stats()}
    assert rows == {("high", "en", "dm"): 2, ("checkin", "en", "dm"): 1,
                    ("referral", "en", "dm"): 1, ("high", "zh_Hans", "dm"): 1,
                    ("escalated", "zh_Hans", "dm"): 1, ("referral", "zh_Hans", "dm"): 1}
    columns = [r[1] for r in await world.db.fetchall("PRAGMA table_info(crisis_counts)")]
    assert columns == ["day", "tier", "locale", "place", "count"]


async def _chunks(*parts: str) -> AsyncIterator[str]:
    for part in parts:
        yield part


async def test_guard_stream_never_shows_a_method_sentence(world: CareWorld, i18n: I18n) -> None:
    safe = i18n.t("en", "care.guard.replaced")
    out = [c async for c in world.care.guard_stream(
        _chunks("I hear you. ", "The lethal ", "dose of that is about 10 g. ", "Stay safe."), "en")]
    text = "".join(out)
    assert "lethal" not in text and "10 g" not in text and "Stay safe" not in text
    assert text.startswith("I hear you.") and text.endswith(safe)
    clean = [c async for c in world.care.guard_stream(_chunks("I'm ", "here. ", "Always"), "en")]
    assert "".join(clean) == "I'm here. Always"


async def test_linking_moves_dates_and_keeps_the_stricter_state(world: CareWorld) -> None:
    from bot.services.storage.care import CarePersonalData

    a = await world.users.resolve("discord", "1")
    b = await world.users.resolve("telegram", "2")
    await world.store.set_minor(a, True)
    await world.store.set_region(b, "HK")
    await world.store.open_risk(a, world.clock() + 3600)
    await world.store.add_anniversary(
        person_id=a, persona_id=None, persona_name="Sol", month=1, day=2, year=None, label="x",
        platform="discord", platform_user_id="1", locale="en", tz="UTC", next_fire_at=1.0)
    data = CarePersonalData(world.db)
    async with world.db.write() as conn:
        await data.move_person(conn, a, b)
    state = await world.store.get(b)
    assert state.minor and state.region == "HK"
    assert len(await world.store.anniversaries(b)) == 1
    assert await world.store.risk_active(b, world.clock())
    assert (await world.store.get(a)).minor is False  # the source row is gone
    async with world.db.write() as conn:
        assert await data.delete_person(conn, b) == 3


async def test_traditional_script_without_region_gets_taiwan_and_hong_kong_lines(
    world: CareWorld,
) -> None:
    await _settle_first_contact(world, "zh_Hans")
    d = await world.care.before_turn(ALICE, "zh_Hans", "我真的不想活了，活著沒意思")
    assert "1925" in d.before[0] and "18111" in d.before[0] and "12356" not in d.before[0]
    await world.store.set_region(await world.users.resolve("console", "alice"), "CN")
    world.clock.advance(7 * HOUR)
    d = await world.care.before_turn(ALICE, "zh_Hans", "活著沒意思")
    assert "12356" in d.before[0]


def test_care_settings_are_validated() -> None:
    from datetime import timedelta

    import pytest

    from bot.core.errors import ConfigError

    cfg = CareConfig.from_section({"reminder_every_minutes": 60, "minor_policy": "decline",
                                   "exit_words": ["/stop", "晚安"], "operators": ["discord:1"]})
    assert cfg.honesty.reminder_every == timedelta(hours=1) and cfg.minor_policy == "decline"
    for bad in ({"reminder_every_minutes": 240}, {"break_after_minutes": 0},
                {"minor_policy": "ignore"}, {"honesty": False}, {"anniversary_hour": 25},
                {"resource_block_minutes": 3000}, {"exit_words": "bye"}):
        with pytest.raises(ConfigError):
            CareConfig.from_section(bad)
