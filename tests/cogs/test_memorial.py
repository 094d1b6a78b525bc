"""The memorial wall end to end through the console adapter, on a real SQLite file and real OCR."""

from __future__ import annotations

import io
import zipfile
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.console import ConsoleSession
from bot.app import App
from bot.core.models import ChatRef
from bot.services.i18n import I18n
from bot.services.ocr import RapidOcrEngine
from tests.fakes.bad_images import small_png, truncated_jpeg
from tests.fakes.screenshots import zh_screenshot

PHRASE = "我们约好在灯塔下见面"  # appears only inside the screenshot


class Console:
    """One console person in the pretend group `g1`, with scripted answers to questions."""

    def __init__(self, app: App, out_dir: Path, user: str, *, admin: bool = False) -> None:
        self.out = io.StringIO()
        self.answers: deque[str] = deque()
        self.session = ConsoleSession(
            app.router,
            app.i18n,
            user=user,
            locale="zh",
            out=self.out,
            read_line=self._read,
            group="g1",
            admin=admin,
            out_dir=out_dir,
        )

    async def _read(self) -> str | None:
        return self.answers.popleft() if self.answers else None

    async def say(self, line: str) -> str:
        start = self.out.tell()
        await self.session.handle_line(line)
        return self.out.getvalue()[start:]


@pytest.fixture
async def wall(app: App, shared_ocr: RapidOcrEngine) -> AsyncIterator[App]:
    app.memorial.ocr = shared_ocr
    yield app
    await app.memorial.wait_for_ocr()


@pytest.fixture
async def wall_no_ocr(wall: App) -> App:
    # These tests are about storing and showing posts; reading screenshots has its own tests.
    wall.memorial.ocr = None
    return wall


async def table_counts(app: App) -> dict[str, int]:
    counts = {}
    for table in ("memorial_posts", "memorial_images", "memorial_candles", "memorial_keepsakes"):
        row = await app.db.fetchone(f"SELECT COUNT(*) FROM {table}")
        counts[table] = int(row[0]) if row else -1
    return counts


def image_files(app: App) -> list[Path]:
    root = app.settings.data_dir / "images"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.slow
async def test_post_candle_browse_search_export_remove(
    wall: App, tmp_path: Path, i18n: I18n
) -> None:
    app = wall
    shot = tmp_path / "farewell.png"
    shot.write_bytes(zh_screenshot(PHRASE))
    admin = Console(app, tmp_path / "out-admin", "lin", admin=True)
    mei = Console(app, tmp_path / "out-mei", "mei")
    bo = Console(app, tmp_path / "out-bo", "bo")

    out = await admin.say("/setup here zh yes admins")
    assert "语言：简体中文" in out and "允许匿名发布：是" in out

    out = await mei.say(f"/farewell 小满 2026/2/13 谢谢你陪我走过最难的那一年 {shot}")
    assert "🕯 纪念 小满" in out and "2026-02-13" in out and "由 mei 分享" in out
    assert "#1 · 0 支蜡烛" in out and "/press candle:1" in out
    assert "📎" in out  # the screenshot travels with the card
    assert i18n.t("zh_Hans", "memorial.posted", id=1) in out
    # Reading the screenshot takes a second or two; a search meanwhile says so.
    out = await bo.say(f"/wall search {PHRASE}")
    assert i18n.tn("zh_Hans", "memorial.search.unread", 1, count=1) in out
    await app.memorial.wait_for_ocr()
    post = await app.memorial.repo.get(1)
    assert post is not None and post.ocr_status == "done" and PHRASE in post.ocr_text

    # Candles: one per member, the card shows the count.
    out = await bo.say("/press candle:1")
    assert "#1 · 1 支蜡烛" in out and i18n.t("zh_Hans", "memorial.candle.lit") in out
    out = await bo.say("/press candle:1")
    assert i18n.t("zh_Hans", "memorial.candle.already") in out
    out = await admin.say("/press candle:1")
    assert "#1 · 2 支蜡烛" in out

    # Browse and search (the phrase is only in the image, not in any caption).
    out = await bo.say("/wall")
    assert "#1 · 小满 · 2026-02-13" in out and "2 支蜡烛" in out
    out = await bo.say("/wall companion 小满")
    assert "#1 · 小满" in out
    out = await bo.say("/wall member mei")
    assert "#1 · 小满" in out
    out = await bo.say(f"/wall search {PHRASE}")
    assert "#1 · 小满" in out and PHRASE in out.split("截图中：", 1)[1]
    assert "正在识别" not in out
    out = await bo.say("/wall search 灯塔")  # two characters: the LIKE path
    assert "#1 · 小满" in out
    out = await bo.say("/wall search 不存在的句子")
    assert i18n.t("zh_Hans", "memorial.wall.empty") in out

    # Export: admins get the whole wall; the gallery page carries the screenshot's words.
    out = await admin.say("/wall export")
    assert "共 1 次告别" in out
    (zip_path,) = (tmp_path / "out-admin").glob("*.zip")
    with zipfile.ZipFile(zip_path) as archive:
        (index,) = [n for n in archive.namelist() if n.endswith("index.html")]
        page = archive.read(index).decode()
        assert PHRASE in page and "2 支蜡烛" in page and "小满" in page
        assert any("/images/" in n for n in archive.namelist())
    out = await bo.say("/wall export")  # bo posted nothing
    assert i18n.t("zh_Hans", "memorial.export.empty") in out

    # Removal: not by another member; by the poster after confirming; files leave the disk.
    out = await bo.say("/wall remove 1")
    assert i18n.t("zh_Hans", "memorial.remove.not_yours") in out
    mei.answers.append("不")
    out = await mei.say("/wall remove 1")
    assert i18n.t("zh_Hans", "memorial.remove.kept", id=1) in out
    assert len(image_files(app)) == 2  # image + thumbnail
    mei.answers.append("是")
    out = await mei.say("/wall remove 1")
    assert i18n.t("zh_Hans", "memorial.remove.done", id=1) in out
    assert image_files(app) == []
    assert (await table_counts(app))["memorial_posts"] == 0
    out = await bo.say(f"/wall search {PHRASE}")
    assert i18n.t("zh_Hans", "memorial.wall.empty") in out


