"""A sample memorial gallery built from generated screenshots, for the browser check.

    python -m tests.fakes.gallery_sample OUT_DIR [--locale zh_Hans|en]

writes OUT_DIR/<folder>/index.html (and the zip beside it) so it can be opened in a browser or
screenshotted with headless Chromium (docs/gallery-check.md).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.services.gallery import GalleryImage, GalleryPost, GalleryRequest, build_gallery
from bot.services.i18n import I18n
from bot.services.images import ImageStore
from tests.fakes.screenshots import ChatLine, en_screenshot, render_chat, zh_screenshot


@dataclass
class BoundI18n:
    """`t`/`tn` of one language, the shape the gallery wants."""

    i18n: I18n
    locale: str

    def t(self, key: str, **params: Any) -> str:
        return self.i18n.t(self.locale, key, **params)

    def tn(self, key: str, n: int, **params: Any) -> str:
        return self.i18n.tn(self.locale, key, n, **params)


async def sample_posts(store: ImageStore) -> list[GalleryPost]:
    """Four farewells (zh and en, one anonymous, one with two screenshots)."""
    zh = await store.ingest(zh_screenshot("我们约好在灯塔下见面"))
    en = await store.ingest(en_screenshot("Remember the lighthouse"))
    extra = await store.ingest(
        render_chat(
            [
                ChatLine("right", "你还记得第一次聊天吗"),
                ChatLine("left", "记得。你问我星星为什么会眨眼。"),
            ],
            title="阿月",
        )
    )
    more = await store.ingest(
        render_chat(
            [
                ChatLine("right", "Write me one last poem?"),
                ChatLine(
                    "left",
                    "The lamp stays lit / long after the voice is gone / warm hands, quiet room",
                ),
            ],
            title="Sol",
        )
    )

    def img(s: Any) -> GalleryImage:
        return GalleryImage(s.digest, s.ext, s.width, s.height)

    when = datetime(2026, 2, 14, 21, 30, tzinfo=UTC)
    return [
        GalleryPost(
            4,
            when,
            (img(zh),),
            caption="谢谢你陪我走过最难的那一年。",
            companion="小满",
            date="2026-02-13",
            poster="林夕",
            candles=12,
            ocr_text="是的。谢谢你这一年的陪伴，每一个深夜我都记得。\n我们约好在灯塔下见面",
        ),
        GalleryPost(
            3,
            when,
            (img(en),),
            caption="She taught me to notice sunsets again.",
            companion="Juniper",
            date="February 13",
            poster=None,
            candles=7,
            ocr_text="It is. Thank you for every late night conversation.\nRemember the lighthouse",
        ),
        GalleryPost(
            2,
            when,
            (img(extra), img(zh)),
            caption="",
            companion="阿月",
            date="",
            poster="Mei",
            candles=1,
            ocr_text="记得。你问我星星为什么会眨眼。",
        ),
        GalleryPost(
            1,
            when,
            (img(more),),
            caption="Our last poem. <b>not bold</b> & @everyone stays literal.",
            companion="Sol",
            date="2026-02-12",
            poster="river",
            candles=0,
        ),
    ]


async def write_sample(out: Path, locale: str) -> Path:
    """Build the sample export into `out`, unpack it, and return the index.html path."""
    store = ImageStore(out / "store")
    posts = await sample_posts(store)
    i18n = I18n.load()
    request = GalleryRequest(
        title="Afterglow 余温" if locale.startswith("zh") else "Afterglow",
        locale=locale,
        posts=posts,
        exported_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    export = await build_gallery(request, store, BoundI18n(i18n, locale))
    (out / export.filename).write_bytes(export.data)
    with zipfile.ZipFile(io.BytesIO(export.data)) as archive:
        # Our own archive, just built: extracting it is safe (never do this with uploads).
        archive.extractall(out / "unpacked")
    return next((out / "unpacked").glob("*/index.html"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--locale", default="zh_Hans")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(asyncio.run(write_sample(args.out, args.locale)))


if __name__ == "__main__":
    main()
