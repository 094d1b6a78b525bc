"""`afterglow memory …`, `afterglow import …` and `afterglow export`: memories from the shell.

    afterglow memory import FILE --user NAME            a memory letter (.txt/.md/.docx)
    afterglow memory search --user NAME --k K --json QUERY
    afterglow memory list --user NAME [--json]
    afterglow import chatgpt FILE --user NAME [--title T] [--since D] [--until D] [--model M]
    afterglow import card FILE --user NAME
    afterglow import archive FILE --user NAME           an archive written by `afterglow export`
    afterglow export --user NAME --out FILE

NAME is a console user (`afterglow chat --user NAME` talks as the same person). Files given on
the command line are trusted more than uploads (large caps), but are still inspected the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.core.errors import UserError
from bot.core.models import UserRef
from bot.services.files import MB, Limits
from bot.services.i18n import I18n
from bot.services.imports.chatgpt import ConversationFilter, parse_date
from bot.services.memory_stack import MemoryStack
from bot.services.storage import Database
from bot.services.storage.users import Users
from bot.settings import Settings

#: Operator-side caps: large exports are fine from the shell, archive checks still apply.
CLI_LIMITS = Limits(
    max_file_bytes=4096 * MB,
    max_total_uncompressed=8192 * MB,
    max_entries=100_000,
    max_member_bytes=8192 * MB,
)


def register(subparsers: Any) -> None:
    """Add `memory`, `import` and `export`."""
    memory = subparsers.add_parser("memory", help="memory letters and memories of a console user")
    msub = memory.add_subparsers(dest="memory_command", required=True)
    imp = msub.add_parser("import", help="import a memory letter (.txt, .md, .docx)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--user", required=True)
    imp.add_argument("--title", default="")
    imp.set_defaults(handler=cmd_memory_import)
    search = msub.add_parser("search", help="ranked memories for a query")
    search.add_argument("query")
    search.add_argument("--user", required=True)
    search.add_argument("--k", type=int, default=5)
    search.add_argument("--json", action="store_true", help="print JSON (the default)")
    search.set_defaults(handler=cmd_memory_search)
    lst = msub.add_parser("list", help="list memories, pinned and newest first")
    lst.add_argument("--user", required=True)
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_memory_list)

    importer = subparsers.add_parser(
        "import", help="import a ChatGPT export, a card, or an archive"
    )
    isub = importer.add_subparsers(dest="import_kind", required=True)
    chatgpt = isub.add_parser("chatgpt", help="a ChatGPT data export (.zip or conversations.json)")
    chatgpt.add_argument("file", type=Path)
    chatgpt.add_argument("--user", required=True)
    chatgpt.add_argument("--title", default=None, help="only conversations whose title has this")
    chatgpt.add_argument("--since", default=None, help="YYYY-MM-DD (inclusive)")
    chatgpt.add_argument("--until", default=None, help="YYYY-MM-DD (exclusive)")
    chatgpt.add_argument("--model", action="append", default=[], help="e.g. gpt-4o (repeatable)")
    chatgpt.set_defaults(handler=cmd_import_chatgpt)
    card = isub.add_parser("card", help="a character card (.png, .json, .charx)")
    card.add_argument("file", type=Path)
    card.add_argument("--user", required=True)
    card.set_defaults(handler=cmd_import_card)
    archive = isub.add_parser("archive", help="an archive written by `afterglow export`")
    archive.add_argument("file", type=Path)
    archive.add_argument("--user", required=True)
    archive.set_defaults(handler=cmd_import_archive)

    export = subparsers.add_parser("export", help="everything a console user has, as one zip")
    export.add_argument("--user", required=True)
    export.add_argument("--out", type=Path, required=True)
    export.set_defaults(handler=cmd_export)


def _console(name: str) -> UserRef:
    return UserRef("console", name, name)


def _print(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _run(settings: Settings, work: Callable[[MemoryStack, Users], Awaitable[Any]]) -> int:
    async def go() -> int:
        db = Database.in_dir(settings.data_dir)
        await db.open()
        try:
            users = Users(db)
            _print(await work(MemoryStack.build(db, users), users))
            return 0
        except UserError as err:
            i18n = I18n.load()
            print(f"afterglow: {i18n.t('en', err.key, **err.params)}", file=sys.stderr)
            return 1
        finally:
            await db.close()

    return asyncio.run(go())


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise UserError("files.missing", name=path.name)
    return path.read_bytes()


def cmd_memory_import(args: argparse.Namespace, settings: Settings) -> int:
    async def work(stack: MemoryStack, users: Users) -> Any:
        result = await stack.memory.import_letter(
            _console(args.user),
            _read(args.file),
            args.file.name,
            limits=CLI_LIMITS,
            title=args.title or args.file.stem,
        )
        return {
            "letter_id": result.letter_id,
            "chunks": result.chunks,
            "characters": result.characters,
        }

    return _run(settings, work)


def cmd_memory_search(args: argparse.Namespace, settings: Settings) -> int:
    async def work(stack: MemoryStack, users: Users) -> Any:
        person, persona = await stack.memory.scope(_console(args.user))
        hits = await stack.memory.search(person, persona, args.query, k=max(1, args.k))
        return {
            "query": args.query,
            "k": args.k,
            "hits": [
                {"id": h.id, "kind": h.kind, "score": h.score, "pinned": h.pinned, "text": h.text}
                for h in hits
            ],
        }

    return _run(settings, work)


def cmd_memory_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(stack: MemoryStack, users: Users) -> Any:
        person = await stack.memory.person(_console(args.user))
        rows = await stack.memories.page(person, limit=args.limit)
        return {
            "total": await stack.memories.count(person, ("memory", "letter", "book", "history")),
            "memories": [
                {"id": m.id, "kind": m.kind, "pinned": m.pinned, "text": m.body} for m in rows
            ],
        }

    return _run(settings, work)


def cmd_import_chatgpt(args: argparse.Namespace, settings: Settings) -> int:
    async def work(stack: MemoryStack, users: Users) -> Any:
        if not args.file.is_file():
            raise UserError("files.missing", name=args.file.name)
        chosen = ConversationFilter(
            title_contains=args.title,
            since=parse_date(args.since) if args.since else None,
            until=parse_date(args.until) if args.until else None,
            models=frozenset(args.model),
        )

        def progress(n: int) -> None:
            if n % 500 == 0 and os.isatty(2):
                print(f"… {n} conversations read", file=sys.stderr)

        result = await stack.memory.import_chatgpt(
            _console(args.user), args.file, chosen=chosen, limits=CLI_LIMITS, on_progress=progress
        )
        return {
            "conversations": result.conversations,
            "exchanges": result.turns,
            "style_examples": result.style_examples,
            "skipped": result.skipped,
        }

    return _run(settings, work)


def cmd_import_card(args: argparse.Namespace, settings: Settings) -> int:
    async def work(stack: MemoryStack, users: Users) -> Any:
        result = await stack.persona.import_card(
            _console(args.user), _read(args.file), limits=CLI_LIMITS
        )
        return {
            "persona_id": result.persona.id,
            "name": result.persona.name,
            "book_entries": result.book_entries,
        }

    return _run(settings, work)


def cmd_import_archive(args: argparse.Namespace, settings: Settings) -> int:
    async def work(stack: MemoryStack, users: Users) -> Any:
        if not args.file.is_file():
            raise UserError("files.missing", name=args.file.name)
        person = await stack.memory.person(_console(args.user))
        result = await stack.exporter.restore(person, args.file, CLI_LIMITS)
        return {
            "personas": result.personas,
            "letters": result.letters,
            "conversations": result.conversations,
            "memories": result.memories,
            "sections": result.sections,
        }

    return _run(settings, work)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    async def work(stack: MemoryStack, users: Users) -> Any:
        person = await stack.memory.person(_console(args.user))
        tmp = args.out.with_name(args.out.name + ".part")
        with tmp.open("wb") as out:
            await stack.exporter.export(person, out)
        tmp.replace(args.out)
        return {"out": str(args.out), "bytes": args.out.stat().st_size}

    return _run(settings, work)
