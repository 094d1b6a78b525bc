"""/forget all leaves nothing of the person anywhere in the database, and /export carries the
companion conversations into a fresh installation (real App, real SQLite, fake OpenAI server)."""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.core.errors import UserError
from bot.core.models import Attachment, ChatRef, IncomingMessage, UserRef
from bot.services.i18n import I18n
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, echo_reply
from tests.fakes.replier import FakeReplier

MEI = UserRef("console", "mei", "Mei")
BOB = UserRef("console", "bob", "Bob")
# One token for every tokenizer (no separators), so a leftover full-text index entry shows too.
MEI_CANARY = "meicanaryq7z3x"
BOB_CANARY = "bobcanaryk2w9v"


def dm(user: UserRef) -> ChatRef:
    return ChatRef(user.platform, f"dm-{user.id}", "dm")


def attachment(data: bytes, name: str) -> Attachment:
    async def fetch(max_bytes: int) -> bytes:
        if len(data) > max_bytes:
            raise UserError("errors.file_too_large")
        return data

    return Attachment(name, len(data), "application/octet-stream", fetch)


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(reply=echo_reply) as fake:
        yield fake


def settings_for(data_dir: Path, server: FakeOpenAI) -> Settings:
    return Settings.load(
        {
            "AFTERGLOW_DATA_DIR": str(data_dir),
            "AFTERGLOW_LLM_BASE_URL": server.base_url,
            "AFTERGLOW_LLM_MODEL": "fake-model",
            "AFTERGLOW_LLM_API_KEY": "sk-test",
        }
    )


async def command(
    app: App, user: UserRef, text: str, files: tuple[Attachment, ...] = ()
) -> FakeReplier:
    replier = FakeReplier()
    assert await app.router.run_text(user, dm(user), text, replier, attachments=files), text
    return replier


async def chat(app: App, user: UserRef, text: str) -> FakeReplier:
    replier = FakeReplier()
    msg = IncomingMessage(user, dm(user), text, key=uuid.uuid4().hex)
    await app.router.handle_message(msg, replier)
    return replier


async def live_in(app: App, user: UserRef, canary: str) -> None:
    """Everything a person can leave behind: chats, a memory, a letter, a care setting."""
    replier = await chat(app, user, f"my secret word is {canary}, please keep it")
    assert canary in replier.texts[-1]  # the model answered (echo), so the reply holds it too
    await chat(app, user, f"do you still remember {canary}?")
    await command(app, user, f"/remember the secret word is {canary}")
    letter = f"Dear one,\n\nour word was {canary}.\n".encode()
    await command(app, user, "/memory upload", files=(attachment(letter, "letter.txt"),))
    await command(app, user, "/region hk")


def cells_with(db_file: Path, needle: str) -> list[str]:
    """Every table (FTS shadow tables included) and column whose value contains `needle`."""
    raw = needle.encode()
    found: list[str] = []
    with sqlite3.connect(db_file) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "messages" in tables and "memories_fts_data" in tables
        for table in tables:
            cur = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cur.description]
            for row in cur:
                for column, value in zip(columns, row, strict=True):
                    if (isinstance(value, str) and needle in value.lower()) or (
                        isinstance(value, bytes) and raw in value.lower()
                    ):
                        found.append(f"{table}.{column}")
    return found


