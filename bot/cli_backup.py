"""`afterglow backup` and `afterglow restore`: online backups, scheduled rotation, restores.

afterglow backup --out FILE      one verified archive of the database and uploaded images
afterglow backup --schedule      run the daily schedule in the foreground ([backup] settings)
afterglow restore FILE           restore an archive into an EMPTY data directory
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from bot.services.backup import (
    BackupConfig,
    BackupError,
    BackupInfo,
    BackupScheduler,
    create_backup,
    restore_backup,
)
from bot.settings import Settings


def register(subparsers: Any) -> None:
    """Add the `backup` and `restore` subcommands."""
    backup = subparsers.add_parser(
        "backup", help="make an online, verified backup of the database and uploaded images"
    )
    mode = backup.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", type=Path, help="write the archive (.tar.gz) to this file")
    mode.add_argument(
        "--schedule",
        action="store_true",
        help="run daily backups with rotation until stopped (see [backup] in the config)",
    )
    backup.set_defaults(handler=cmd_backup)

    restore = subparsers.add_parser(
        "restore", help="restore a backup archive into an empty data directory"
    )
    restore.add_argument("file", type=Path, help="an archive written by `afterglow backup`")
    restore.set_defaults(handler=cmd_restore)


def _summary(action: str, info: BackupInfo) -> str:
    return json.dumps(
        {
            action: str(info.path),
            "bytes": info.bytes,
            "images": info.images,
            "integrity": "ok",
            "rows": sum(info.tables.values()),
        },
        ensure_ascii=False,
    )


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    """Write one archive, or run the schedule in the foreground."""
    if args.schedule:
        config = BackupConfig.from_section(settings.section("backup"), settings.data_dir)
        return asyncio.run(_run_schedule(BackupScheduler(config)))
    try:
        info = create_backup(settings.data_dir, args.out)
    except BackupError as exc:
        print(f"afterglow: backup failed: {exc}", file=sys.stderr)
        return 1
    print(_summary("backup", info))
    return 0


async def _run_schedule(scheduler: BackupScheduler) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    print(
        f"afterglow: daily backups at {scheduler.config.at:%H:%M} UTC into {scheduler.config.dir}",
        file=sys.stderr,
    )
    await scheduler.job(stop)
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    """Restore into the configured data directory, which must be empty."""
    try:
        info = restore_backup(args.file, settings.data_dir)
    except BackupError as exc:
        print(f"afterglow: restore refused: {exc}", file=sys.stderr)
        return 1
    print(_summary("restored", info))
    return 0
