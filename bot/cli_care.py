"""`afterglow safety-stats`, `afterglow safety-screen` and `afterglow safety-hotlines`.

afterglow safety-stats [--since YYYY-MM-DD]   aggregate crisis counters as JSON (SB 243 report data)
afterglow safety-screen TEXT                  how the crisis screen rates TEXT (tier, rule ids)
afterglow safety-hotlines                     the hotline file's entries; exit 1 if any is stale
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

from bot.services.safety.hotlines import MAX_AGE_DAYS, HotlineBook
from bot.services.safety.screen import CrisisScreen
from bot.services.storage import Database
from bot.services.storage.care import CareStore
from bot.settings import Settings


def register(subparsers: Any) -> None:
    """Add the care subcommands."""
    stats = subparsers.add_parser(
        "safety-stats", help="print the aggregate crisis counters as JSON (no identifiers or text)"
    )
    stats.add_argument("--since", default=None, help="first UTC day to include, YYYY-MM-DD")
    stats.set_defaults(handler=cmd_safety_stats)

    screen = subparsers.add_parser("safety-screen", help="show how the crisis screen rates a message")
    screen.add_argument("text", help="the message to screen")
    screen.add_argument("--risk-window", action="store_true", help="as if within 24 h of a flag")
    screen.set_defaults(handler=cmd_safety_screen)

    hotlines = subparsers.add_parser(
        "safety-hotlines", help="list the hotline entries; exit 1 if any lacks a source or is stale"
    )
    hotlines.set_defaults(handler=cmd_safety_hotlines)


def cmd_safety_stats(args: argparse.Namespace, settings: Settings) -> int:
    if args.since is not None:
        try:
            date.fromisoformat(args.since)
        except ValueError:
            print("afterglow: --since must be YYYY-MM-DD")
            return 2

    async def work() -> dict[str, Any]:
        async with Database.in_dir(settings.data_dir) as db:
            rows = await CareStore(db).stats(args.since)
        totals: dict[str, int] = {}
        for r in rows:
            totals[r.tier] = totals.get(r.tier, 0) + r.count
        return {
            "schema": "afterglow.safety_stats.v1",
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "since": args.since,
            "totals": totals,
            "rows": [{"day": r.day, "tier": r.tier, "locale": r.locale, "place": r.place,
                      "count": r.count} for r in rows],
        }

    print(json.dumps(asyncio.run(work()), ensure_ascii=False, indent=1))
    return 0


def cmd_safety_screen(args: argparse.Namespace, settings: Settings) -> int:
    result = CrisisScreen().screen(args.text, risk_window=args.risk_window)
    print(json.dumps({"tier": result.tier.label, "escalated": result.escalated,
                      "language": result.language, "rules": list(result.rules)},
                     ensure_ascii=False))
    return 0


def cmd_safety_hotlines(args: argparse.Namespace, settings: Settings) -> int:
    book = HotlineBook.load()
    today = datetime.now(UTC).date()
    stale = {e.id for e in book.stale(today)}
    print(json.dumps({
        "max_age_days": MAX_AGE_DAYS,
        "entries": [{"id": e.id, "region": e.region, "number": e.number, "channel": e.channel,
                     "verified_on": e.verified_on.isoformat(), "stale": e.id in stale}
                    for e in book.entries],
    }, ensure_ascii=False, indent=1))
    return 1 if stale else 0