async def test_same_screenshot_in_two_posts_is_stored_once_and_kept_until_both_go(
    wall_no_ocr: App, tmp_path: Path
) -> None:
    app = wall_no_ocr
    shot = tmp_path / "same.png"
    shot.write_bytes(small_png((90, 120, 200), (300, 500)))
    admin = Console(app, tmp_path / "o", "root", admin=True)
    ann = Console(app, tmp_path / "o", "ann")
    await ann.say(f"/farewell Sol {shot}")
    await admin.say(f"/farewell Sol {shot}")
    assert len(image_files(app)) == 2
    admin.answers.append("yes")
    await admin.say("/wall remove 1")  # an admin may remove ann's post under 'admins'
    assert len(image_files(app)) == 2  # post 2 still uses the file
    admin.answers.append("yes")
    await admin.say("/wall remove 2")
    assert image_files(app) == []


async def test_bad_input_gets_a_localized_answer_and_nothing_is_stored(
    wall_no_ocr: App, tmp_path: Path, i18n: I18n
) -> None:
    app = wall_no_ocr
    ann = Console(app, tmp_path / "o", "ann")
    before = await table_counts(app)
    text_file = tmp_path / "notes.png"  # the name lies; the bytes decide
    text_file.write_text("not an image")
    out = await ann.say(f"/farewell Sol {text_file}")
    assert i18n.t("zh_Hans", "images.bad_format") in out
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(truncated_jpeg())
    out = await ann.say(f"/farewell Sol {broken}")
    assert i18n.t("zh_Hans", "images.corrupt") in out
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * (11 * 1024 * 1024))
    out = await ann.say(f"/farewell Sol {big}")
    assert i18n.t("zh_Hans", "images.too_big", limit_mb=10) in out
    many = []
    for i in range(20):
        path = tmp_path / f"s{i}.png"
        path.write_bytes(small_png((i, i, i)))
        many.append(str(path))
    out = await ann.say("/farewell Sol " + " ".join(many))
    assert i18n.t("zh_Hans", "images.too_many", count=20, limit=10) in out
    out = await ann.say("/farewell Sol 只有文字")
    assert i18n.t("zh_Hans", "images.none") in out
    assert await table_counts(app) == before
    assert image_files(app) == []


async def test_group_screenshots_without_farewell_are_never_stored(
    wall_no_ocr: App, tmp_path: Path
) -> None:
    # safety-research §7 C3: a screenshot shared in a group is not kept unless someone asks.
    app = wall_no_ocr
    shot = tmp_path / "chat.png"
    shot.write_bytes(small_png())
    ann = Console(app, tmp_path / "o", "ann")
    before = await table_counts(app)
    await ann.say(f"look at this {shot}")
    await ann.say(f"@{shot}")
    assert await table_counts(app) == before
    assert image_files(app) == []


