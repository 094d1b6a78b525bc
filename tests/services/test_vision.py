"""Screenshot text from a vision model over real HTTP (fake OpenAI server), with local fallback."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import pytest
from PIL import Image

from bot.core.errors import ConfigError
from bot.services.llm import LLMClient
from bot.services.llm_config import LLMConfig
from bot.services.ocr import OcrLine, OcrResult, VisionOcrEngine
from bot.services.vision import MAX_SIDE, LlmImageReader
from tests.fakes.openai_server import FakeOpenAI, Status


def png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 230, 200)).save(out, format="PNG")
    return out.getvalue()


class LocalOcr:
    name = "local"

    def __init__(self) -> None:
        self.calls = 0

    async def read(self, image: bytes) -> OcrResult:
        self.calls += 1
        return OcrResult(self.name, (OcrLine("local text", 1.0, (0, 0, 1, 1)),), 0.0)


async def test_vision_model_gets_the_screenshot_as_a_data_url_and_its_text_is_used() -> None:
    async with FakeOpenAI(reply="谢谢你的陪伴\nsee you soon", models=("eyes",)) as server:
        llm = LLMClient(LLMConfig.single(server.base_url, "eyes", vision=True))
        try:
            engine = VisionOcrEngine(LlmImageReader(llm, "eyes"), LocalOcr())
            result = await engine.read(png((3000, 1500)))
        finally:
            await llm.aclose()
        assert result.engine == "vision"
        assert result.text == "谢谢你的陪伴\nsee you soon"
        body = server.requests[-1]
        assert body["model"] == "eyes" and body["temperature"] == 0
        parts = body["messages"][-1]["content"]
        url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
        assert url.startswith("data:image/png;base64,")
        sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert max(sent.size) == MAX_SIDE  # downscaled before leaving the machine


async def test_failing_vision_model_falls_back_to_local_ocr() -> None:
    async with FakeOpenAI(models=("eyes",)) as server:
        config = replace(LLMConfig.single(server.base_url, "eyes", vision=True), max_attempts=1)
        server.script(Status(500))
        llm = LLMClient(config)
        local = LocalOcr()
        try:
            result = await VisionOcrEngine(LlmImageReader(llm, "eyes"), local).read(png((40, 40)))
        finally:
            await llm.aclose()
        assert result.engine == "local" and local.calls == 1


def test_only_models_marked_vision_are_accepted() -> None:
    llm = LLMClient(LLMConfig.single("http://127.0.0.1:9/v1", "text-only"))
    with pytest.raises(ConfigError):
        LlmImageReader(llm, "text-only")
    with pytest.raises(ConfigError):
        LlmImageReader(llm, "missing")
