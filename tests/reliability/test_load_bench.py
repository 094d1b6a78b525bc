"""The load benchmark's quick mode runs, injects faults, and its consistency checks hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_load_run_keeps_every_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_bench", "--quick", "--fault-rate", "0.2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["mode"] == "quick" and result["messages"] == 100
    assert sum(result["faults_injected"].values()) > 0
    load = result["after_load"]
    assert load["missing"] == 0 and load["violations"] == 0 and load["integrity"] == "ok"
    # Every turn the faults left pending is answered by the restart's recovery.
    assert result["recovery"]["answered"] == load["inbox"].get("pending", 0)
    assert result["recovery"]["inbox"] == {"answered": 100}
    assert result["recovery"]["outbox"].get("pending", 0) == 0
    assert result["latency_ms"]["p99"] >= result["latency_ms"]["p50"] > 0
