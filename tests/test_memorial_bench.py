"""The memorial benchmark's quick mode runs and prints the figures the README quotes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "memorial_bench.py"


@pytest.mark.slow
def test_quick_mode_reports_ocr_store_and_search() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["ocr"]["ready"] is True
    for lang in ("zh", "en"):
        assert report["ocr"][lang]["mean_s"] > 0
        read, total = report["ocr"][lang]["bubbles_read_exactly"].split("/")
        assert int(read) >= int(total) - 1
    assert report["store"]["unique"]["image_files"] == report["store"]["posts"]
    assert report["store"]["same_image"]["image_files"] == 1
    for kind in ("zh_phrase", "zh_two_chars", "en_word"):
        assert report["search"][kind]["with_results"] > 0
        assert report["search"][kind]["p99_ms"] > 0
