"""The `afterglow` command line (also `python -m bot`).

Core subcommands live here (`run`, `chat`, `commands`); each feature adds its own in a
`bot/cli_<feature>.py` module with a `register(subparsers)` function listed in FEATURE_CLIS.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.core.errors import ConfigError
from bot.logging_setup import setup_logging
from bot.settings import Settings

# Feature command modules; a module that is not present in this build is skipped.
FEATURE_CLIS = (
    "bot.cli_context",
    "bot.cli_memory",
    "bot.cli_backup",
    "bot.cli_care",
    "bot.cli_memorial",
)

Handler = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, core and feature subcommands."""
    parser = argparse.ArgumentParser(
        prog="afterglow",
        description="Afterglow (余温): memorial wall, private memories and companion chats.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start every adapter whose token is set (Discord, Telegram)")
    run.set_defaults(handler=cmd_run)

    chat = sub.add_parser("chat", help="talk to the bot on the console (no platform token needed)")
    chat.add_argument("--user", required=True, help="console user name")
    chat.add_argument("--locale", choices=("en", "zh"), default=None)
    chat.add_argument("--group", default=None, help="act inside a pretend group with this id")
    chat.add_argument("--admin", action="store_true", help="act as a group admin (with --group)")
    chat.add_argument("--out-dir", default="afterglow-out", help="where files the bot sends go")
    chat.set_defaults(handler=cmd_chat)

    commands = sub.add_parser("commands", help="print what would be registered on a platform")
    commands.add_argument("--platform", choices=("discord", "telegram"), required=True)
    commands.add_argument("--json", action="store_true", help="print JSON (the default)")
    commands.set_defaults(handler=cmd_commands)

    for module_name in FEATURE_CLIS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, load settings, run the chosen subcommand."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"afterglow: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(
        "WARNING" if args.command != "run" else settings.log_level,
        secrets=known_secrets(settings),
    )
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except ConfigError as exc:
        print(f"afterglow: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def known_secrets(settings: Settings) -> list[str]:
    """Every token and key the process holds, so the log filter masks them wherever they appear."""
    found = [settings.discord_token, settings.telegram_token, settings.llm_api_key]
    try:
        llm = settings.llm()
    except ConfigError:
        llm = None  # reported by the command that needs the model
    if llm is not None:
        found.extend(p.api_key for p in llm.providers)
    return [s for s in found if s]


def run_async(coro: Any) -> int:
    """Run a coroutine returning an exit code."""
    result = asyncio.run(coro)
    return int(result or 0)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.discord_token and not settings.telegram_token:
        print(
            "afterglow: no platform token set. Set DISCORD_TOKEN and/or TELEGRAM_TOKEN "
            "(or DISCORD_TOKEN_FILE / TELEGRAM_TOKEN_FILE), or try `afterglow chat --user NAME`.",
            file=sys.stderr,
        )
        return 2

    async def go() -> int:
        from bot.app import App

        async with App(settings) as app:
            return await app.run()

    return run_async(go())


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> int:
        from pathlib import Path

        from bot.adapters.console import ConsoleSession
        from bot.app import App
        from bot.services.delivery import ReplierDeliverer

        read_line = stdin_lines()

        async with App(settings) as app:
            session = ConsoleSession(
                app.router,
                app.i18n,
                user=args.user,
                locale=args.locale,
                out=sys.stdout,
                read_line=read_line,
                group=args.group,
                admin=args.admin,
                out_dir=Path(args.out_dir),
                max_upload_bytes=settings.max_upload_bytes,
            )
            # Answers a previous run left unanswered are printed here, after an apology.
            app.durable.register_deliverer(
                "console", ReplierDeliverer(session.replier, [session.chat.id])
            )
            return await app.run(main=session.run())

    return run_async(go())


def stdin_lines() -> Callable[[], Awaitable[str | None]]:
    """Read stdin lines on a daemon thread, so a signal can end the process while it waits.

    (`asyncio.to_thread(readline)` would keep `asyncio.run` waiting for the blocked thread.)
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in iter(sys.stdin.readline, ""):
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except RuntimeError:
            return  # the loop closed while we waited for input

    threading.Thread(target=pump, name="stdin", daemon=True).start()

    async def read_line() -> str | None:
        return await queue.get()

    return read_line


def cmd_commands(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import App

    app = App(settings)
    payload: Any
    if args.platform == "discord":
        from bot.adapters.discord.compile import command_payloads

        payload = asyncio.run(command_payloads(app.registry, app.i18n))
    else:
        from bot.adapters.telegram.menu import menu_payload

        payload = menu_payload(app.registry, app.i18n)
    json.dump(payload, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0
