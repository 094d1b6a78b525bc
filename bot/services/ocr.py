"""Text from chat screenshots, offline: RapidOCR (zh + en) on ONNX Runtime, or a vision model.

`OcrEngine` is what the memorial wall calls; two implementations plug in:

- `RapidOcrEngine` runs the PP-OCR det/rec/cls models that ship inside the `rapidocr` wheel
  (platform-notes §8). Model paths are pinned to the wheel's files, so nothing is ever downloaded;
  if a file is missing the engine reports itself unavailable instead. One engine is built lazily
  in a worker thread and calls are serialized (the ONNX sessions are not meant for parallel use).
- `VisionOcrEngine` asks a configured model that accepts images (operator-enabled) through the
  `ImageReader` protocol, and falls back to another engine when the model fails.

OCR is best effort: callers treat `OcrUnavailable` and any failure as "no text yet"; a post never
waits on it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

log = logging.getLogger(__name__)

#: The models bundled in the rapidocr 3.x wheel (det, rec, cls), relative to the package.
_BUNDLED_MODELS: Final = {
    "Det.model_path": "models/PP-OCRv6_det_small.onnx",
    "Rec.model_path": "models/PP-OCRv6_rec_small.onnx",
    "Cls.model_path": "models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}


class OcrUnavailable(Exception):
    """The engine cannot run here (package or model file missing, runtime not installed)."""


@dataclass(frozen=True, slots=True)
class OcrLine:
    """One recognised line: its text, confidence and box (left, top, right, bottom) in pixels."""

    text: str
    score: float
    box: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class OcrResult:
    """Everything one engine read from one image."""

    engine: str
    lines: tuple[OcrLine, ...]
    seconds: float

    @property
    def text(self) -> str:
        """The text top to bottom, one chat bubble (wrapped lines joined) per line."""
        return "\n".join(merge_wrapped(self.lines))


def merge_wrapped(lines: Sequence[OcrLine]) -> list[str]:
    """Join lines that a bubble wrapped, so a phrase broken across lines is still searchable.

    Two lines belong together when the second starts at the same left edge just below the first.
    CJK text joins without a space, Latin text with one.
    """
    paragraphs: list[str] = []
    previous: OcrLine | None = None
    for line in lines:
        if previous is not None and paragraphs and _continues(previous, line):
            glue = "" if _is_cjk(paragraphs[-1][-1]) or _is_cjk(line.text[0]) else " "
            paragraphs[-1] += glue + line.text
        else:
            paragraphs.append(line.text)
        previous = line
    return paragraphs


def _continues(upper: OcrLine, lower: OcrLine) -> bool:
    height = upper.box[3] - upper.box[1]
    if height <= 0:
        return False  # no geometry (a vision model's lines): keep them as given
    same_left = abs(upper.box[0] - lower.box[0]) <= max(8, height // 3)
    gap = lower.box[1] - upper.box[3]
    return same_left and -height // 4 <= gap <= height * 0.8


def _is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\uffef"


class OcrEngine(Protocol):
    """Reads the text in one image (PNG or JPEG bytes)."""

    name: str

    async def read(self, image: bytes) -> OcrResult:
        """Extract text; raises `OcrUnavailable` or another exception on failure."""
        ...


class ImageReader(Protocol):
    """A model that accepts images (the LLM service implements this when configured)."""

    async def read_image_text(self, image: bytes, mime: str) -> str:
        """Return the text visible in the image, line by line."""
        ...


@dataclass(frozen=True, slots=True)
class RapidOcrSettings:
    """Tuning for RapidOCR; thread counts stay small because the host is shared."""

    min_score: float = 0.5
    threads: int = 1
    max_side: int = 2000


class RapidOcrEngine:
    """RapidOCR with the wheel's bundled PP-OCR models, in one worker thread at a time."""

    name = "rapidocr"

    def __init__(self, settings: RapidOcrSettings | None = None) -> None:
        self.settings = settings or RapidOcrSettings()
        self._engine: Any = None
        self._init_error: OcrUnavailable | None = None
        # One lock for construction and calls: ONNX sessions are used by one caller at a time.
        self._lock = threading.Lock()

    @staticmethod
    def model_paths() -> dict[str, Path]:
        """Absolute paths of the bundled model files (raises `OcrUnavailable` if absent)."""
        spec = importlib.util.find_spec("rapidocr")
        if spec is None or not spec.submodule_search_locations:
            raise OcrUnavailable("rapidocr is not installed")
        root = Path(next(iter(spec.submodule_search_locations)))
        paths = {key: root / rel for key, rel in _BUNDLED_MODELS.items()}
        missing = [str(p.name) for p in paths.values() if not p.is_file()]
        if missing:
            raise OcrUnavailable(f"bundled model missing: {', '.join(missing)}")
        return paths

    def _build(self) -> Any:
        if importlib.util.find_spec("onnxruntime") is None:
            raise OcrUnavailable("onnxruntime is not installed")
        paths = self.model_paths()
        from rapidocr import RapidOCR  # heavy import (cv2, onnxruntime): only when first used

        threads = self.settings.threads
        params: dict[str, Any] = {key: str(path) for key, path in paths.items()}
        params.update(
            {
                "Global.log_level": "error",
                "Global.text_score": self.settings.min_score,
                "Global.max_side_len": self.settings.max_side,
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        return RapidOCR(params=params)

    def _ensure(self) -> Any:
        if self._engine is None:
            if self._init_error is not None:
                raise self._init_error
            try:
                self._engine = self._build()
            except OcrUnavailable as exc:
                self._init_error = exc
                raise
            except Exception as exc:  # a broken install must not be retried per image
                self._init_error = OcrUnavailable(type(exc).__name__)
                raise self._init_error from exc
        return self._engine

    def _read_blocking(self, image: bytes) -> OcrResult:
        start = time.perf_counter()
        with self._lock:
            engine = self._ensure()
            output = engine(_to_rgb_array(image))
        lines = _lines_from(output, self.settings.min_score)
        return OcrResult(self.name, lines, time.perf_counter() - start)

    async def read(self, image: bytes) -> OcrResult:
        """Extract text lines from PNG/JPEG bytes in a worker thread."""
        return await asyncio.to_thread(self._read_blocking, image)

    async def warm_up(self) -> bool:
        """Build the engine now (e.g. at start-up); False when OCR is unavailable here."""
        try:
            await asyncio.to_thread(self._warm_blocking)
        except OcrUnavailable as exc:
            log.warning("OCR unavailable: %s", exc)
            return False
        return True

    def _warm_blocking(self) -> None:
        with self._lock:
            self._ensure()


def _to_rgb_array(image: bytes) -> Any:
    """Decode to an RGB array ourselves, so RapidOCR never parses upload bytes on its own."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(image), formats=["PNG", "JPEG"]) as source:
        rgb = source.convert("RGB")
    # RapidOCR follows OpenCV and expects BGR channel order for arrays.
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


def _lines_from(output: Any, min_score: float) -> tuple[OcrLine, ...]:
    texts: Sequence[str] = getattr(output, "txts", None) or ()
    scores: Sequence[float] = getattr(output, "scores", None) or ()
    boxes = getattr(output, "boxes", None)
    lines: list[OcrLine] = []
    for index, text in enumerate(texts):
        score = float(scores[index]) if index < len(scores) else 0.0
        if not text.strip() or score < min_score:
            continue
        lines.append(OcrLine(text.strip(), score, _bbox(boxes, index)))
    # Reading order: top to bottom, then left to right.
    lines.sort(key=lambda line: (line.box[1], line.box[0]))
    return tuple(lines)


def _bbox(boxes: Any, index: int) -> tuple[int, int, int, int]:
    if boxes is None or index >= len(boxes):
        return (0, 0, 0, 0)
    points = boxes[index]
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys)))


class VisionOcrEngine:
    """Text from a vision-capable model, falling back to `fallback` when the model fails."""

    name = "vision"

    def __init__(self, reader: ImageReader, fallback: OcrEngine | None = None) -> None:
        self._reader = reader
        self._fallback = fallback

    async def read(self, image: bytes) -> OcrResult:
        """Ask the model; on any failure use the fallback engine (or re-raise without one)."""
        start = time.perf_counter()
        mime = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
        try:
            text = await self._reader.read_image_text(image, mime)
        except Exception as exc:
            if self._fallback is None:
                raise
            log.warning("vision OCR failed (%s); using %s", type(exc).__name__, self._fallback.name)
            return await self._fallback.read(image)
        lines = tuple(
            OcrLine(line.strip(), 1.0, (0, 0, 0, 0)) for line in text.splitlines() if line.strip()
        )
        return OcrResult(self.name, lines, time.perf_counter() - start)
