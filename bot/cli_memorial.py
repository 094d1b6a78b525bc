"""`afterglow memorial …`: operator tools for the memorial wall.

afterglow memorial ocr FILE [--json]                      read a screenshot's text offline
afterglow memorial export --platform P --chat ID --out F  the group's whole wall as a gallery zip
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bot.core.errors import UserError
from bot.core.models import ChatRef, UserRef
from bot.services.i18n import normalize_locale
from bot.settings import Settings


def register(subparsers: Any) -> None:
    """Add the `memorial` subcommand group."""
    memorial = subparsers.add_parser("memorial", help="memorial wall tools (OCR check, export)")
    sub = memorial.add_subparsers(dest="memorial_command", required=True)

    ocr = sub.add_parser("ocr", help="read the text of a screenshot offline (bundled models)")
    ocr.add_argument("file", type=Path)
    ocr.add_argument("--json", action="store_true", help="print lines with scores and boxes")
    ocr.set_defaults(handler=cmd_ocr)

    export = sub.add_parser("export", help="write a group's memorial wall as a gallery zip")
    export.add_argument("--platform", required=True, choices=("discord", "telegram", "console"))
    export.add_argument("--chat", required=True, help="the group's chat id on that platform")
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--locale", choices=("en", "zh"), default=None)
    export.set_defaults(handler=cmd_export)


def cmd_ocr(args: argparse.Namespace, settings: Settings) -> int:
    """Check and clean the image like an upload, then print what OCR reads in it."""
    from bot.services.images import ImageLimits, clean_image
    from bot.services.ocr import OcrUnavailable, RapidOcrEngine

    async def run() -> int:
        try:
            image = clean_image(args.file.read_bytes(), ImageLimits())
            result = await RapidOcrEngine().read(image.data)
        except (OSError, UserError, OcrUnavailable) as exc:
            print(f"error: {getattr(exc, 'key', None) or exc}", file=sys.stderr)
            return 1
        if args.json:
            lines = [
                {"text": x.text, "score": round(x.score, 3), "box": x.box} for x in result.lines
            ]
            doc = {"engine": result.engine, "seconds": round(result.seconds, 3), "lines": lines}
            print(json.dumps(doc, ensure_ascii=False, indent=2))
        else:
            print(result.text)
        return 0

    return asyncio.run(run())


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Export the whole wall of one group (as its admins would get it) to a file."""
    from bot.app import App

    async def run() -> int:
        async with App(settings) as app:
            chat = ChatRef(args.platform, args.chat, "group")
            if await app.memorial.repo.find_group(args.platform, args.chat) is None:
                print("error: no memorial wall for that chat", file=sys.stderr)
                return 1
            locale = normalize_locale(args.locale) or await app.memorial.group_locale(chat)
            operator = UserRef("cli", "operator", "operator")
            tr = _Bound(app, locale)
            try:
                # A file on disk has no upload cap: everything goes in, full screenshots too.
                result = await app.memorial.export(
                    chat, operator, True, tr, locale, max_bytes=1 << 40
                )
            except UserError as exc:
                print(f"error: {app.i18n.t(locale, exc.key, **exc.params)}", file=sys.stderr)
                return 1
            args.out.write_bytes(result.data)
            print(
                json.dumps(
                    {
                        "out": str(args.out),
                        "posts": result.posts,
                        "images": result.images,
                        "thumbs_only": result.thumbs_only,
                        "bytes": len(result.data),
                    }
                )
            )
            return 0

    return asyncio.run(run())


class _Bound:
    def __init__(self, app: Any, locale: str) -> None:
        self.i18n = app.i18n
        self.locale = locale

    def t(self, key: str, **params: Any) -> str:
        return str(self.i18n.t(self.locale, key, **params))

    def tn(self, key: str, n: int, **params: Any) -> str:
        return str(self.i18n.tn(self.locale, key, n, **params))
