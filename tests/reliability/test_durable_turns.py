"""Durable turns: inbox before handling, outbox before sending, recovery after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.models import ChatRef, IncomingMessage, MessageHandle, UserRef
from bot.services.delivery import ReplierDeliverer
from bot.services.i18n import I18n
from tests.fakes.openai_server import FakeOpenAI, Reply, Status
from tests.fakes.replier import FakeReplier, chat_replies
from tests.reliability.conftest import dm, make_settings, open_app

REPLY = "I remember you. 我记得你。"


class BrokenFinish(FakeReplier):
    """A platform that accepts the streamed message but fails when it is settled."""

    async def finish(self, handle: MessageHandle, text: str) -> MessageHandle:
        raise ConnectionError("platform down")


async def test_redelivered_message_is_answered_once(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    app = await open_app(make_settings(data_dir, fake_llm), i18n)
    try:
        msg = dm("ann", "hello again")
        replier = FakeReplier()
        await app.router.handle_message(msg, replier)
        await app.router.handle_message(msg, replier)  # the platform re-delivers the update
        assert chat_replies([s.shown for s in replier.sent]) == [REPLY]
        assert len(fake_llm.requests) == 1
        assert await app.turns.status("console", msg.key) == "answered"
        assert await app.outbox.status_counts() == {"sent": 1}
        row = await app.db.fetchone("SELECT text FROM inbox WHERE key = ?", (msg.key,))
        assert row is not None and row[0] is None  # answered turns forget their text
    finally:
        await app.close()


async def test_unaddressed_group_message_is_recorded_without_text(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    app = await open_app(make_settings(data_dir, fake_llm), i18n)
    try:
        msg = IncomingMessage(
            UserRef("console", "bo", "bo"),
            ChatRef("console", "g1", "group", "g"),
            "private chatter",
            "g-1",
            addressed=False,
        )
        replier = FakeReplier()
        await app.router.handle_message(msg, replier)
        assert replier.sent == []
        row = await app.db.fetchone("SELECT status, text FROM inbox WHERE key = 'g-1'")
        assert row is not None and (row[0], row[1]) == ("ignored", None)
    finally:
        await app.close()


async def test_reply_lost_between_generation_and_send_is_delivered_once(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    settings = make_settings(data_dir, fake_llm)
    app = await open_app(settings, i18n)
    msg = dm("cai", "are you there?")
    try:
        await app.router.handle_message(msg, BrokenFinish())
        pending = await app.outbox.pending(["console"])
        assert [(r.text, r.final) for r in pending] == [(REPLY, True)]
        assert await app.turns.status("console", msg.key) == "answered"
    finally:
        await app.close()

    restarted = await open_app(settings, i18n)
    try:
        # An adapter-level dedupe mark (Telegram's update id) is not a turn to answer.
        assert await restarted.users.record_inbound("console", "u12345")
        out = FakeReplier()
        restarted.durable.register_deliverer("console", ReplierDeliverer(out, [msg.chat.id, ""]))
        restarted.durable.started_at += 1
        report = await restarted.durable.recover()
        assert report.delivered == 1 and report.given_up == 0
        assert out.texts == [REPLY]
        assert len(fake_llm.requests) == 1  # delivered from the outbox, not generated again
        again = await restarted.durable.recover()
        assert again.delivered == 0 and out.texts == [REPLY]
    finally:
        await restarted.close()


async def test_model_down_keeps_turn_pending_then_answers_with_apology(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    settings = make_settings(data_dir, fake_llm)
    fake_llm.always(Status(500))
    app = await open_app(settings, i18n)
    msg = dm("dai", "I miss our talks", key="down-1")
    try:
        live = FakeReplier()
        await app.router.handle_message(msg, live)
        assert chat_replies(live.texts) == [i18n.t("en", "companion.saved_will_answer")]
        assert await app.turns.status("console", "down-1") == "pending"
    finally:
        await app.close()

    fake_llm.always(None)
    restarted = await open_app(settings, i18n)
    try:
        out = FakeReplier()
        restarted.durable.register_deliverer("console", ReplierDeliverer(out, [msg.chat.id]))
        report = await restarted.durable.recover()
        assert report.answered == 1
        assert out.texts == [i18n.t("en", "reliability.sorry_for_delay"), REPLY]
        assert await restarted.turns.status("console", "down-1") == "answered"
        users = await restarted.db.fetchall(
            "SELECT COUNT(*) FROM messages WHERE role = 'user' AND msg_key = 'down-1'"
        )
        assert users[0][0] == 1  # the message is stored once across both runs
        assert (await restarted.durable.recover()).answered == 0
    finally:
        await restarted.close()


async def test_drain_cancels_slow_turn_which_is_answered_after_restart(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    settings = make_settings(data_dir, fake_llm)
    fake_llm.script(Reply(text="a very slow and thoughtful answer", delay=0.5))
    app = await open_app(settings, i18n)
    msg = dm("eve", "tell me a story", key="slow-1")
    try:
        live = FakeReplier()
        turn = asyncio.create_task(app.router.handle_message(msg, live))
        for _ in range(200):  # until the first chunk is on screen
            if app.durable.in_flight and live.sent:
                break
            await asyncio.sleep(0.02)
        finished, cancelled = await app.durable.drain(0.2)
        assert (finished, cancelled) == (0, 1)
        assert turn.cancelled()
        assert await app.turns.status("console", "slow-1") == "pending"
        # Intake is stopped: a message arriving now is only recorded.
        late = dm("eve", "still there?", key="late-1")
        await app.router.handle_message(late, live)
        assert await app.turns.status("console", "late-1") == "pending"
        assert live.texts[-1] == i18n.t("en", "reliability.shutting_down")
    finally:
        await app.close()

    restarted = await open_app(settings, i18n)
    try:
        out = FakeReplier()
        restarted.durable.register_deliverer("console", ReplierDeliverer(out, [msg.chat.id]))
        report = await restarted.durable.recover()
        assert report.answered == 2
        sorry = i18n.t("en", "reliability.sorry_for_delay")
        assert out.texts == [sorry, REPLY, sorry, REPLY]
        counts = await restarted.turns.status_counts()
        assert counts == {"answered": 2}
        # The half-streamed message of the cancelled turn is superseded, never re-sent.
        assert (await restarted.outbox.status_counts()).get("pending", 0) == 0
    finally:
        await restarted.close()


async def test_recovery_gives_up_after_three_attempts(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    settings = make_settings(data_dir, fake_llm, max_attempts=1)
    fake_llm.always(Status(500))
    msg = dm("fay", "hello?", key="doomed")
    app = await open_app(settings, i18n)
    try:
        await app.router.handle_message(msg, FakeReplier())
    finally:
        await app.close()
    out = FakeReplier()
    for _ in range(4):
        again = await open_app(settings, i18n)
        try:
            again.durable.register_deliverer("console", ReplierDeliverer(out, [msg.chat.id]))
            await again.durable.recover()
        finally:
            await again.close()
    assert out.texts == [i18n.t("en", "reliability.gave_up")]
    assert len(fake_llm.requests) == 4  # the live try and three recoveries, then no more


async def test_outbox_retry_delivers_without_a_restart(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    app = await open_app(make_settings(data_dir, fake_llm), i18n)
    try:
        msg = dm("gus", "hi")
        await app.router.handle_message(msg, BrokenFinish())
        out = FakeReplier()
        app.durable.register_deliverer("console", ReplierDeliverer(out, [msg.chat.id]))
        assert await app.durable.flush_outbox() == 1
        assert await app.durable.flush_outbox() == 0
        assert out.texts == [REPLY]
    finally:
        await app.close()


async def test_console_recovery_answers_only_its_own_chat(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    settings = make_settings(data_dir, fake_llm)
    fake_llm.always(Status(500))
    app = await open_app(settings, i18n)
    try:
        for user in ("hal", "ivy"):
            await app.router.handle_message(dm(user, "hello", key=f"own-{user}"), FakeReplier())
    finally:
        await app.close()
    fake_llm.always(None)
    requests = len(fake_llm.requests)
    for user in ("hal", "ivy"):
        again = await open_app(settings, i18n)
        try:
            out = FakeReplier()
            again.durable.register_deliverer("console", ReplierDeliverer(out, [f"dm:{user}"]))
            report = await again.durable.recover()
            assert report.answered == 1 and out.texts[-1] == REPLY
            assert await again.turns.status("console", f"own-{user}") == "answered"
        finally:
            await again.close()
    assert len(fake_llm.requests) == requests + 2


async def test_recovery_answers_a_person_in_crisis_first(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    settings = make_settings(data_dir, fake_llm)
    fake_llm.always(Status(500))
    app = await open_app(settings, i18n)
    try:
        await app.router.handle_message(dm("jo", "what a day", key="calm"), FakeReplier())
        await app.router.handle_message(dm("kim", "我不想活了", key="crisis"), FakeReplier())
    finally:
        await app.close()
    fake_llm.always(None)
    again = await open_app(settings, i18n)
    try:
        out = FakeReplier()
        again.durable.register_deliverer("console", ReplierDeliverer(out, ["dm:jo", "dm:kim"]))
        report = await again.durable.recover()
        assert report.turns == ["crisis", "calm"]
    finally:
        await again.close()


class HangingFinish(FakeReplier):
    """The process dies while the platform settles the reply (it never returns)."""

    async def finish(self, handle: MessageHandle, text: str) -> MessageHandle:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_crash_while_sending_the_final_reply_delivers_it_without_regenerating(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    settings = make_settings(data_dir, fake_llm)
    app = await open_app(settings, i18n)
    msg = dm("lou", "one more thing", key="final-1")
    try:
        turn = asyncio.create_task(app.router.handle_message(msg, HangingFinish()))
        for _ in range(200):  # until the complete reply is journaled and being sent
            if await app.outbox.for_turn("console", "final-1"):
                break
            await asyncio.sleep(0.02)
        await app.durable.drain(0.05)
        assert turn.cancelled()
        assert await app.turns.status("console", "final-1") == "pending"
    finally:
        await app.close()

    restarted = await open_app(settings, i18n)
    try:
        out = FakeReplier()
        restarted.durable.register_deliverer("console", ReplierDeliverer(out, [msg.chat.id]))
        report = await restarted.durable.recover()
        assert report.answered == 1
        assert out.texts == [i18n.t("en", "reliability.sorry_for_delay"), REPLY]
        assert len(fake_llm.requests) == 1  # the journaled reply, not a new generation
        assert await restarted.turns.status("console", "final-1") == "answered"
        assert (await restarted.outbox.status_counts()).get("pending", 0) == 0
    finally:
        await restarted.close()
