"""The memorial service on a real SQLite file: isolation between groups, permissions, search
paths, OCR failure handling, and how positional `/farewell` text is understood."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.errors import NotFound, PermissionDenied, RateLimited, UserError
from bot.core.models import Attachment, ChatRef, UserRef
from bot.services.i18n import I18n
from bot.services.images import ImageStore
from bot.services.memorial import (
    FarewellText,
    MemorialLimits,
    MemorialService,
    interpret_farewell_text,
)
from bot.services.ocr import OcrResult, OcrUnavailable
from bot.services.storage import Database
from bot.services.storage.memorial import MemorialRepo
from bot.services.storage.users import Users
from tests.fakes.bad_images import small_png

G1 = ChatRef("telegram", "-1", "group", "Lanterns")
G2 = ChatRef("telegram", "-2", "group", "Other")
ANN = UserRef("telegram", "1", "Ann")
BO = UserRef("telegram", "2", "Bo")


def attachment(data: bytes) -> Attachment:
    async def fetch(max_bytes: int) -> bytes:
        return data

    return Attachment("x.png", len(data), "image/png", fetch)


class BrokenOcr:
    name = "broken"

    async def read(self, image: bytes) -> OcrResult:
        raise RuntimeError("model crashed")


class MissingOcr:
    name = "missing"

    async def read(self, image: bytes) -> OcrResult:
        raise OcrUnavailable("onnxruntime is not installed")


@pytest.fixture
async def service(tmp_path: Path, i18n: I18n) -> AsyncIterator[MemorialService]:
    async with Database(tmp_path / "db.sqlite3") as db:
        yield MemorialService(
            MemorialRepo(db),
            Users(db),
            ImageStore(tmp_path / "images"),
            i18n,
            None,
            limits=MemorialLimits(posts_per_day=3),
        )


async def post(
    service: MemorialService, chat: ChatRef, user: UserRef, caption: str, colour: int = 1
) -> int:
    text = FarewellText("小满", "", caption, False)
    stored = await service.farewell(chat, user, [attachment(small_png((colour, 0, 0)))], text)
    return stored.id


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("小满", "2026/2/13", "谢谢你", None),
            FarewellText("小满", "2026-02-13", "谢谢你", False),
        ),
        (
            ("小满", "谢谢你的陪伴", "晚安", None),
            FarewellText("小满", "", "谢谢你的陪伴 晚安", False),
        ),
        (
            ("匿名", "小满", "2026年2月13日 再见", None),
            FarewellText("小满", "2026-02-13", "再见", True),
        ),
        (("anonymous", "Sol", None, None), FarewellText("Sol", "", "", True)),
        (("Sol", "February 13", "bye", True), FarewellText("Sol", "February 13", "bye", True)),
        ((None, None, None, None), FarewellText("", "", "", False)),
    ],
)
def test_positional_farewell_text_is_understood(
    args: tuple[str | None, str | None, str | None, bool | None], expected: FarewellText
) -> None:
    assert interpret_farewell_text(*args) == expected


async def test_groups_never_see_each_others_posts(service: MemorialService) -> None:
    mine = await post(service, G1, ANN, "lighthouse at dusk")
    await post(service, G2, BO, "lighthouse at dawn", colour=2)
    assert [p.id for p in await service.search(G1, "lighthouse")] == [mine]
    assert [p.id for p in await service.browse(G1, ANN, "newest")] == [mine]
    with pytest.raises(NotFound):
        await service.post_in_group(G2, mine)
    with pytest.raises(NotFound):
        await service.check_removal(G2, BO, mine, is_admin=True)


async def test_short_queries_use_like_and_escape_wildcards(service: MemorialService) -> None:
    hit = await post(service, G1, ANN, "100% 火锅")
    await post(service, G1, ANN, "nothing here", colour=2)
    assert [p.id for p in await service.search(G1, "火锅")] == [hit]
    assert [p.id for p in await service.search(G1, "%")] == [hit]
    assert await service.search(G1, "_") == []
    with pytest.raises(UserError):
        await service.search(G1, "   ")


async def test_fts_query_syntax_in_user_text_is_literal(service: MemorialService) -> None:
    hit = await post(service, G1, ANN, 'she said "AND OR NOT" (twice)')
    assert [p.id for p in await service.search(G1, '"AND OR NOT"')] == [hit]
    assert [p.id for p in await service.search(G1, "(twice)")] == [hit]


async def test_removal_follows_the_groups_policy(service: MemorialService) -> None:
    pid = await post(service, G1, ANN, "bye")
    with pytest.raises(PermissionDenied):
        await service.check_removal(G1, BO, pid, is_admin=False)
    assert (await service.check_removal(G1, BO, pid, is_admin=True)).id == pid
    await service.configure(G1, removal="posters")
    with pytest.raises(PermissionDenied):
        await service.check_removal(G1, BO, pid, is_admin=True)
    assert (await service.check_removal(G1, ANN, pid, is_admin=False)).id == pid


async def test_one_candle_per_person_and_only_on_the_same_platform(
    service: MemorialService,
) -> None:
    pid = await post(service, G1, ANN, "bye")
    assert (await service.light_candle(G1, BO, pid))[1].candles == 1
    lit, again = await service.light_candle(G1, BO, pid)
    assert not lit and again.candles == 1
    assert (await service.light_candle(G1, ANN, pid))[1].candles == 2
    with pytest.raises(NotFound):
        await service.light_candle(ChatRef("discord", "-1", "group"), BO, pid)


async def test_daily_limit_per_person(service: MemorialService) -> None:
    for i in range(3):
        await post(service, G1, ANN, f"post {i}", colour=i)
    with pytest.raises(RateLimited) as err:
        await post(service, G1, ANN, "one more", colour=9)
    assert err.value.key == "memorial.too_many_today"
    await post(service, G1, BO, "bo is fine", colour=9)


async def test_oversized_declared_attachment_is_never_downloaded(service: MemorialService) -> None:
    fetched: list[int] = []

    async def fetch(max_bytes: int) -> bytes:
        fetched.append(max_bytes)
        return b""

    huge = Attachment("big.png", 50 * 1024 * 1024, "image/png", fetch)
    with pytest.raises(UserError) as err:
        await service.farewell(G1, ANN, [huge], FarewellText("", "", "", False))
    assert err.value.key == "images.too_big" and fetched == []


async def test_too_long_caption_is_refused_before_anything_is_stored(
    service: MemorialService,
) -> None:
    text = FarewellText("小满", "", "字" * 1001, False)
    with pytest.raises(UserError) as err:
        await service.farewell(G1, ANN, [attachment(small_png())], text)
    assert err.value.key == "memorial.too_long.caption"
    assert await service.repo.referenced_digests() == set()
    assert not service.images.root.exists()


@pytest.mark.parametrize(
    ("engine", "status"), [(BrokenOcr(), "failed"), (MissingOcr(), "unavailable")]
)
async def test_ocr_failure_never_touches_the_post(
    service: MemorialService, engine: object, status: str
) -> None:
    service.ocr = engine  # type: ignore[assignment]
    pid = await post(service, G1, ANN, "still here")
    await service.wait_for_ocr()
    stored = await service.repo.get(pid)
    assert stored is not None and stored.ocr_status == status and stored.ocr_text == ""
    assert [p.id for p in await service.search(G1, "still here")] == [pid]


async def test_removing_while_the_same_screenshot_is_posted_keeps_the_file(
    service: MemorialService,
) -> None:
    import asyncio

    shot = small_png((7, 7, 7), (200, 300))
    first = await service.farewell(G1, ANN, [attachment(shot)], FarewellText("", "", "", False))
    _, second = await asyncio.gather(
        service.remove(first),
        service.farewell(G1, BO, [attachment(shot)], FarewellText("", "", "again", False)),
    )
    ref = second.images[0]
    assert await service.repo.get(first.id) is None
    assert service.images.exists(ref.digest, ref.ext)
    assert service.images.thumb_path(ref.digest).is_file()
