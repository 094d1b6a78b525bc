"""Image intake: allow-list, pixel limits, truncation, metadata stripping, dedupe, all-or-nothing."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.core.errors import UserError
from bot.services.images import ImageLimits, ImageStore, clean_image
from tests.fakes.bad_images import photo_with_gps, png_bomb, small_png, truncated_jpeg
from tests.fakes.screenshots import zh_screenshot


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


async def test_screenshot_is_stored_by_hash_with_thumbnail(store: ImageStore) -> None:
    shot = zh_screenshot()
    stored = await store.ingest(shot)
    assert stored.ext == "png"
    path = store.path(stored.digest, "png")
    assert path == store.root / stored.digest[:2] / f"{stored.digest}.png"
    assert path.is_file()
    with Image.open(store.thumb_path(stored.digest)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.width <= 480 and thumb.height <= 720
    with Image.open(path) as full:
        assert full.size == (stored.width, stored.height) == Image.open(io.BytesIO(shot)).size


async def test_same_screenshot_twice_is_stored_once(store: ImageStore) -> None:
    shot = zh_screenshot()
    first = await store.ingest(shot)
    second = await store.ingest(shot)
    batch = await store.ingest_many([shot, shot, small_png()])
    assert first.digest == second.digest == batch[0].digest
    assert len(batch) == 2
    assert len([p for p in files_under(store.root) if p.suffix == ".png"]) == 2


async def test_gps_and_camera_exif_are_gone_after_reencode(store: ImageStore) -> None:
    for fmt in ("JPEG", "PNG", "WEBP"):
        original = photo_with_gps(fmt)
        with Image.open(io.BytesIO(original)) as src:
            assert src.getexif().get_ifd(0x8825), "fixture must carry GPS"
        stored = await store.ingest(original)
        data = store.path(stored.digest, stored.ext).read_bytes()
        assert b"CanonCanary" not in data
        with Image.open(io.BytesIO(data)) as out:
            assert not out.getexif().get_ifd(0x8825)
            assert 0x010F not in out.getexif()
            assert "exif" not in out.info and "icc_profile" not in out.info


async def test_exif_orientation_is_applied_before_stripping(store: ImageStore) -> None:
    stored = await store.ingest(photo_with_gps("JPEG", orientation=6))
    assert (stored.width, stored.height) == (60, 120)


@pytest.mark.parametrize(
    ("blob", "key"),
    [
        (b"hello, this is not an image", "images.bad_format"),
        (b"GIF89a" + b"\x00" * 100, "images.bad_format"),
        (b"%PDF-1.7\n", "images.bad_format"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, "images.corrupt"),
        (truncated_jpeg(), "images.corrupt"),
    ],
)
async def test_bad_files_get_a_clear_error_and_nothing_is_stored(
    store: ImageStore, blob: bytes, key: str
) -> None:
    with pytest.raises(UserError) as err:
        await store.ingest(blob)
    assert err.value.key == key
    assert files_under(store.root) == []


async def test_oversized_file_is_refused_before_decoding(store: ImageStore) -> None:
    # PNG magic followed by junk: decoding would say "corrupt", so "too_big" proves no decode ran.
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (11 * 1024 * 1024)
    with pytest.raises(UserError) as err:
        await store.ingest(big)
    assert err.value.key == "images.too_big"
    assert err.value.params == {"limit_mb": 10}
    assert files_under(store.root) == []


async def test_png_bomb_is_rejected_from_its_header(store: ImageStore) -> None:
    with pytest.raises(UserError) as err:
        await store.ingest(png_bomb())
    assert err.value.key == "images.too_many_pixels"
    assert err.value.params == {"limit_mp": 40}
    assert files_under(store.root) == []


def test_png_bomb_rejection_stays_under_200_mb_rss() -> None:
    # A fresh interpreter, so the figure is the bomb's cost and not the test session's. VmHWM is
    # the new process's own peak (ru_maxrss would carry the forking parent's peak over exec).
    script = (
        "import re\n"
        "from bot.core.errors import UserError\n"
        "from bot.services.images import ImageLimits, clean_image\n"
        "from tests.fakes.bad_images import png_bomb\n"
        "try:\n"
        "    clean_image(png_bomb(), ImageLimits())\n"
        "except UserError as e:\n"
        "    status = open('/proc/self/status').read()\n"
        "    print(e.key, re.search(r'VmHWM:\\s+(\\d+)', status).group(1))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out[0] == "images.too_many_pixels"
    assert int(out[1]) < 200 * 1024  # kB


def test_pillow_decompression_bomb_warning_is_an_error() -> None:
    # With our own cap lifted above Pillow's (89 MP), Pillow's warning must still stop the decode.
    limits = ImageLimits(max_pixels=10**10, max_side=10**6)
    with pytest.raises(UserError) as err:
        clean_image(png_bomb(12_000), limits)  # 144 MP: past Pillow's warning threshold
    assert err.value.key == "images.too_many_pixels"


async def test_twenty_images_at_once_are_refused_whole(store: ImageStore) -> None:
    blobs = [small_png((i, i, i)) for i in range(20)]
    with pytest.raises(UserError) as err:
        await store.ingest_many(blobs)
    assert err.value.key == "images.too_many"
    assert err.value.params == {"limit": 10, "count": 20}
    assert files_under(store.root) == []


async def test_one_bad_image_in_a_batch_stores_none(store: ImageStore) -> None:
    with pytest.raises(UserError) as err:
        await store.ingest_many([small_png(), zh_screenshot(), truncated_jpeg()])
    assert err.value.key == "images.corrupt"
    assert files_under(store.root) == []


async def test_empty_batch_asks_for_a_screenshot(store: ImageStore) -> None:
    with pytest.raises(UserError) as err:
        await store.ingest_many([])
    assert err.value.key == "images.none"


async def test_delete_removes_image_and_thumbnail(store: ImageStore) -> None:
    stored = await store.ingest(small_png())
    assert await store.delete([(stored.digest, stored.ext)]) == 1
    assert files_under(store.root) == []
    assert await store.delete([(stored.digest, stored.ext)]) == 0


def test_paths_are_built_only_from_digests(store: ImageStore) -> None:
    with pytest.raises(ValueError):
        store.path("../../etc/passwd", "png")
    with pytest.raises(ValueError):
        store.path("a" * 64, "exe")


async def test_long_scrolling_screenshot_gets_a_readable_preview_of_its_top(
    store: ImageStore,
) -> None:
    from tests.fakes.screenshots import ZH_FAREWELL, ChatLine, render_chat

    lines = [ChatLine(b.side, b.text) for _ in range(6) for b in ZH_FAREWELL]
    stored = await store.ingest(render_chat(lines))
    assert stored.height > 3 * stored.width
    with Image.open(store.thumb_path(stored.digest)) as thumb:
        assert thumb.size == (480, 720)  # full width kept, top part shown
    normal = await store.ingest(zh_screenshot())
    with Image.open(store.thumb_path(normal.digest)) as thumb:
        # An ordinary screenshot is shown whole, scaled into the box.
        assert thumb.width <= 480 and thumb.height <= 720
        assert abs(thumb.height / thumb.width - normal.height / normal.width) < 0.01
