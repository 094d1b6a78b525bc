"""One OCR engine for every cog test: building it (loading the ONNX models) costs seconds."""

from __future__ import annotations

import pytest

from bot.services.ocr import RapidOcrEngine


@pytest.fixture(scope="session")
def shared_ocr() -> RapidOcrEngine:
    return RapidOcrEngine()
