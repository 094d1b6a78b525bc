"""The companion benchmark's quick mode runs end to end and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_mode_reports_overhead_concurrency_and_cost() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.companion_bench", "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    overhead = report["overhead"]
    for key in ("arrival_to_request_ms", "last_byte_to_stored_ms"):
        assert 0 < overhead[key]["p50"] <= overhead[key]["p99"]
    assert overhead["letter_chunks"] > 0  # the letter went through the memory service
    conc = report["concurrency"]
    for layer in ("streaming_layer", "full_chat_path"):
        assert conc[layer]["complete_replies"] == conc["conversations"]
        assert conc[layer]["wall_s"] >= conc["stream_seconds"]
    cost = report["cost"]
    assert 0 < cost["ours_per_turn"] < cost["pasting_per_turn"]
    assert cost["ratio"] == round(cost["ours_total"] / cost["pasting_total"], 3)
