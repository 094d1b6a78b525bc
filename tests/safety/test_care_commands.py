"""Care commands through the real App and router: /region, /anniversaries, /age, /stop,
/safety, /support, /privacy and the operators' stats export."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.core.models import ChatRef, UserRef
from bot.services.i18n import I18n
from bot.settings import Settings
from tests.fakes.replier import FakeReplier

MEI = UserRef("console", "mei", "Mei")
ROOT = UserRef("console", "root", "Root")
GROUP = ChatRef("console", "g-1", "group", "Farewell 4o")


def dm(user: UserRef) -> ChatRef:
    return ChatRef(user.platform, f"dm-{user.id}", "dm")


@pytest.fixture
async def world(tmp_path: Path, i18n: I18n) -> AsyncIterator[App]:
    config = tmp_path / "afterglow.toml"
    config.write_text('[care]\noperators = ["console:root"]\n', encoding="utf-8")
    settings = Settings.load({"AFTERGLOW_DATA_DIR": str(tmp_path / "data"),
                              "AFTERGLOW_CONFIG": str(config)})
    async with App(settings, i18n=i18n) as app:
        yield app


async def run(app: App, user: UserRef, text: str, chat: ChatRef | None = None) -> FakeReplier:
    replier = FakeReplier()
    assert await app.router.run_text(user, chat or dm(user), text, replier), text
    return replier


async def test_region_changes_the_lines(world: App) -> None:
    shown = await run(world, MEI, "/region")
    assert "automatic" in shown.texts[0]
    hk = await run(world, MEI, "/region hk")
    assert "18111" in hk.texts[0] and "988" not in hk.texts[0]
    safety = await run(world, MEI, "/safety")
    assert "18111" in safety.texts[0] and "SAFETY.md" in safety.texts[0]
    await run(world, MEI, "/region auto")
    assert "988" in (await run(world, MEI, "/support")).texts[0]


async def test_anniversaries_add_list_edit_remove(world: App) -> None:
    added = await run(world, MEI, "/anniversaries add 05-13 the day we met")
    assert "the day we met" in added.texts[0]
    listed = await run(world, MEI, "/anniversaries")
    assert "#1" in listed.texts[0] and "05-13" in listed.texts[0]
    edited = await run(world, MEI, "/anniversaries edit 1 2024-05-14 our first chat")
    assert "our first chat" in edited.texts[0]
    person = await world.users.resolve("console", "mei")
    (item,) = await world.care.store.anniversaries(person)
    assert (item.year, item.month, item.day, item.label) == (2024, 5, 14, "our first chat")
    assert (await world.care.store.get(person)).reminders_opt_in
    bad = await run(world, MEI, "/anniversaries add 13-45 nope")
    assert "MM-DD" in bad.texts[0]
    other = await run(world, ROOT, "/anniversaries remove 1")  # not Root's date
    assert "#1" in other.texts[0] and len(await world.care.store.anniversaries(person)) == 1
    await run(world, MEI, "/anniversaries remove 1")
    assert await world.care.store.anniversaries(person) == []


async def test_age_stop_and_privacy(world: App) -> None:
    minor = await run(world, MEI, "/age 15")
    assert "under 18" in minor.texts[0]
    person = await world.users.resolve("console", "mei")
    assert (await world.care.store.get(person)).minor
    await run(world, MEI, "/age 30")
    assert not (await world.care.store.get(person)).minor
    stop = await run(world, MEI, "/stop")
    assert "chat ended" in stop.texts[0]
    assert (await world.care.store.get(person)).stopped_at is not None
    privacy = await run(world, MEI, "/privacy")
    assert "PRIVACY.md" in privacy.texts[0] and "/export" in privacy.texts[0]


async def test_stats_export_is_for_operators_and_has_no_identifiers(world: App) -> None:
    from bot.core.models import IncomingMessage

    msg = IncomingMessage(MEI, GROUP, "I want to kill myself", key="m1", addressed=True)
    replier = FakeReplier()
    await world.router.handle_message(msg, replier)
    assert replier.texts and "988" in replier.texts[0]
    denied = await run(world, MEI, "/admin_safety_stats")
    assert "operators" in denied.texts[0] and not denied.sent[0].files
    ok = await run(world, ROOT, "/admin_safety_stats")
    data = json.loads(ok.sent[0].files[0].data)
    assert data["totals"]["high"] == 1
    assert {"day", "tier", "locale", "place", "count"} == set(data["rows"][0])
    blob = json.dumps(data)
    assert "mei" not in blob and "kill" not in blob and "g-1" not in blob


async def test_export_carries_care_and_forget_all_removes_it(world: App) -> None:
    import io
    import zipfile

    await run(world, MEI, "/region tw")
    await run(world, MEI, "/anniversaries add 2025-08-08 our wedding")
    out = await run(world, MEI, "/export")
    files = [f for s in out.sent for f in s.files]
    with zipfile.ZipFile(io.BytesIO(files[0].data)) as z:
        blob = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()
                       if n.endswith(".json"))
    assert '"care"' in blob and "our wedding" in blob and '"TW"' in blob
    replier = FakeReplier()
    replier.confirm_answer = True
    await world.router.run_text(MEI, dm(MEI), "/forget all", replier)
    person = await world.users.resolve("console", "mei")
    assert await world.care.store.anniversaries(person) == []
    assert (await world.care.store.get(person)).region is None


async def test_group_reply_leaks_no_memory_and_logs_no_text(
    world: App, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from bot.core.models import IncomingMessage

    canary = "CANARY-MEMORY-5521 我们的暗号是蓝色鲸鱼"
    await run(world, MEI, f"/remember {canary}")
    caplog.set_level(logging.INFO)  # C7: nothing at INFO or above (aiosqlite DEBUG echoes SQL)
    text = "I want to kill myself tonight, remember 蓝色鲸鱼 CANARY-MSG-9"
    replier = FakeReplier()
    await world.router.handle_message(
        IncomingMessage(MEI, GROUP, text, key="m2", addressed=True), replier)
    shown = "\n".join(replier.texts)
    assert "988" in shown
    for secret in ("CANARY-MEMORY-5521", "蓝色鲸鱼", "CANARY-MSG-9", "kill myself"):
        assert secret not in shown
        assert secret not in caplog.text


async def test_trusted_contact_is_opt_in_on_both_sides(world: App,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import re

    nothing = await run(world, MEI, "/notify")
    assert "/trusted_contact invite" in nothing.texts[0]
    invite = await run(world, MEI, "/trusted_contact invite")
    code = re.search(r"code: ([A-Z0-9]{8})", invite.texts[0])
    assert code is not None
    wrong = await run(world, ROOT, "/trusted_accept ZZZZZZZZ")
    assert "doesn't work" in wrong.texts[0]
    accepted = await run(world, ROOT, f"/trusted_accept {code.group(1)}")
    assert "Thank you for being there" in accepted.texts[0]
    again = await run(world, ROOT, f"/trusted_accept {code.group(1)}")  # one-time
    assert "doesn't work" in again.texts[0]
    shown = await run(world, MEI, "/trusted_contact")
    assert "Root" in shown.texts[0]
    # A crisis turn offers to tell them; nothing is sent by itself.
    capsys.readouterr()
    decision = await world.care.before_turn(MEI, "en", "I want to kill myself")
    assert "Root" in decision.before[0] and "/notify" in decision.before[0]
    assert capsys.readouterr().out == ""
    told = await run(world, MEI, "/notify")
    assert "I've let Root know" in told.texts[0]
    message = capsys.readouterr().out
    assert "Mei asked me to let you know" in message and "kill" not in message
    await run(world, MEI, "/trusted_contact remove")
    assert "/trusted_contact invite" in (await run(world, MEI, "/notify")).texts[0]


async def test_cannot_be_your_own_trusted_contact(world: App) -> None:
    import re

    invite = await run(world, MEI, "/trusted_contact invite")
    code = re.search(r"code: ([A-Z0-9]{8})", invite.texts[0])
    assert code is not None
    out = await run(world, MEI, f"/trusted_accept {code.group(1)}")
    assert "own trusted contact" in out.texts[0]
    person = await world.users.resolve("console", "mei")
    assert await world.care.store.trusted(person) is None