async def test_forget_all_leaves_no_trace_and_export_restores_chats(
    tmp_path: Path, server: FakeOpenAI, i18n: I18n
) -> None:
    db_file = tmp_path / "data" / "afterglow.sqlite3"
    async with App(settings_for(tmp_path / "data", server), i18n=i18n) as app:
        await live_in(app, MEI, MEI_CANARY)
        await live_in(app, BOB, BOB_CANARY)
        assert {"messages.text", "memories.body", "letters.body"} <= set(
            cells_with(db_file, MEI_CANARY)
        )

        exported = await command(app, MEI, "/export")
        (archive,) = [f.data for s in exported.sent for f in s.files]
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            data = json.loads(z.read("afterglow-export.json"))
            markdown = z.read("afterglow-export.md").decode()
        convs = data["sections"]["companion"]["conversations"]
        texts = [m["text"] for c in convs for m in c["messages"]]
        assert [m["role"] for m in convs[0]["messages"]] == ["user", "assistant"] * 2
        assert {m["status"] for m in convs[0]["messages"]} == {"complete"}
        assert f"my secret word is {MEI_CANARY}, please keep it" in texts
        assert BOB_CANARY not in json.dumps(data)
        assert f"my secret word is {MEI_CANARY}" in markdown

        declined = FakeReplier()
        declined.confirm_answer = False
        await app.router.run_text(MEI, dm(MEI), "/forget all", declined)
        assert "messages.text" in cells_with(db_file, MEI_CANARY)

        mei = await app.users.resolve("console", "mei")
        await command(app, MEI, "/forget all")
        await app.memorial_data.wait()
        bob_left = set(cells_with(db_file, BOB_CANARY))

    # Checked with the App closed: every write is committed and the WAL checkpointed.
    assert cells_with(db_file, MEI_CANARY) == []
    assert {"messages.text", "memories.body", "letters.body"} <= bob_left
    with sqlite3.connect(db_file) as conn:
        for table in ("conversations", "care_state", "usage_daily", "companion_prefs"):
            assert conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE person_id = ?", (mei,)
            ).fetchone() == (0,)
        assert conn.execute(
            "SELECT COUNT(*) FROM inbox WHERE user_id = 'mei' OR text IS NOT NULL AND user_id = ''"
        ).fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM inbox WHERE user_id = 'bob'").fetchone()[0] >= 2

    # The archive restores the chats into an empty installation, and the companion sees them.
    async with App(settings_for(tmp_path / "fresh", server), i18n=i18n) as fresh:
        restored = await command(
            fresh, MEI, "/import archive", files=(attachment(archive, "export.zip"),)
        )
        assert restored.texts and "exports." not in restored.texts[-1]
        await chat(fresh, MEI, "what was the word?")
        sent = server.requests[-1]["messages"]
        assert {"role": "user", "content": f"my secret word is {MEI_CANARY}, please keep it"} in sent
        assert sent[-1] == {"role": "user", "content": "what was the word?"}
    with sqlite3.connect(tmp_path / "fresh" / "afterglow.sqlite3") as conn:
        rows = conn.execute(
            "SELECT m.role, m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " ORDER BY m.id"
        ).fetchall()
    assert rows[0] == ("user", f"my secret word is {MEI_CANARY}, please keep it")
    assert len(rows) == 6  # four restored, plus the new turn and its answer


async def test_linking_moves_chats_and_usage_without_two_open_conversations(
    tmp_path: Path,
) -> None:
    from bot.services.storage import Database
    from bot.services.storage.conversations import ConversationPersonalData, Conversations
    from bot.services.storage.outbox import ReliabilityPersonalData
    from bot.services.storage.usage import UsageStore
    from bot.services.storage.users import Users

    db = Database.in_dir(tmp_path)
    await db.open()
    try:
        users = Users(db)
        source, target = await users.resolve("telegram", "1"), await users.resolve("console", "m")
        convs, usage = Conversations(db), UsageStore(db)
        for person, text in ((source, "from telegram"), (target, "from console")):
            conv = await convs.active(person, 0)
            await convs.add_user(conv.id, text, 3)
            await usage.add(person, "2026-12-01", 100)
        await convs.choose_model(source, "quick")
        async with db.write() as conn:
            await ConversationPersonalData(db).move_person(conn, source, target)
            await ReliabilityPersonalData().move_person(conn, source, target)
        data = await ConversationPersonalData(db).dump(target)
        texts = [c["messages"][0]["text"] for c in data["conversations"]]
        assert sorted(texts) == ["from console", "from telegram"]
        assert [c["ended_at"] is None for c in data["conversations"]] == [False, True]
        assert data["model"] == "quick"
        assert (await ConversationPersonalData(db).dump(source))["conversations"] == []
        assert await usage.add(target, "2026-12-01", 0) == 200
        assert await usage.add(source, "2026-12-01", 0) == 0
    finally:
        await db.close()
