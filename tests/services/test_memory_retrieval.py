"""Retrieval on a real SQLite file: the GB18030 letter, short and long queries, scoping, pins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.errors import UserError
from bot.core.models import UserRef
from bot.services.memory import MemoryService
from bot.services.persona import PersonaService
from bot.services.search_terms import index_terms, query_terms
from bot.services.storage.db import Database
from bot.services.storage.memories import Memories
from bot.services.storage.personas import Personas
from bot.services.storage.users import Users
from tests.fakes.letters import MARKERS, chinese_letter

ALICE = UserRef("console", "alice", "Alice")
BOB = UserRef("console", "bob", "Bob")


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[tuple[MemoryService, PersonaService]]:
    db = Database(tmp_path / "afterglow.sqlite3")
    await db.open()
    users, memories, personas = Users(db), Memories(db), Personas(db)
    try:
        yield (
            MemoryService(db, users, memories, personas),
            PersonaService(db, users, personas, memories),
        )
    finally:
        await db.close()


def test_query_terms_split_long_and_short() -> None:
    one = query_terms("猫")
    assert one.chars == ("猫",) and not one.short
    assert one.terms_expression() == '"猫"*'
    two = query_terms("火锅")
    assert two.grams == ("火锅",) and not two.long and not two.short
    terms = query_terms("重庆火锅")
    assert terms.long == ("重庆火锅", "重庆火", "庆火锅") and not terms.short
    assert terms.grams == ("重庆", "庆火", "火锅")
    english = query_terms("Where did Caroline go camping?")
    assert {"camp", "caroli"} <= set(english.grams) and "where" not in english.grams
    assert query_terms("Where did Caroline go camping?", trigram_words=False).long == ()
    assert index_terms("我们去吃火锅 Camping trips!") == "我们 们去 去吃 吃火 火锅 锅 camp trip"
    assert query_terms("af").short == ("af",)
    assert query_terms('say "hi" OR NEAR(').match_expression() is not None


async def test_gb18030_letter_answers_one_two_and_many_char_queries(
    services: tuple[MemoryService, PersonaService],
) -> None:
    memory, _ = services
    letter, _ = chinese_letter()
    assert len(letter) >= 10_000
    result = await memory.import_letter(ALICE, letter.encode("gb18030"), "信.txt")
    assert result.characters == len(letter)
    assert result.chunks >= 15
    person, persona = await memory.scope(ALICE)
    # The original is kept verbatim.
    (stored,) = await memory.memories.letters(person)
    assert stored.body == letter

    async def top(query: str) -> str:
        hits = await memory.search(person, persona, query, k=3)
        assert hits, query
        return hits[0].text

    assert MARKERS["cat"] in await top("猫")
    assert MARKERS["hotpot"] in await top("火锅")
    assert MARKERS["snow"] in await top("雪")
    assert MARKERS["lighthouse"] in await top("灯塔")
    assert MARKERS["hotpot"] in await top("重庆的那家火锅店")
    assert MARKERS["lighthouse"] in await top("你还记得海边灯塔的故事吗")
    assert MARKERS["cat"] in await top("团子趴在键盘上")
    # The whole letter is far bigger than what a search returns.
    hits = await memory.search(person, persona, "重庆的那家火锅店", k=3)
    assert sum(len(h.text) for h in hits) < len(letter) / 5


async def test_people_never_see_each_other(services: tuple[MemoryService, PersonaService]) -> None:
    memory, _ = services
    await memory.remember(ALICE, "ALICE-CANARY 我最喜欢的花是栀子花")
    await memory.remember(BOB, "BOB-CANARY 我最喜欢的花是栀子花")
    alice_hits = await memory.recall(ALICE, "栀子花")
    assert [h.text for h in alice_hits] == ["ALICE-CANARY 我最喜欢的花是栀子花"]
    bob_id = (await memory.recall(BOB, "花"))[0].id
    with pytest.raises(UserError) as exc:
        await memory.forget(ALICE, bob_id)
    assert exc.value.key == "memory.not_found"
    with pytest.raises(UserError):
        await memory.pin(ALICE, bob_id)
    assert len(await memory.recall(BOB, "CANARY")) == 1


async def test_pins_and_recency_break_ties(services: tuple[MemoryService, PersonaService]) -> None:
    memory, _ = services
    first = await memory.remember(ALICE, "我们去看海")
    second = await memory.remember(ALICE, "我们去看海")
    person, persona = await memory.scope(ALICE)
    assert [h.id for h in await memory.search(person, persona, "看海", k=2)] == [second, first]
    await memory.pin(ALICE, first)
    assert [h.id for h in await memory.search(person, persona, "看海", k=2)] == [first, second]
    assert [h.id for h in await memory.pinned(ALICE)] == [first]
    await memory.pin(ALICE, first, pinned=False)
    await memory.forget(ALICE, second)
    assert [h.id for h in await memory.search(person, persona, "看海", k=2)] == [first]


async def test_memories_follow_the_active_persona(
    services: tuple[MemoryService, PersonaService],
) -> None:
    memory, persona = services
    await memory.remember(ALICE, "shared before any persona: 栀子花")
    await persona.create(ALICE, "小暖")
    await memory.remember(ALICE, "小暖 only: 栀子花开了")
    await persona.create(ALICE, "Warmie")  # becomes active
    texts = [h.text for h in await memory.recall(ALICE, "栀子花")]
    assert texts == ["shared before any persona: 栀子花"]
    await persona.switch(ALICE, "小暖")
    assert len(await memory.recall(ALICE, "栀子花")) == 2


async def test_remember_rejects_empty_and_long(
    services: tuple[MemoryService, PersonaService],
) -> None:
    memory, _ = services
    for text, key in (("   ", "memory.empty"), ("长" * 5000, "memory.too_long")):
        with pytest.raises(UserError) as exc:
            await memory.remember(ALICE, text)
        assert exc.value.key == key
    rows, total = await memory.page(ALICE, 0)
    assert (rows, total) == ([], 0)


async def test_card_book_entries_trigger_on_keywords(
    services: tuple[MemoryService, PersonaService],
) -> None:
    from tests.fakes.cards import b64, png, v3

    memory, persona = services
    result = await persona.import_card(ALICE, png({"ccv3": b64(v3("Warmie"))}))
    assert result.book_entries == 2
    view = await persona.active(ALICE)
    assert view is not None and view.name == "Warmie" and view.greeting == "你回来啦。"
    hits = await memory.recall(ALICE, "今晚想吃 HOTPOT")
    assert [h.kind for h in hits] == ["book"]
    assert "重庆火锅" in hits[0].text
    assert await memory.recall(BOB, "今晚想吃 HOTPOT") == []
    # The card survives persona → V2 card → persona.
    again = await persona.import_card(ALICE, await persona.card_png(ALICE))
    assert again.persona.personality == result.persona.personality
    assert again.persona.example_dialogue == result.persona.example_dialogue
    assert again.book_entries == 2


async def test_short_queries_find_exactly_the_rows_that_contain_them(
    services: tuple[MemoryService, PersonaService],
) -> None:
    """1- and 2-character queries against a LIKE ground truth (platform-notes §10's trap)."""
    import random

    memory, _ = services
    rng = random.Random(3)
    alphabet = "猫狗雪海火锅上好吗，。 ab"
    bodies = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(150)]
    ids = {}
    for body in bodies:
        if body.strip():
            ids[await memory.remember(ALICE, body)] = body.strip()
    person, persona = await memory.scope(ALICE)
    queries = [*"猫狗雪海火锅", "火锅", "上海", "雪海", "猫猫", "ab", "b"]
    for query in queries:
        hits = await memory.search(person, persona, query, k=1000)
        expected = {i for i, body in ids.items() if query in body.casefold()}
        assert {h.id for h in hits} == expected, query


async def test_chatgpt_import_keeps_saved_memories_labelled(
    services: tuple[MemoryService, PersonaService],
) -> None:
    from tests.fakes.chatgpt_export import conversation, export_zip

    memory, _ = services
    conv = conversation("c1", "t", 1.7e9, [("user", "我的猫叫团子"), ("assistant", "记住了")])
    bio = dict(conv["mapping"]["n1"]["message"], id="bio", recipient="bio")
    bio["content"] = {"content_type": "text", "parts": ["User's cat is named 团子."]}
    conv["mapping"]["bio"] = {"id": "bio", "message": bio, "parent": "n0", "children": ["n1"]}
    conv["mapping"]["n1"]["parent"] = "bio"
    result = await memory.import_chatgpt(ALICE, export_zip([conv, conv]))
    assert (result.conversations, result.skipped, result.saved_memories) == (1, 1, 1)
    rows, _ = await memory.page(ALICE, 0)
    assert "[saved by ChatGPT] User's cat is named 团子." in [m.body for m in rows]
