"""`Users.resolve` remembers accounts in-process, and linking / forgetting invalidate it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.errors import UserError
from bot.core.models import UserRef
from bot.services.privacy import PrivacyService
from bot.services.storage import Database
from bot.services.storage.users import Users

ALICE = UserRef("discord", "a1", "Alice")
ALICE_TG = UserRef("telegram", "t1", "Alice")
BOB = UserRef("discord", "b1", "Bob")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "x.sqlite3") as database:
        yield database


async def test_resolve_answers_from_memory_once_seen(db: Database) -> None:
    users = Users(db)
    person = await users.resolve("discord", "a1")
    # Behind the repository's back: a cached answer does not need the row any more.
    await db.execute("DELETE FROM users WHERE platform_user_id = 'a1'")
    assert await users.resolve("discord", "a1") == person
    assert await users.find("discord", "a1") == person
    assert await Users(db).find("discord", "a1") is None  # a fresh instance reads the table


async def test_cache_is_bounded_and_evicts_the_oldest(db: Database) -> None:
    users = Users(db, cache_size=2)
    first = await users.resolve("discord", "a")
    second = await users.resolve("discord", "b")
    await users.resolve("discord", "c")  # evicts "a"
    await db.execute("DELETE FROM users WHERE platform_user_id IN ('a', 'b')")
    assert await users.resolve("discord", "b") == second  # still remembered
    assert await users.resolve("discord", "a") != first  # re-read: gone, so a new person


async def test_linked_account_resolves_to_the_new_person_at_once(db: Database) -> None:
    users = Users(db)
    privacy = PrivacyService(db, users)
    alice = await users.resolve(ALICE.platform, ALICE.id)
    tg = await users.resolve(ALICE_TG.platform, ALICE_TG.id)  # cached under its own person
    assert tg != alice
    code = await privacy.link_code(ALICE)
    assert await privacy.link(ALICE_TG, code) == alice
    assert await users.resolve(ALICE_TG.platform, ALICE_TG.id) == alice
    assert await users.find(ALICE_TG.platform, ALICE_TG.id) == alice
    assert [a.platform for a in await users.accounts(alice)] == ["discord", "telegram"]


async def test_failed_link_changes_nothing(db: Database) -> None:
    users = Users(db)
    privacy = PrivacyService(db, users)
    alice = await users.resolve(ALICE.platform, ALICE.id)
    bob = await users.resolve(BOB.platform, BOB.id)
    code = await privacy.link_code(ALICE)
    with pytest.raises(UserError) as err:
        await privacy.link(BOB, code)  # Alice already has a Discord account
    assert err.value.key == "privacy.link_same_platform"
    with pytest.raises(UserError) as err:
        await privacy.link(ALICE, code)  # rolled back above, so the code is still good
    assert err.value.key == "privacy.link_same"
    with pytest.raises(UserError) as err:
        await privacy.link(BOB, "nope-nope")
    assert err.value.key == "privacy.link_bad_code"
    assert await users.resolve(BOB.platform, BOB.id) == bob
    assert await users.resolve(ALICE.platform, ALICE.id) == alice


async def test_expired_code_is_refused(db: Database) -> None:
    now = [1000.0]
    users = Users(db)
    privacy = PrivacyService(db, users, clock=lambda: now[0])
    code = await privacy.link_code(ALICE)
    now[0] += 601
    with pytest.raises(UserError) as err:
        await privacy.link(ALICE_TG, code)
    assert err.value.key == "privacy.link_bad_code"


async def test_forgotten_person_comes_back_as_a_new_person(db: Database) -> None:
    users = Users(db)
    privacy = PrivacyService(db, users)
    old = await users.resolve(ALICE.platform, ALICE.id)
    await users.set_person_locale(old, "zh_Hans")
    bob = await users.resolve(BOB.platform, BOB.id)  # the newest person: its id must not recur
    await privacy.forget_all(BOB)
    assert await users.accounts(bob) == []
    assert await users.find(BOB.platform, BOB.id) is None
    new = await users.resolve(BOB.platform, BOB.id)
    assert new not in (old, bob)
    assert await users.person_locale(old) == "zh_Hans"  # other people untouched
    await privacy.forget_all(ALICE)
    assert await users.person_locale(old) is None
    assert await users.resolve(ALICE.platform, ALICE.id) not in (old, bob, new)
