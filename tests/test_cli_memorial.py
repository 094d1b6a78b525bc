"""`afterglow chat --group` posts a farewell; `afterglow memorial export|ocr` work from a shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fakes.screenshots import en_screenshot


def run_cli(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AFTERGLOW_", "DISCORD_", "TELEGRAM_"))
    }
    env["AFTERGLOW_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=180,
    )


@pytest.mark.slow
def test_post_from_console_then_export_and_ocr_from_the_shell(tmp_path: Path) -> None:
    shot = tmp_path / "bye.png"
    shot.write_bytes(en_screenshot("Remember the lighthouse"))
    # The operator switch: no background OCR here (the `memorial ocr` step below reads it).
    (tmp_path / "afterglow.toml").write_text("[memorial]\nocr = false\n")
    chat = run_cli(
        ["chat", "--user", "ann", "--group", "g1"], tmp_path, f"/farewell Juniper {shot}\n"
    )
    assert chat.returncode == 0, chat.stderr
    assert "In memory of Juniper" in chat.stdout
    out = tmp_path / "wall.zip"
    proc = run_cli(
        ["memorial", "export", "--platform", "console", "--chat", "g1", "--out", str(out)],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["posts"] == 1
    with zipfile.ZipFile(out) as archive:
        assert any(n.endswith("index.html") for n in archive.namelist())
    missing = run_cli(
        ["memorial", "export", "--platform", "console", "--chat", "nope", "--out", str(out)],
        tmp_path,
    )
    assert missing.returncode == 1 and "no memorial wall" in missing.stderr
    ocr = run_cli(["memorial", "ocr", str(shot), "--json"], tmp_path)
    assert ocr.returncode == 0, ocr.stderr
    lines = [x["text"] for x in json.loads(ocr.stdout)["lines"]]
    assert "Remember the lighthouse" in lines
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    refused = run_cli(["memorial", "ocr", str(bad)], tmp_path)
    assert refused.returncode == 1 and "images.bad_format" in refused.stderr
