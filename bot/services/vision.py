"""Screenshot text from a vision-capable model (the operator's opt-in alternative to RapidOCR).

`LlmImageReader` implements `bot.services.ocr.ImageReader` with an OpenAI-compatible chat call
whose user message carries the screenshot as a data URL (platform-notes §8). Only models marked
`vision = true` in the configuration are accepted, and only when the operator sets
`[memorial] vision_model`; the local engine stays as the fallback (`VisionOcrEngine`).

What comes back is untrusted text from an image (safety-research §7 E1): it is stored and
searched as data, never used as an instruction.
"""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any, Final

from PIL import Image

from bot.core.errors import ConfigError
from bot.services.llm import LLMClient

#: platform-notes §8: downscale to at most 2048 px on the long side before sending.
MAX_SIDE: Final = 2048

PROMPT: Final = (
    "Transcribe every piece of text visible in this chat screenshot, top to bottom, one chat "
    "bubble per line, exactly as written (keep Chinese as Chinese). Output only the text."
)


class LlmImageReader:
    """Reads screenshot text with one configured vision model (no fallback to other models)."""

    def __init__(self, llm: LLMClient, model: str) -> None:
        found = llm.config.find(model)
        if found is None or not found.vision:
            raise ConfigError(f"[memorial] vision_model {model!r} is not a configured vision model")
        self.llm = llm
        self.model = found.ref

    async def read_image_text(self, image: bytes, mime: str) -> str:
        """Send the (downscaled) screenshot and return the model's transcription."""
        data, mime = await asyncio.to_thread(_downscale, image, mime)
        url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        messages: list[dict[str, Any]] = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": PROMPT},
                    {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
                ],
            }
        ]
        completion = await self.llm.complete(messages, self.model, fallback=False, temperature=0)
        return completion.text


def _downscale(image: bytes, mime: str) -> tuple[bytes, str]:
    with Image.open(io.BytesIO(image), formats=["PNG", "JPEG"]) as source:
        if max(source.size) <= MAX_SIDE:
            return image, mime
        copy = source.convert("RGB")
    copy.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, format="PNG")
    return out.getvalue(), "image/png"
