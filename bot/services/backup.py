"""Online backups of the data directory, their rotation, and restoring one into an empty directory.

A backup is a `.tar.gz` archive holding

    manifest.json        format version, time, sha256 of every file, row counts per table
    afterglow.sqlite3    a consistent copy made with SQLite's online backup API while the bot runs
    images/…             the uploaded (already re-encoded) images, by content hash

The database copy is checked with `PRAGMA integrity_check` before it is archived, and the archive
is written under a temporary name and renamed only when complete, so a failed backup (a full
disk) never leaves a file that looks like a good backup. `restore` refuses a non-empty target,
inspects every member before reading it (regular files only, no absolute or `..` paths, expected
names only, sizes capped), verifies the checksums and the database, then moves the files in.

Scheduled backups (`[backup] schedule = true`) run daily at `at` (UTC) into `dir/daily/`; the first
backup of each ISO week is also kept in `dir/weekly/`. Rotation keeps `keep_daily` daily and
`keep_weekly` weekly archives.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path, PurePosixPath
from typing import Any

from bot.core.errors import ConfigError
from bot.services.storage.db import DB_FILENAME
from bot.services.storage.snapshot import integrity_ok, snapshot_database, table_counts

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
IMAGES = "images"
# A restore reads at most this much from an archive (it is the operator's own file, but a
# damaged or wrong file must not fill the disk).
MAX_RESTORE_BYTES = 50 * 1024**3
_ARCHIVE_GLOB = "afterglow-*.tar.gz"


class BackupError(Exception):
    """A backup or restore could not be completed; the message says why (no data inside)."""


@dataclass(frozen=True, slots=True)
class BackupConfig:
    """The `[backup]` settings."""

    data_dir: Path
    dir: Path
    schedule: bool = False
    at: dtime = dtime(3, 30)
    keep_daily: int = 7
    keep_weekly: int = 4

    @classmethod
    def from_section(cls, section: Mapping[str, Any], data_dir: Path) -> BackupConfig:
        """Read `[backup]`; a bad value raises ConfigError naming it."""
        known = {"schedule", "dir", "at", "keep_daily", "keep_weekly"}
        for key in section:
            if key not in known:
                raise ConfigError(f"[backup] {key}: unknown setting (known: {sorted(known)})")
        schedule = section.get("schedule", False)
        if not isinstance(schedule, bool):
            raise ConfigError("[backup] schedule: must be true or false")
        raw_dir = section.get("dir")
        if raw_dir is not None and not isinstance(raw_dir, str):
            raise ConfigError("[backup] dir: must be a path")
        directory = Path(raw_dir).expanduser() if raw_dir else data_dir / "backups"
        at_text = section.get("at", "03:30")
        try:
            at = dtime.fromisoformat(str(at_text))
        except ValueError:
            raise ConfigError(f"[backup] at: {at_text!r} is not a time like 03:30") from None
        keep = {}
        for name, default in (("keep_daily", 7), ("keep_weekly", 4)):
            value = section.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"[backup] {name}: must be a whole number of at least 1")
            keep[name] = value
        return cls(data_dir, directory, schedule, at, keep["keep_daily"], keep["keep_weekly"])


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """What a backup or restore handled (counts and sizes only)."""

    path: Path
    bytes: int
    images: int
    tables: dict[str, int] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _image_files(data_dir: Path) -> Iterator[tuple[Path, str]]:
    root = data_dir / IMAGES
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        # Only regular files written by the image store; temp files and links are skipped.
        if path.is_symlink() or not path.is_file() or path.name.startswith("."):
            continue
        yield path, PurePosixPath(IMAGES, *path.relative_to(root).parts).as_posix()


def create_backup(data_dir: Path, out: Path) -> BackupInfo:
    """Write a verified backup archive of `data_dir` to `out` (blocking; run it in a thread)."""
    db_path = data_dir / DB_FILENAME
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path}")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with tempfile.TemporaryDirectory(prefix=".afterglow-backup-", dir=out.parent) as tmp:
            copy = Path(tmp) / DB_FILENAME
            snapshot_database(db_path, copy)
            if not integrity_ok(copy):
                raise BackupError("the database copy failed its integrity check")
            tables = table_counts(copy)
            files: dict[str, str] = {DB_FILENAME: _sha256(copy)}
            images = list(_image_files(data_dir))
            for path, arcname in images:
                files[arcname] = _sha256(path)
            manifest = {
                "format": FORMAT,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "files": files,
                "tables": tables,
            }
            with tarfile.open(partial, "w:gz") as tar:
                data = json.dumps(manifest, indent=1, sort_keys=True).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime = len(data), int(time.time())
                tar.addfile(info, io.BytesIO(data))
                tar.add(copy, arcname=DB_FILENAME, recursive=False)
                for path, arcname in images:
                    tar.add(path, arcname=arcname, recursive=False)
            with partial.open("rb") as fh:
                os.fsync(fh.fileno())
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(
            f"could not write the backup: {exc.strerror or type(exc).__name__}"
        ) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupInfo(out, out.stat().st_size, len(images), tables)


def _check_member(member: tarfile.TarInfo) -> str:
    name = member.name
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name or not name:
        raise BackupError("the archive contains an unsafe path")
    if not member.isfile():
        raise BackupError("the archive contains something other than regular files")
    if name not in (MANIFEST, DB_FILENAME) and pure.parts[0] != IMAGES:
        raise BackupError("the archive contains an unexpected file")
    return pure.as_posix()


def restore_backup(archive: Path, data_dir: Path) -> BackupInfo:
    """Restore `archive` into `data_dir`, which must be missing or empty (blocking)."""
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not empty; restore only into an empty data directory")
    if not archive.is_file():
        raise BackupError(f"no such backup file {archive}")
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        try:
            tar = tarfile.open(archive, "r:gz")  # noqa: SIM115 - closed by the `with` below
        except (tarfile.TarError, OSError) as exc:
            raise BackupError("the file is not an Afterglow backup archive") from exc
        with tar:
            members = tar.getmembers()
            names = [_check_member(m) for m in members]
            if len(set(names)) != len(names):
                raise BackupError("the archive lists a file twice")
            if sum(m.size for m in members) > MAX_RESTORE_BYTES:
                raise BackupError("the archive is larger than a restore allows")
            if MANIFEST not in names or DB_FILENAME not in names:
                raise BackupError("the archive has no manifest or no database")
            for member, name in zip(members, names, strict=True):
                target = staging.joinpath(*PurePosixPath(name).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise BackupError("the archive contains an unreadable member")
                with source, target.open("wb") as fh:
                    shutil.copyfileobj(source, fh)
        manifest = json.loads((staging / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise BackupError("the backup was made by an unknown version")
        listed: dict[str, str] = manifest.get("files", {})
        if set(listed) != set(names) - {MANIFEST}:
            raise BackupError("the archive does not match its manifest")
        for name, digest in listed.items():
            if _sha256(staging.joinpath(*PurePosixPath(name).parts)) != digest:
                raise BackupError("a file in the archive is damaged (checksum mismatch)")
        db_copy = staging / DB_FILENAME
        if not integrity_ok(db_copy):
            raise BackupError("the database in the archive failed its integrity check")
        tables = table_counts(db_copy)
        if tables != manifest.get("tables"):
            raise BackupError("the restored row counts do not match the manifest")
        for entry in staging.iterdir():
            if entry.name != MANIFEST:
                os.replace(entry, data_dir / entry.name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        # Leave the target as empty as we found it.
        for entry in data_dir.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    images = sum(1 for n in names if n.startswith(IMAGES + "/"))
    return BackupInfo(data_dir, archive.stat().st_size, images, tables)


def utc_now() -> datetime:
    return datetime.now(UTC)


class BackupScheduler:
    """Daily backups with rotation; `job` is an App background job."""

    def __init__(self, config: BackupConfig, *, now: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.now = now

    def next_run(self, after: datetime) -> datetime:
        """The first scheduled time strictly after `after`."""
        candidate = datetime.combine(after.date(), self.config.at, UTC)
        if candidate <= after:
            candidate += timedelta(days=1)
        return candidate

    async def run_once(self, when: datetime | None = None) -> Path:
        """Make today's backup, keep it as this week's if it is the first, then rotate."""
        when = when or self.now()
        daily_dir, weekly_dir = self.config.dir / "daily", self.config.dir / "weekly"
        out = daily_dir / f"afterglow-{when:%Y-%m-%d}.tar.gz"
        await asyncio.to_thread(create_backup, self.config.data_dir, out)
        year, week, _ = when.isocalendar()
        weekly = weekly_dir / f"afterglow-{year}-W{week:02d}.tar.gz"
        if not weekly.exists():
            weekly_dir.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(shutil.copyfile, out, weekly)
        self.rotate()
        return out

    def rotate(self) -> list[Path]:
        """Delete archives beyond `keep_daily` daily and `keep_weekly` weekly; returns them."""
        removed: list[Path] = []
        for sub, keep in (("daily", self.config.keep_daily), ("weekly", self.config.keep_weekly)):
            folder = self.config.dir / sub
            if not folder.is_dir():
                continue
            # Names carry ISO dates / weeks, so name order is age order.
            archives = sorted(folder.glob(_ARCHIVE_GLOB))
            for old in archives[: max(0, len(archives) - keep)]:
                old.unlink(missing_ok=True)
                removed.append(old)
        return removed

    async def job(self, stop: asyncio.Event) -> None:
        """Run backups on schedule until `stop`; a failure is logged loudly and retried next time."""
        while not stop.is_set():
            wait = (self.next_run(self.now()) - self.now()).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, wait))
            if stop.is_set():
                return
            try:
                path = await self.run_once()
                log.info("scheduled backup written (%d bytes)", path.stat().st_size)
            except (BackupError, OSError) as exc:
                log.error("BACKUP FAILED: %s", exc)
