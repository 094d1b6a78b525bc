"""Backups: online and consistent while writing, verified, rotated, restored only into empty dirs."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from bot.core.errors import ConfigError
from bot.services.backup import (
    BackupConfig,
    BackupError,
    BackupScheduler,
    create_backup,
    restore_backup,
    table_counts,
)
from bot.services.i18n import I18n
from bot.services.storage.outbox import Outbox
from tests.fakes.bad_images import small_png
from tests.reliability.conftest import dm, make_settings, open_app


async def _populated(data_dir: Path, i18n: I18n) -> None:
    app = await open_app(make_settings(data_dir, None), i18n)
    try:
        for i in range(20):
            await app.users.resolve("console", f"u{i}", f"user {i}")
            await app.turns.record(dm(f"u{i}", "hello"), status="received", keep_text=True)
        images = data_dir / "images" / "ab"
        images.mkdir(parents=True)
        (images / ("ab" + "0" * 62 + ".png")).write_bytes(small_png())
    finally:
        await app.close()


async def test_backup_while_writing_then_restore_matches(tmp_path: Path, i18n: I18n) -> None:
    data_dir = tmp_path / "data"
    await _populated(data_dir, i18n)
    app = await open_app(make_settings(data_dir, None), i18n)
    box = Outbox(app.db)
    stop = asyncio.Event()

    async def keep_writing() -> int:
        n = 0
        while not stop.is_set():
            await box.add("console", "c", f"row {n}")
            n += 1
            await asyncio.sleep(0)
        return n

    try:
        writer = asyncio.create_task(keep_writing())
        await asyncio.sleep(0.05)
        info = await asyncio.to_thread(create_backup, data_dir, tmp_path / "b.tar.gz")
        stop.set()
        written = await writer
        assert written > 0 and info.images == 1
    finally:
        await app.close()
    snapshot_rows = info.tables["outbox"]
    assert 0 < snapshot_rows <= written  # a consistent point-in-time copy

    target = tmp_path / "restored"
    restored = restore_backup(tmp_path / "b.tar.gz", target)
    assert restored.tables == info.tables
    assert table_counts(target / "afterglow.sqlite3") == info.tables
    conn = sqlite3.connect(target / "afterglow.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    png = target / "images" / "ab" / ("ab" + "0" * 62 + ".png")
    assert png.read_bytes() == small_png()
    # The restored directory opens as a working data directory.
    again = await open_app(make_settings(target, None), i18n)
    try:
        assert await again.users.find("console", "u7") is not None
    finally:
        await again.close()


async def test_restore_refuses_a_non_empty_directory(tmp_path: Path, i18n: I18n) -> None:
    data_dir = tmp_path / "data"
    await _populated(data_dir, i18n)
    create_backup(data_dir, tmp_path / "b.tar.gz")
    before = sorted(p.name for p in data_dir.iterdir())
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(tmp_path / "b.tar.gz", data_dir)
    assert sorted(p.name for p in data_dir.iterdir()) == before


def _evil_archive(path: Path, name: str, *, symlink: bool = False) -> None:
    with tarfile.open(path, "w:gz") as tar:
        manifest = json.dumps({"format": 1, "files": {}, "tables": {}}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        evil = tarfile.TarInfo(name)
        if symlink:
            evil.type, evil.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(evil)
        else:
            evil.size = 3
            tar.addfile(evil, io.BytesIO(b"bad"))


@pytest.mark.parametrize(
    ("name", "symlink"),
    [("../escape.txt", False), ("/abs.txt", False), ("images/link", True), ("other.db", False)],
)
def test_restore_rejects_unsafe_archives(tmp_path: Path, name: str, symlink: bool) -> None:
    archive = tmp_path / "evil.tar.gz"
    _evil_archive(archive, name, symlink=symlink)
    target = tmp_path / "t"
    with pytest.raises(BackupError):
        restore_backup(archive, target)
    assert not (tmp_path / "escape.txt").exists()
    assert list(target.iterdir()) == []


async def test_damaged_archive_is_refused(tmp_path: Path, i18n: I18n) -> None:
    data_dir = tmp_path / "data"
    await _populated(data_dir, i18n)
    create_backup(data_dir, tmp_path / "b.tar.gz")
    # Re-pack with one image byte changed: the checksum catches it.
    with (
        tarfile.open(tmp_path / "b.tar.gz") as src,
        tarfile.open(tmp_path / "bad.tar.gz", "w:gz") as dst,
    ):
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.startswith("images/"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(BackupError, match="checksum"):
        restore_backup(tmp_path / "bad.tar.gz", tmp_path / "t")


async def test_disk_full_during_backup_leaves_no_archive(
    tmp_path: Path, i18n: I18n, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    await _populated(data_dir, i18n)
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "out" / "b.tar.gz"
    with pytest.raises(BackupError, match="No space left"):
        create_backup(data_dir, out)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert list(out.parent.iterdir()) == []


async def test_scheduled_rotation_keeps_seven_daily_and_four_weekly(
    tmp_path: Path, i18n: I18n
) -> None:
    data_dir = tmp_path / "data"
    await _populated(data_dir, i18n)
    config = BackupConfig.from_section({"schedule": True, "at": "03:30"}, data_dir)
    scheduler = BackupScheduler(config)
    start = datetime(2026, 3, 2, 3, 30, tzinfo=UTC)  # a Monday
    assert scheduler.next_run(start - timedelta(minutes=1)) == start
    assert scheduler.next_run(start) == start + timedelta(days=1)
    for day in range(40):
        await scheduler.run_once(start + timedelta(days=day))
    daily = sorted(p.name for p in (config.dir / "daily").iterdir())
    weekly = sorted(p.name for p in (config.dir / "weekly").iterdir())
    assert daily == [f"afterglow-2026-04-{d:02d}.tar.gz" for d in range(4, 11)]
    assert weekly == [f"afterglow-2026-W{w:02d}.tar.gz" for w in range(12, 16)]


def test_cli_backup_and_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], i18n: I18n
) -> None:
    data_dir = tmp_path / "data"
    asyncio.run(_populated(data_dir, i18n))
    monkeypatch.setenv("AFTERGLOW_DATA_DIR", str(data_dir))
    monkeypatch.delenv("AFTERGLOW_CONFIG", raising=False)
    assert cli_main(["backup", "--out", str(tmp_path / "x.tar.gz")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["integrity"] == "ok" and summary["images"] == 1
    assert cli_main(["restore", str(tmp_path / "x.tar.gz")]) == 1  # data dir is not empty
    assert "not empty" in capsys.readouterr().err
    monkeypatch.setenv("AFTERGLOW_DATA_DIR", str(tmp_path / "fresh"))
    assert cli_main(["restore", str(tmp_path / "x.tar.gz")]) == 0
    assert (tmp_path / "fresh" / "afterglow.sqlite3").is_file()


def test_schedule_setting_adds_the_backup_job(tmp_path: Path, i18n: I18n) -> None:
    from bot.app import App

    def owners(app: App) -> list[type]:
        return [type(getattr(job, "__self__", None)) for job in app.jobs]

    plain = App(make_settings(tmp_path / "a", None), i18n=i18n)
    assert BackupScheduler not in owners(plain)
    scheduled = App(
        make_settings(tmp_path / "b", None, {"backup": {"schedule": True, "at": "04:15"}}),
        i18n=i18n,
    )
    assert BackupScheduler in owners(scheduled)
    with pytest.raises(ConfigError, match=r"\[backup\] at"):
        App(make_settings(tmp_path / "c", None, {"backup": {"at": "25:99"}}), i18n=i18n)
