"""Fault injection through the real App: model faults, a busy database, a full disk.

Every case ends with a clear message for the person and consistent data: the turn is either
answered or pending, nothing half-sent stays queued, and the database passes integrity_check.
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import threading
import time
from pathlib import Path

from bot.adapters.console import file_attachment
from bot.app import App
from bot.core.models import ChatRef, UserRef
from bot.services.i18n import I18n
from bot.services.images import CleanImage, ImageStore
from bot.services.storage import Database
from bot.services.storage.outbox import Outbox
from tests.fakes.bad_images import small_png
from tests.fakes.openai_server import Cut, FakeOpenAI, Hang, Status
from tests.fakes.replier import FakeReplier, chat_replies
from tests.reliability.conftest import dm, make_settings, open_app

REPLY = "I remember you. 我记得你。"


async def _consistent(app: App, key: str, status: str) -> None:
    assert await app.turns.status("console", key) == status
    # A half-streamed message is never left queued for delivery.
    rows = await app.db.fetchall(
        "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND final = 0"
    )
    assert rows[0][0] == 0
    users = await app.db.fetchall("SELECT COUNT(*) FROM messages WHERE msg_key = ?", (key,))
    assert users[0][0] == 1  # the person's words are stored exactly once
    assert await app.db.pragma("integrity_check") == "ok"


async def test_429_with_retry_after_is_honoured(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    fake_llm.script(Status(429, retry_after="1"))
    app = await open_app(make_settings(data_dir, fake_llm), i18n)
    try:
        replier = FakeReplier()
        start = time.monotonic()
        await app.router.handle_message(dm("ann", "hi", key="r429"), replier)
        assert time.monotonic() - start >= 1.0
        assert chat_replies(replier.texts) == [REPLY]
        assert len(fake_llm.requests) == 2
        await _consistent(app, "r429", "answered")
    finally:
        await app.close()


async def test_500s_leave_the_turn_pending_with_a_clear_message(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    fake_llm.always(Status(500))
    app = await open_app(make_settings(data_dir, fake_llm, max_attempts=2), i18n)
    try:
        replier = FakeReplier()
        await app.router.handle_message(dm("bo", "你还在吗", key="r500"), replier)
        assert chat_replies(replier.texts) == [i18n.t("en", "companion.saved_will_answer")]
        assert len(fake_llm.requests) == 2
        await _consistent(app, "r500", "pending")
    finally:
        await app.close()


async def test_hanging_model_times_out_and_the_turn_stays_pending(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    fake_llm.always(Hang())
    settings = make_settings(
        data_dir, fake_llm, attempt_timeout=0.5, turn_timeout=2, max_attempts=1
    )
    app = await open_app(settings, i18n)
    try:
        replier = FakeReplier()
        start = time.monotonic()
        await app.router.handle_message(dm("cy", "hello?", key="hang"), replier)
        assert time.monotonic() - start < 3
        assert chat_replies(replier.texts) == [i18n.t("en", "companion.saved_will_answer")]
        await _consistent(app, "hang", "pending")
    finally:
        await app.close()


async def test_cut_stream_keeps_what_arrived_and_says_so(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    fake_llm.script(Cut(after_chunks=2))
    app = await open_app(make_settings(data_dir, fake_llm), i18n)
    try:
        replier = FakeReplier()
        await app.router.handle_message(dm("di", "tell me", key="cut"), replier)
        shown = replier.texts[-1]
        assert shown.startswith(REPLY[:12])
        assert i18n.t("en", "companion.interrupted") in shown
        await _consistent(app, "cut", "answered")
        partial = await app.db.fetchall("SELECT status FROM messages WHERE role = 'assistant'")
        assert [r[0] for r in partial] == ["partial"]
    finally:
        await app.close()


def _hold_write_lock(path: Path, seconds: float, started: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO persons (created_at) VALUES (0)")
        started.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_busy_database_waits_instead_of_failing(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    app = await open_app(make_settings(data_dir, fake_llm), i18n)
    try:
        started = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(app.db.path, 1.0, started))
        holder.start()
        await asyncio.to_thread(started.wait, 5)
        replier = FakeReplier()
        begin = time.monotonic()
        await app.router.handle_message(dm("ed", "busy?", key="busy"), replier)
        waited = time.monotonic() - begin
        await asyncio.to_thread(holder.join)
        assert waited >= 0.8  # it really waited for the other writer
        assert chat_replies(replier.texts) == [REPLY]
        await _consistent(app, "busy", "answered")
    finally:
        await app.close()


async def test_two_writers_four_readers_thousand_ops_no_busy(tmp_path: Path) -> None:
    path = tmp_path / "stress.sqlite3"
    writers = [Database(path), Database(path)]
    readers = [Database(path) for _ in range(4)]
    for db in writers + readers:
        await db.open()
    errors: list[BaseException] = []

    async def write(db: Database, n: int, tag: int) -> None:
        box = Outbox(db)
        for i in range(n):
            try:
                row = await box.add("console", f"chat-{tag}", f"text {i}", inbox_key=f"{tag}-{i}")
                if i % 2:
                    await box.mark_sent(row)
            except sqlite3.Error as exc:
                errors.append(exc)

    async def read(db: Database, n: int) -> None:
        for _ in range(n):
            try:
                await db.fetchall("SELECT status, COUNT(*) FROM outbox GROUP BY status")
                await db.fetchone("SELECT MAX(id) FROM outbox")
            except sqlite3.Error as exc:
                errors.append(exc)

    try:
        # 2 writers x 200 rows (300 statements each) + 4 readers x 50 loops (100 reads each).
        await asyncio.gather(
            write(writers[0], 200, 0),
            write(writers[1], 200, 1),
            *(read(db, 50) for db in readers),
        )
        assert errors == []
        counts = await readers[0].fetchall("SELECT COUNT(*) FROM outbox")
        assert counts[0][0] == 400
        assert await writers[0].pragma("integrity_check") == "ok"
    finally:
        for db in writers + readers:
            await db.close()


class DiskFullStore(ImageStore):
    """An image store whose disk fills up after the first image."""

    writes = 0

    def _write(self, image: CleanImage) -> None:
        self.writes += 1
        if self.writes > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        super()._write(image)


async def test_disk_full_while_saving_an_upload(tmp_path: Path, i18n: I18n) -> None:
    settings = make_settings(tmp_path / "data", None)
    app = await open_app(settings, i18n)
    try:
        store = DiskFullStore(app.memorial.images.root)
        app.memorial.images = store
        shots = []
        for i, colour in enumerate([(200, 10, 10), (10, 200, 10)]):
            path = tmp_path / f"shot{i}.png"
            path.write_bytes(small_png(colour))
            shots.append(file_attachment(path))
        user = UserRef("console", "fi", "fi")
        chat = ChatRef("console", "grp", "group", "grp")
        replier = FakeReplier()
        await app.router.run_text(
            user, chat, "/farewell", replier, attachments=shots, is_admin=True
        )
        assert replier.texts == [i18n.t("en", "reliability.disk_full")]
        posts = await app.db.fetchall("SELECT COUNT(*) FROM memorial_posts")
        assert posts[0][0] == 0  # nothing half-stored
        # The one image that reached the disk is an orphan the start-up sweep removes.
        assert await app.memorial.sweep_orphans() == 1
        assert not any(p.is_file() for p in store.root.rglob("*.png"))
        assert await app.db.pragma("integrity_check") == "ok"
    finally:
        await app.close()
