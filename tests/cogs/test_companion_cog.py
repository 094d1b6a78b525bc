"""The companion cog through the real App and router (DMs only), on the fake OpenAI server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.core.models import ChatRef, IncomingMessage, UserRef
from bot.services.i18n import I18n
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.replier import FakeReplier, chat_replies

MEI = UserRef("console", "mei", "Mei")
DM = ChatRef("console", "dm:mei", "dm")
GROUP = ChatRef("console", "g1", "group", "Group")


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(reply="Good evening, Mei.", chunk_chars=3) as s:
        yield s


@pytest.fixture
async def app(tmp_path: Path, server: FakeOpenAI, i18n: I18n) -> AsyncIterator[App]:
    config = tmp_path / "afterglow.toml"
    config.write_text(
        f"""
[llm]
default_model = "warm"
allowed = ["warm", "quick"]

[[llm.providers]]
name = "local"
base_url = "{server.base_url}"
[[llm.providers.models]]
id = "warm"
context_window = 32000
[[llm.providers.models]]
id = "quick"
context_window = 8000
vision = true

[memorial]
ocr = false
""",
        encoding="utf-8",
    )
    settings = Settings.load(
        {"AFTERGLOW_DATA_DIR": str(tmp_path / "data"), "AFTERGLOW_CONFIG": str(config)}
    )
    async with App(settings, i18n=i18n) as instance:
        yield instance


async def dm(app: App, text: str, chat: ChatRef = DM) -> FakeReplier:
    replier = FakeReplier(edit_interval=0.0)
    await app.router.handle_message(IncomingMessage(MEI, chat, text, key=uuid.uuid4().hex), replier)
    return replier


async def command(app: App, line: str, locale: str | None = None) -> FakeReplier:
    replier = FakeReplier()
    assert await app.router.run_text(MEI, DM, line, replier, locale_hint=locale)
    return replier


async def test_dm_streams_reply_with_edits(app: App, server: FakeOpenAI) -> None:
    replier = await dm(app, "good evening")
    assert chat_replies(replier.texts) == ["Good evening, Mei."]
    # The care guard releases text a sentence at a time, so this one-sentence reply arrives whole
    # (streaming edits are covered in tests/core/test_streaming.py).
    assert replier.sent[-1].shown == "Good evening, Mei."
    assert server.requests[0]["messages"][-1] == {"role": "user", "content": "good evening"}


async def test_group_messages_never_reach_the_companion(app: App, server: FakeOpenAI) -> None:
    replier = FakeReplier()
    await app.router.handle_message(
        IncomingMessage(MEI, GROUP, "hello bot", key=uuid.uuid4().hex, addressed=True), replier
    )
    assert server.requests == []


async def test_history_shows_recent_turns(app: App) -> None:
    await dm(app, "I miss the lake")
    replier = await command(app, "/history")
    page = replier.pages[0][0]
    assert "The last 2 messages" in page and "You: I miss the lake" in page
    assert "Companion: Good evening, Mei." in page


async def test_model_lists_and_picks(app: App, server: FakeOpenAI) -> None:
    listing = (await command(app, "/model")).texts[0]
    assert "You're talking on warm." in listing and "▶ warm" in listing and "quick — " in listing
    assert "reads images" in listing
    assert (await command(app, "/model quick")).texts == ["From now on I'll answer on quick."]
    refused = (await command(app, "/model gpt-4o")).texts[0]
    assert "isn't one of the models" in refused
    await dm(app, "hi")
    assert server.requests[-1]["model"] == "quick"
    zh = (await command(app, "/model", locale="zh")).texts[0]
    assert "你现在使用的模型是 quick" in zh


async def test_reset_and_regenerate(app: App, server: FakeOpenAI) -> None:
    assert (await command(app, "/regenerate")).texts == ["There's no reply to regenerate yet."]
    await dm(app, "tell me a story")
    server.script(Reply(text="Another story."))
    assert (await command(app, "/regenerate")).texts == ["Another story."]
    assert (await command(app, "/reset")).texts[0].startswith("Started a new conversation")
    await dm(app, "hello again")
    assert len(server.requests[-1]["messages"]) == 2


async def test_text_attachment_is_read_as_data(
    app: App, server: FakeOpenAI, tmp_path: Path
) -> None:
    from bot.adapters.console import file_attachment

    note = tmp_path / "note.txt"
    note.write_text("Our song was 'Moon River'.", encoding="utf-8")
    replier = FakeReplier()
    await app.router.handle_message(
        IncomingMessage(
            MEI, DM, "what was our song?", key="k-att", attachments=(file_attachment(note),)
        ),
        replier,
    )
    sent = server.requests[0]["messages"]
    assert "Moon River" in sent[1]["content"] and "<<<DATA upload note.txt>>>" in sent[1]["content"]
    assert all("Moon River" not in m["content"] for m in sent if m["role"] == "system")


async def test_without_a_model_the_chat_says_so(tmp_path: Path, i18n: I18n) -> None:
    settings = Settings.load({"AFTERGLOW_DATA_DIR": str(tmp_path / "d")})
    async with App(settings, i18n=i18n) as bare:
        assert bare.companion is None
        replier = await dm(bare, "hello?")
        assert "No model is configured" in chat_replies(replier.texts)[0]


async def test_images_reach_vision_models_only(
    app: App, server: FakeOpenAI, tmp_path: Path
) -> None:
    import base64
    import io

    from PIL import Image

    from bot.adapters.console import file_attachment

    photo = tmp_path / "lake.jpg"
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # a camera maker tag that must not reach the model
    Image.new("RGB", (64, 48), (30, 90, 160)).save(photo, format="JPEG", exif=exif)

    async def send(text: str) -> None:
        msg = IncomingMessage(
            MEI, DM, text, key=uuid.uuid4().hex, attachments=(file_attachment(photo),)
        )
        await app.router.handle_message(msg, FakeReplier())

    await send("look")
    blind = server.requests[-1]["messages"][-1]
    assert blind["content"] == "look\n[The person also sent 1 image this model cannot see.]"

    await command(app, "/model quick")
    await send("")
    seen = server.requests[-1]["messages"][-1]["content"]
    assert isinstance(seen, list) and seen[0]["type"] == "image_url"
    url = seen[0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as img:
        assert img.size == (64, 48) and 0x010F not in img.getexif()
    history = (await command(app, "/history")).pages[0][0]
    assert "You: look\n[image ×1]" in history and "You: [image ×1]" in history