async def test_anonymous_posts_hide_the_poster_and_can_be_switched_off(
    wall_no_ocr: App, tmp_path: Path, i18n: I18n
) -> None:
    app = wall_no_ocr
    shot = tmp_path / "a.png"
    shot.write_bytes(small_png())
    admin = Console(app, tmp_path / "o", "root", admin=True)
    ann = Console(app, tmp_path / "o", "ann")
    out = await ann.say(f"/farewell 匿名 Juniper 再见 {shot}")
    # The group has no language set, so its card is in English; the poster is not named.
    assert "shared anonymously" in out and "shared by" not in out and "ann" not in out
    out = await ann.say("/wall mine")
    assert i18n.t("zh_Hans", "memorial.wall.empty") in out  # never tied to her in the group
    await admin.say("/setup here zh no")
    out = await ann.say(f"/farewell 匿名 Juniper {shot}")
    assert i18n.t("zh_Hans", "memorial.anonymous_off") in out
    members_only = Console(app, tmp_path / "o", "bo")
    out = await members_only.say("/setup here en")
    assert i18n.t("zh_Hans", "errors.admin_only") in out


async def test_the_bot_introduces_itself_once_per_group(wall_no_ocr: App) -> None:
    from bot.core.models import ChatRef
    from tests.fakes.replier import FakeReplier

    app = wall_no_ocr
    chat = ChatRef("telegram", "-100", "group", "Lanterns")
    replier = FakeReplier()
    await app.on_joined_group(chat, replier)
    await app.on_joined_group(chat, replier)
    assert replier.texts == [app.i18n.t("en", "memorial.intro")]
    await app.users.set_chat_locale("telegram", "-200", "group", "zh_Hans")
    other = FakeReplier()
    await app.on_joined_group(ChatRef("telegram", "-200", "group", "灯"), other)
    assert other.texts == [app.i18n.t("zh_Hans", "memorial.intro")]


@pytest.mark.slow
async def test_ocr_job_sweeps_orphans_and_reads_pending_posts(
    wall: App, tmp_path: Path, shared_ocr: RapidOcrEngine
) -> None:
    import asyncio

    app = wall
    orphan = await app.memorial.images.ingest(small_png((1, 2, 3)))  # a file without a post
    app.memorial.ocr = None  # posts made now stay pending: the job must pick them up
    shot = tmp_path / "s.png"
    shot.write_bytes(zh_screenshot(PHRASE))
    ann = Console(app, tmp_path / "o", "ann")
    await ann.say(f"/farewell 小满 {shot}")
    await app.memorial.wait_for_ocr()
    post = await app.memorial.repo.get(1)
    assert post is not None and post.ocr_status == "pending"
    app.memorial.ocr = shared_ocr
    stop = asyncio.Event()
    job = asyncio.create_task(app.memorial.run_ocr(stop))
    for _ in range(200):
        post = await app.memorial.repo.get(1)
        if post is not None and post.ocr_status != "pending":
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(job, 5)
    assert post is not None and post.ocr_status == "done" and PHRASE in post.ocr_text
    assert not app.memorial.images.exists(orphan.digest, orphan.ext)
    assert post.images and app.memorial.images.exists(post.images[0].digest, "png")


async def test_cards_go_to_the_wall_channel_in_the_groups_language(
    wall_no_ocr: App, tmp_path: Path, i18n: I18n
) -> None:
    app = wall_no_ocr
    shot = tmp_path / "a.png"
    shot.write_bytes(small_png())
    admin = Console(app, tmp_path / "o", "root", admin=True)
    out = await admin.say("/setup <#555> zh")
    assert "卡片发布在：555" in out
    ann = Console(app, tmp_path / "o", "ann")
    out = await ann.say(f"/farewell Sol 再见 {shot}")
    assert "[→ 555] 🕯 纪念 Sol" in out
    assert i18n.t("zh_Hans", "memorial.posted", id=1) in out  # the poster hears back here
    # A member presses the candle in the wall channel (its own chat, no language of its own).
    in_channel = Console(app, tmp_path / "o", "bo")
    in_channel.session.chat = ChatRef("console", "555", "group", "wall")
    out = await in_channel.say("/press candle:1")
    assert "✎ 🕯 纪念 Sol" in out and "1 支蜡烛" in out
