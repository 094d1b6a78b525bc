"""/keep in DMs: a member keeps their own farewell (screenshot + its words) in their memories."""

from __future__ import annotations

import io
import zipfile
from collections import deque
from pathlib import Path

from bot.adapters.console import ConsoleSession
from bot.app import App
from bot.core.commands import Where
from bot.services.i18n import I18n
from bot.services.memory import MemoryService
from bot.services.ocr import RapidOcrEngine
from bot.services.persona import PersonaService
from tests.fakes.screenshots import en_screenshot

PHRASE = "Remember the lighthouse"


def console(
    app: App, tmp_path: Path, user: str, group: str | None
) -> tuple[ConsoleSession, io.StringIO, deque[str]]:
    out = io.StringIO()
    answers: deque[str] = deque()

    async def read() -> str | None:
        return answers.popleft() if answers else None

    session = ConsoleSession(
        app.router,
        app.i18n,
        user=user,
        locale="en",
        out=out,
        read_line=read,
        group=group,
        out_dir=tmp_path / "out",
    )
    return session, out, answers


async def say(session: ConsoleSession, out: io.StringIO, line: str) -> str:
    start = out.tell()
    await session.handle_line(line)
    return out.getvalue()[start:]


async def test_keep_saves_own_post_with_its_screenshot_words(
    app: App, tmp_path: Path, i18n: I18n, shared_ocr: RapidOcrEngine
) -> None:
    app.memorial.ocr = shared_ocr
    shot = tmp_path / "bye.png"
    shot.write_bytes(en_screenshot(PHRASE))
    group, gout, ganswers = console(app, tmp_path, "mei", "g1")
    dm, dout, _ = console(app, tmp_path, "mei", None)
    other, oout, _ = console(app, tmp_path, "bo", None)

    await say(group, gout, f"/farewell anonymous Juniper 2026-02-13 goodnight {shot}")
    await app.memorial.wait_for_ocr()

    listing = await say(dm, dout, "/keep")
    assert "#1 · Juniper · 2026-02-13 (anonymous)" in listing
    out = await say(dm, dout, "/keep 1")
    assert "Farewell #1 is now kept in your memories" in out
    row = await app.db.fetchone("SELECT id, body FROM memories ORDER BY id DESC LIMIT 1")
    assert row is not None and PHRASE in row[1] and "goodnight" in row[1]
    keep = await app.db.fetchone("SELECT memory_id, digest FROM memorial_keepsakes")
    assert keep is not None and keep[0] == row[0]

    # Someone else cannot keep mei's post, and /keep does not run in groups.
    out = await say(other, oout, "/keep 1")
    assert i18n.t("en", "memorial.not_found", id=1) in out
    out = await say(group, gout, "/keep 1")
    assert i18n.t("en", "errors.dm_only") in out

    # The kept screenshot stays on disk after the post leaves the wall.
    ganswers.append("yes")
    await say(group, gout, "/wall remove 1")
    assert app.memorial.images.exists(keep[1], "png")


def test_group_capable_cogs_hold_no_memory_or_persona_service(app: App) -> None:
    # safety-research §7 C1: group handlers never receive memory objects.
    for cmd in app.registry:
        if cmd.spec.where & Where.GROUP:
            held = vars(cmd.cog).values()
            assert not any(isinstance(v, MemoryService | PersonaService) for v in held), (
                cmd.spec.name
            )
    keep = app.registry.find("keep")
    assert keep is not None and keep.spec.where == Where.DM


async def test_forget_all_removes_posts_candles_keepsakes_and_files(
    app: App, tmp_path: Path
) -> None:
    app.memorial.ocr = None
    shot = tmp_path / "bye.png"
    shot.write_bytes(en_screenshot("Goodbye"))
    other = tmp_path / "other.png"
    other.write_bytes(en_screenshot("Another"))
    group, gout, _ = console(app, tmp_path, "mei", "g1")
    bo_group, bout, _ = console(app, tmp_path, "bo", "g1")
    dm, dout, answers = console(app, tmp_path, "mei", None)
    await say(group, gout, f"/farewell Juniper {shot}")
    await say(bo_group, bout, f"/farewell Sol {other}")
    await say(group, gout, "/press candle:2")
    await say(dm, dout, "/keep 1")

    export = await say(dm, dout, "/export")
    assert "📎" in export
    (archive,) = (tmp_path / "out").glob("afterglow-export-*.zip")
    with zipfile.ZipFile(archive) as z:
        body = "".join(
            z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".json")
        )
    assert '"memorial"' in body and "Juniper" in body

    answers.append("yes")
    await say(dm, dout, "/forget all")
    await app.memorial_data.wait()
    assert await app.memorial.repo.get(1) is None
    bo_post = await app.memorial.repo.get(2)
    assert bo_post is not None and bo_post.candles == 0  # mei's candle went with her
    kept = {p.stem for p in (app.settings.data_dir / "images").rglob("*.png")}
    assert kept == {bo_post.images[0].digest}
