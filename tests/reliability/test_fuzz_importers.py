"""Bounded fuzzing of the image importer (letters, ChatGPT exports and cards are fuzzed in
`tests/services/imports/test_import_fuzz.py`): mutated or random image bytes either become a clean,
re-encoded image or raise the documented `images.*` UserError — never anything else."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.core.errors import UserError
from bot.services.images import ImageLimits, clean_image

FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
LIMITS = ImageLimits()
DOCUMENTED = {"images.too_big", "images.bad_format", "images.too_many_pixels", "images.corrupt"}


def _sample(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((48, 32), 40).convert("RGB").save(out, format=fmt)
    return out.getvalue()


SEEDS = [_sample("PNG"), _sample("JPEG"), _sample("WEBP")]


def _check(data: bytes) -> None:
    try:
        image = clean_image(data, LIMITS)
    except UserError as err:
        assert err.key in DOCUMENTED, err.key
        return
    # Whatever got through is a real, re-encoded image of an allowed format.
    with Image.open(io.BytesIO(image.data)) as reopened:
        assert reopened.format in {"PNG", "JPEG", "WEBP"}


@FUZZ
@given(
    seed=st.sampled_from(SEEDS),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=12),
    cut=st.integers(0, 10_000),
)
def test_mutated_images_parse_or_fail_cleanly(
    seed: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(seed)
    for at, value in flips:
        data[at % len(data)] = value
    _check(bytes(data[: max(1, len(data) - cut % len(data))]))


@FUZZ
@given(
    head=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBP", b""]),
    body=st.binary(max_size=2048),
)
def test_random_bytes_behind_image_magic_fail_cleanly(head: bytes, body: bytes) -> None:
    _check(head + body)
