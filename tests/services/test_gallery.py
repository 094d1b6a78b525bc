"""The exported gallery: zip layout, manifest, escaping, offline-only page, size budget, a browser."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from bot.services.gallery import SCHEMA, GalleryRequest, build_gallery
from bot.services.i18n import I18n
from bot.services.images import ImageStore
from tests.fakes.gallery_sample import BoundI18n, sample_posts, write_sample

EXPORTED = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def i18n() -> I18n:
    return I18n.load()


async def export(tmp_path: Path, i18n: I18n, locale: str, **kw: object) -> zipfile.ZipFile:
    store = ImageStore(tmp_path / "store")
    posts = await sample_posts(store)
    request = GalleryRequest(
        title="余温 Afterglow",
        locale=locale,
        posts=posts,
        exported_at=EXPORTED,
        **kw,  # type: ignore[arg-type]
    )
    result = await build_gallery(request, store, BoundI18n(i18n, locale))
    assert result.filename == "afterglow-afterglow-20260301.zip"
    assert result.posts == 4
    return zipfile.ZipFile(io.BytesIO(result.data))


def read(archive: zipfile.ZipFile, suffix: str) -> bytes:
    (name,) = [n for n in archive.namelist() if n.endswith(suffix)]
    return archive.read(name)


async def test_zip_holds_page_manifest_images_and_thumbnails(tmp_path: Path, i18n: I18n) -> None:
    archive = await export(tmp_path, i18n, "zh_Hans")
    names = archive.namelist()
    assert all(n.startswith("afterglow-afterglow-20260301/") for n in names)
    images = [n for n in names if "/images/" in n]
    thumbs = [n for n in names if "/thumbs/" in n]
    assert len(images) == len(thumbs) == 4  # 5 screenshots, one shared by two posts
    for name in thumbs:
        with Image.open(io.BytesIO(archive.read(name))) as thumb:
            assert thumb.format == "JPEG"
    manifest = json.loads(read(archive, "manifest.json"))
    assert manifest["schema"] == SCHEMA
    assert [p["id"] for p in manifest["posts"]] == [4, 3, 2, 1]
    anonymous = manifest["posts"][1]
    assert anonymous["anonymous"] is True and anonymous["poster"] is None
    assert manifest["posts"][0]["ocr_text"].endswith("我们约好在灯塔下见面")
    for post in manifest["posts"]:
        for image in post["images"]:
            assert any(n.endswith(image["file"]) for n in names)


async def test_page_is_in_the_groups_language_with_counts_and_text(
    tmp_path: Path, i18n: I18n
) -> None:
    archive = await export(tmp_path, i18n, "zh_Hans")
    page = read(archive, "index.html").decode()
    assert '<html lang="zh-Hans">' in page
    assert "余温 Afterglow 的纪念墙" in page
    assert "4 次告别" in page and "12 支蜡烛" in page and "匿名分享" in page
    assert "截图中的文字" in page and "我们约好在灯塔下见面" in page
    assert "2026年3月1日" in page
    en_page = read(await export(tmp_path / "en", i18n, "en"), "index.html").decode()
    assert "12 candles" in en_page and "1 candle<" in en_page and "shared anonymously" in en_page


async def test_user_text_is_escaped_and_page_never_reaches_the_network(
    tmp_path: Path, i18n: I18n
) -> None:
    page = read(await export(tmp_path, i18n, "en"), "index.html").decode()
    assert "<b>not bold</b>" not in page
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; @everyone" in page
    assert "default-src 'none'" in page
    assert "<script" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "@import" not in page and "url(" not in page


async def test_too_large_export_keeps_thumbnails_only(tmp_path: Path, i18n: I18n) -> None:
    archive = await export(tmp_path, i18n, "en", max_bytes=120_000)
    names = archive.namelist()
    assert not [n for n in names if "/images/" in n]
    assert len([n for n in names if "/thumbs/" in n]) == 4
    page = read(archive, "index.html").decode()
    assert "keeps the smaller previews" in page
    assert 'href="images/' not in page
    manifest = json.loads(read(archive, "manifest.json"))
    assert all(img["file"] is None for p in manifest["posts"] for img in p["images"])


@pytest.mark.slow
def test_gallery_renders_in_headless_chromium(tmp_path: Path) -> None:
    # .ci/run installs chromium; the page must render with its images and Chinese text.
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium missing: apt-get install -y chromium (see docs/gallery-check.md)"
    import asyncio

    index = asyncio.run(write_sample(tmp_path, "zh_Hans"))
    shot = tmp_path / "shot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}",
        "--window-size=1280,1400",
    ]
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", index.as_uri()],
        capture_output=True,
        timeout=60,
        check=True,
    )
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", index.as_uri()],
        capture_output=True,
        timeout=60,
        check=True,
        text=True,
    ).stdout
    assert "我们约好在灯塔下见面" in dom
    with Image.open(shot) as image:
        assert image.size == (1280, 1400)
        rgb = image.convert("RGB")
        # The page background is warm paper, and the screenshots' green bubbles are visible.
        assert rgb.getpixel((5, 700)) == (247, 243, 236)
        green = sum(
            count
            for count, (r, g, b) in rgb.getcolors(1_000_000) or []
            if abs(r - 149) + abs(g - 236) + abs(b - 105) < 30
        )
        assert green > 2_000


async def test_a_wall_too_large_even_for_thumbnails_keeps_the_newest_posts(
    tmp_path: Path, i18n: I18n
) -> None:
    store = ImageStore(tmp_path / "store")
    posts = await sample_posts(store)
    request = GalleryRequest(
        title="wall", locale="en", posts=posts, exported_at=EXPORTED, max_bytes=40_000
    )
    result = await build_gallery(request, store, BoundI18n(i18n, "en"))
    assert result.thumbs_only and result.partial
    assert 1 <= result.posts < result.total == 4
    archive = zipfile.ZipFile(io.BytesIO(result.data))
    manifest = json.loads(read(archive, "manifest.json"))
    assert [p["id"] for p in manifest["posts"]] == [4, 3, 2, 1][: result.posts]
    page = read(archive, "index.html").decode()
    assert f"the newest {result.posts} of 4 farewells" in page
