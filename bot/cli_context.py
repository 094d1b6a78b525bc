"""`afterglow context --user NAME [--json] MESSAGE`: what the companion would send, without sending it.

Prints the exact messages array the model would receive for MESSAGE from the console user NAME,
with a token estimate for each part. It calls no model and stores nothing, so people and
operators can see what the companion "knows" at any time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bot.core.models import ChatRef, UserRef
from bot.settings import Settings


def register(subparsers: Any) -> None:
    """Add the `context` subcommand."""
    parser = subparsers.add_parser(
        "context",
        help="print the exact request the companion would send for MESSAGE (no model call)",
    )
    parser.add_argument("--user", required=True, help="console user name")
    parser.add_argument("--json", action="store_true", help="print JSON (default: readable text)")
    parser.add_argument("--locale", choices=("en", "zh"), default=None)
    parser.add_argument("message", help="the message to build the context for")
    parser.set_defaults(handler=cmd_context)


def cmd_context(args: argparse.Namespace, settings: Settings) -> int:
    """Build and print the context; exit 2 when no model is configured."""
    report = asyncio.run(build_report(settings, args.user, args.message, args.locale))
    if report is None:
        print(
            "afterglow: no model configured (set AFTERGLOW_LLM_BASE_URL and AFTERGLOW_LLM_MODEL,"
            " or [llm] in afterglow.toml)",
            file=sys.stderr,
        )
        return 2
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    print(
        f"model {report['model']} · budget {report['budget']} · "
        f"estimated {report['estimated_tokens']} tokens"
    )
    for part, message in zip(report["parts"], report["messages"], strict=True):
        print(f"\n── {part['index']}: {part['kind']} ({message['role']}) · {part['tokens']} tokens")
        print(message["content"])
    return 0


async def build_report(
    settings: Settings, name: str, message: str, locale_hint: str | None
) -> dict[str, Any] | None:
    """The context report as a JSON-ready dict, or None without a configured model."""
    from bot.app import App

    async with App(settings) as app:
        companion = app.companion
        if companion is None:
            return None
        user = UserRef("console", name, name)
        chat = ChatRef("console", f"dm:{name}", "dm", name)
        locale = await app.router.locale_for(user, chat, locale_hint)
        person = await app.users.find(user.platform, user.id)
        conversation = None
        if person is not None:
            persona = await companion.persona(user, locale)
            conversation = await companion.repo.find_active(person, persona.id)
            model = await companion.model_for(person)
        else:
            # Someone the bot has never met: nothing to look up, and nothing gets created.
            persona = companion.default_persona(locale)
            model = companion.config.model(companion.config.default_model)
        ctx = await companion.assemble(
            user,
            person or 0,
            persona,
            conversation,
            message,
            locale,
            model=model,
            use_memory=person is not None,
        )
        return {
            "user": name,
            "locale": locale,
            "model": model.ref,
            "context_window": model.context_window,
            "reply_room": model.max_output_tokens,
            "budget": ctx.budget,
            "estimated_tokens": ctx.tokens,
            "parts": [
                {"index": i, "kind": part.kind, "tokens": part.tokens}
                for i, part in enumerate(ctx.parts)
            ],
            "messages": ctx.messages,
        }
