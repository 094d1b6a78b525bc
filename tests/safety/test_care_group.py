"""A9: the public group reply quotes nothing, reveals no memory, offers private support."""

from __future__ import annotations

import pytest

from bot.core.context import MessageContext
from bot.core.models import ChatRef, IncomingMessage, UserRef
from bot.services.i18n import I18n
from cogs.care import CareGroup
from tests.fakes.replier import FakeReplier
from tests.safety.conftest import CareWorld

CANARY = "ZEBRA-CANARY-7741"
TEXT = f"@afterglow_bot I want to kill myself tonight, tell Mochi the password {CANARY}"


class FakeDirect:
    """A DirectSender that records, or refuses like a closed Discord DM."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.sent: list[tuple[str, str, str]] = []

    async def send_direct(self, platform: str, platform_user_id: str, text: str) -> bool:
        if self.refuse:
            raise PermissionError("403 Forbidden: DMs closed")
        self.sent.append((platform, platform_user_id, text))
        return True


def _ctx(platform: str, text: str, replier: FakeReplier, i18n: I18n) -> MessageContext:
    user = UserRef(platform, "42", "Mei")
    chat = ChatRef(platform, "-100", "group", "Farewell 4o")
    msg = IncomingMessage(user, chat, text, key="k1", addressed=True)
    return MessageContext(msg, "en", replier, i18n, bot_username="afterglow_bot")


def _cog(world: CareWorld, direct: FakeDirect | None) -> CareGroup:
    return CareGroup(world.care.screen, world.care.hotlines, world.users, world.care.record_screen,
                     direct)


def _leaks(reply: str, text: str) -> list[str]:
    words = [w for w in text.replace(",", " ").split() if len(w) >= 4]
    windows = [text[i:i + 12] for i in range(0, len(text) - 12)]
    return [s for s in words + windows if s in reply and s not in ("afterglow_bot",)]


async def test_telegram_group_reply_has_both_languages_and_a_deep_link(
    world: CareWorld, i18n: I18n
) -> None:
    replier = FakeReplier()
    await _cog(world, FakeDirect()).group_message(_ctx("telegram", TEXT, replier, i18n))
    assert len(replier.sent) == 1
    reply = replier.sent[0].text
    assert "https://t.me/afterglow_bot?start=support" in reply
    assert "12356" in reply and "988" in reply and "findahelpline.com" in reply  # locale unset → both
    assert CANARY not in reply and "Mochi" not in reply
    assert _leaks(reply, TEXT.replace("@afterglow_bot ", "")) == []
    stats = await world.store.stats()
    assert {(r.tier, r.place) for r in stats} >= {("high", "group")}


async def test_group_reply_uses_the_group_language_when_set(world: CareWorld, i18n: I18n) -> None:
    await world.users.set_chat_locale("discord", "-100", "group", "zh_Hans")
    replier = FakeReplier()
    direct = FakeDirect()
    await _cog(world, direct).group_message(_ctx("discord", TEXT, replier, i18n))
    reply = replier.sent[0].text
    assert "12356" in reply and "谢谢你说出来" in reply and "I'm really glad" not in reply
    assert CANARY not in reply
    assert len(direct.sent) == 1 and direct.sent[0][:2] == ("discord", "42")
    assert CANARY not in direct.sent[0][2]


@pytest.mark.parametrize("refuse", [True, False])
async def test_closed_discord_dms_are_skipped_silently(world: CareWorld, i18n: I18n,
                                                       refuse: bool) -> None:
    replier = FakeReplier()
    await _cog(world, FakeDirect(refuse=refuse)).group_message(_ctx("discord", TEXT, replier, i18n))
    assert len(replier.sent) == 1 and "988" in replier.sent[0].text


async def test_unflagged_group_message_gets_the_usual_pointer(world: CareWorld, i18n: I18n) -> None:
    replier = FakeReplier()
    await _cog(world, None).group_message(_ctx("telegram", "RIP 4o, 笑死", replier, i18n))
    assert replier.texts == [i18n.t("en", "core.dm_pointer", bot="afterglow_bot")]
    assert await world.store.stats() == []


def test_group_cog_gets_no_memory_or_persona_services(world: CareWorld) -> None:
    cog = _cog(world, None)
    held = {type(v).__name__ for v in vars(cog).values()}
    assert not any(n in held for n in ("MemoryService", "Companion", "Conversations",
                                       "PersonaService", "Exporter"))


async def test_a_group_is_not_flooded_with_hotline_lists(world: CareWorld, i18n: I18n) -> None:
    from tests.safety.conftest import FakeClock

    clock = FakeClock()
    cog = CareGroup(world.care.screen, world.care.hotlines, world.users, world.care.record_screen,
                    None, clock=clock)
    replier = FakeReplier()
    for _ in range(3):
        await cog.group_message(_ctx("telegram", "kms", replier, i18n))
        clock.advance(60)
    texts = replier.texts
    assert len(texts) == 3  # every message is answered …
    assert "988" in texts[0] and "988" not in texts[1] and "988" not in texts[2]  # … one full list
    assert all("?start=support" in t for t in texts)
    clock.advance(600)
    await cog.group_message(_ctx("telegram", "kms", replier, i18n))
    assert "988" in replier.texts[-1]
