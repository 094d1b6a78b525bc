"""Offline OCR of generated chat screenshots (zh + en) with the models bundled in the wheel."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bot.services.ocr import (
    OcrLine,
    OcrResult,
    OcrUnavailable,
    RapidOcrEngine,
    VisionOcrEngine,
    merge_wrapped,
)
from tests.fakes.screenshots import en_screenshot, zh_screenshot


@pytest.fixture(scope="module")
def engine() -> Iterator[RapidOcrEngine]:
    # One engine for the module: building it costs about a second.
    yield RapidOcrEngine()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("OCR tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_bundled_models_are_in_the_wheel() -> None:
    paths = RapidOcrEngine.model_paths()
    assert {p.name for p in paths.values()} == {
        "PP-OCRv6_det_small.onnx",
        "PP-OCRv6_rec_small.onnx",
        "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    }
    assert all(p.stat().st_size > 100_000 for p in paths.values())


async def test_chinese_phrase_inside_a_screenshot_is_read(
    engine: RapidOcrEngine, no_network: None
) -> None:
    result = await engine.read(zh_screenshot("我们约好在灯塔下见面"))
    assert result.engine == "rapidocr"
    assert "我们约好在灯塔下见面" in result.text
    # A bubble wrapped over two lines comes back as one searchable line.
    assert "每一个深夜我都记得" in result.text


async def test_english_phrase_inside_a_screenshot_is_read(
    engine: RapidOcrEngine, no_network: None
) -> None:
    result = await engine.read(en_screenshot("Remember the lighthouse"))
    assert "Remember the lighthouse" in result.text
    assert "Thank you for every late night conversation." in result.text


def test_wrapped_lines_join_without_space_for_cjk_and_with_space_for_latin() -> None:
    lines = [
        OcrLine("谢谢你这一年的陪伴，每一", 0.99, (100, 300, 500, 330)),
        OcrLine("个深夜我都记得。", 0.99, (100, 340, 300, 370)),
        OcrLine("Go watch the sunset for me. You", 0.99, (100, 500, 500, 530)),
        OcrLine("deserve kindness.", 0.99, (101, 540, 300, 570)),
        OcrLine("晚安", 0.99, (400, 700, 480, 730)),
    ]
    assert merge_wrapped(lines) == [
        "谢谢你这一年的陪伴，每一个深夜我都记得。",
        "Go watch the sunset for me. You deserve kindness.",
        "晚安",
    ]


class _BrokenReader:
    async def read_image_text(self, image: bytes, mime: str) -> str:
        raise TimeoutError


class _Reader:
    def __init__(self) -> None:
        self.mimes: list[str] = []

    async def read_image_text(self, image: bytes, mime: str) -> str:
        self.mimes.append(mime)
        return "第一行\n\n second line \n"


class _Fallback:
    name = "fallback"

    async def read(self, image: bytes) -> OcrResult:
        return OcrResult(self.name, (OcrLine("from fallback", 1.0, (0, 0, 1, 1)),), 0.0)


async def test_vision_engine_returns_model_text_lines() -> None:
    reader = _Reader()
    result = await VisionOcrEngine(reader).read(b"\x89PNG\r\n\x1a\nrest")
    assert result.engine == "vision"
    assert result.text == "第一行\nsecond line"
    assert reader.mimes == ["image/png"]


async def test_vision_failure_falls_back_to_local_ocr() -> None:
    result = await VisionOcrEngine(_BrokenReader(), _Fallback()).read(b"\xff\xd8\xffjpeg")
    assert result.engine == "fallback"
    assert result.text == "from fallback"


async def test_vision_failure_without_fallback_raises() -> None:
    with pytest.raises(TimeoutError):
        await VisionOcrEngine(_BrokenReader()).read(b"\xff\xd8\xffjpeg")


async def test_missing_runtime_makes_the_engine_unavailable_not_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real(name, *a),
    )
    engine = RapidOcrEngine()
    assert await engine.warm_up() is False
    with pytest.raises(OcrUnavailable):
        await engine.read(en_screenshot())
