"""Export archives: shape, and restores that refuse damaged input without storing anything."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import UserError
from bot.core.models import UserRef
from bot.services.memory_stack import MemoryStack
from bot.services.storage.db import Database
from bot.services.storage.users import Users

ALICE = UserRef("console", "alice")
BOB = UserRef("console", "bob")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[MemoryStack]:
    db = Database(tmp_path / "a.sqlite3")
    await db.open()
    try:
        yield MemoryStack.build(db, Users(db))
    finally:
        await db.close()


def archive(doc: Any, name: str = "afterglow-export.json") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(name, doc if isinstance(doc, str) else json.dumps(doc))
    return out.getvalue()


def minimal(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "afterglow-export",
        "version": 1,
        "settings": {},
        "accounts": [],
        "personas": [{"ref": 1, "name": "小暖", "active": True}],
        "letters": [],
        "conversations": [],
        "memories": [{"ref": 5, "kind": "memory", "persona_ref": 1, "body": "一起看海"}],
        "sections": {},
    }
    doc.update(changes)
    return doc


async def test_minimal_archive_restores(stack: MemoryStack) -> None:
    person = await stack.memory.person(BOB)
    result = await stack.exporter.restore(person, archive(minimal()))
    assert (result.personas, result.memories) == (1, 1)
    view = await stack.persona.active(BOB)
    assert view is not None and view.name == "小暖"
    hits = await stack.memory.recall(BOB, "看海")
    assert [h.text for h in hits] == ["一起看海"]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (archive(minimal(format="something-else")), "exports.not_export"),
        (archive(minimal(version=99)), "exports.unsupported_version"),
        (archive(minimal(), name="other.json"), "exports.not_export"),
        (archive('{"format": "afterglow-export", "version": 1, "personas": ['), "files.bad_json"),
        (archive(minimal(memories=[{"kind": "virus", "body": "x"}])), "exports.bad_archive"),
        (archive(minimal(memories=[{"kind": "memory", "body": 5}])), "exports.bad_archive"),
        (archive(minimal(personas=[{"ref": 1, "name": ""}])), "exports.bad_archive"),
        (b"not a zip", "files.bad_archive"),
    ],
)
async def test_damaged_archives_store_nothing(stack: MemoryStack, data: bytes, key: str) -> None:
    person = await stack.memory.person(ALICE)
    await stack.memory.remember(ALICE, "已有的记忆")
    with pytest.raises(UserError) as exc:
        await stack.exporter.restore(person, data)
    assert exc.value.key == key
    rows, total = await stack.memory.page(ALICE, 0)
    assert total == 1 and rows[0].body == "已有的记忆"
    assert await stack.persona.list(ALICE) == []


async def test_export_holds_only_the_owners_data(stack: MemoryStack) -> None:
    await stack.memory.remember(ALICE, "ALICE-ONLY")
    await stack.memory.remember(BOB, "BOB-ONLY")
    data = await stack.exporter.export_bytes(await stack.memory.person(ALICE))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        blob = b"".join(z.read(n) for n in z.namelist())
    assert b"ALICE-ONLY" in blob and b"BOB-ONLY" not in blob
