"""Whole-file operations on a copy of the database: online snapshot, integrity check, row counts.

These open their own short-lived `sqlite3` connections (blocking; run them in a thread), because
they work on files other than the live database (a backup copy, a restored file).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def integrity_ok(db_path: Path) -> bool:
    """True when `PRAGMA integrity_check` on the file says ok."""
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute("PRAGMA integrity_check").fetchone()
        return bool(row and row[0] == "ok")
    finally:
        conn.close()


def table_counts(db_path: Path) -> dict[str, int]:
    """Rows per table (the manifest records them; restores compare them)."""
    conn = sqlite3.connect(db_path)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
            )
        ]
        return {n: int(conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]) for n in names}
    finally:
        conn.close()


def snapshot_database(source: Path, target: Path) -> None:
    """Copy a live database consistently with SQLite's online backup API."""
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            # pages=-1 copies everything in one step, under one read transaction: a consistent
            # snapshot even while the bot writes through its own connection.
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()
