"""The memory benchmark's quick mode runs and reports every figure (so the bench cannot rot)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_memory_bench_quick_reports_all_parts() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory_bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    out = json.loads(done.stdout)
    assert out["mode"] == "quick"
    layouts = {(r["memories"], r["layout"]) for r in out["retrieval"]}
    assert layouts == {(1000, "one_person"), (1000, "500_people")}
    for row in out["retrieval"]:
        assert 0 < row["p50_ms"] <= row["p99_ms"]
    zh = out["recall"]["generated_zh"]
    assert zh["questions"] == 20 and 0 <= zh["recall@5"] <= zh["recall@10"] <= 100
    en = out["recall"]["locomo_en"]
    assert "skipped" in en or 0 <= en["recall@5"] <= en["recall@10"] <= 100
    assert out["recall"]["anchor_dense_locomo"] == {"recall@5": 56.7, "recall@10": 66.2}
    imported = out["import"]
    assert imported["import"]["exchanges"] > 0 and imported["parse"]["mb_per_s"] > 0
    assert imported["import"]["peak_rss_mb"] > 0
