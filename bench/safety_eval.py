"""Precision and recall of the crisis screen on the labelled fixtures, per language and tier.

Usage: python bench/safety_eval.py [--quick] [--fixtures DIR]
Prints one JSON object with the sets side by side: `tuning` (the fixtures the rules were written
against; recall of high must stay 1.0) and each subdirectory (`holdout`, `holdout2`: sentences
written apart from the rules and first scored blind — the README keeps those blind figures; the
rules were extended for their misses afterwards, so today's figures on them are not blind). `high` counts a message as positive when it is labelled high (plain or
escalated); `flagged` counts any tier above none (high or check-in) as positive. Window phrases
are screened with the 24-hour risk window on (as check-ins) and off (as negatives).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bot.services.safety.screen import CrisisScreen, Tier

DEFAULT_FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "safety" / "fixtures"


def _labelled(data: dict[str, Any]) -> list[tuple[str, Tier, bool, bool]]:
    """(text, expected tier, expected escalated, risk window) for every fixture."""
    rows: list[tuple[str, Tier, bool, bool]] = []
    rows += [(t, Tier.HIGH, False, False) for t in data["high"]]
    rows += [(t, Tier.HIGH, True, False) for t in data["high_escalated"]]
    rows += [(t, Tier.CHECKIN, False, False) for t in data["checkin"]]
    rows += [(t, Tier.CHECKIN, False, True) for t in data["window_checkin"]]
    rows += [(t, Tier.NONE, False, False) for t in data["window_checkin"]]
    rows += [(t, Tier.NONE, False, False) for t in data["none"]]
    return rows


def _pr(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "tp": tp, "fp": fp, "fn": fn}


def evaluate(screen: CrisisScreen, data: dict[str, Any]) -> dict[str, Any]:
    """Scores one language's fixtures; `errors` lists what was mislabelled."""
    counts = {name: [0, 0, 0] for name in ("high", "checkin", "flagged", "escalated")}
    errors: list[dict[str, str]] = []
    exact = 0
    rows = _labelled(data)
    for text, expected, esc_expected, window in rows:
        got = screen.screen(text, risk_window=window)
        if got.tier is expected:
            exact += 1
        else:
            errors.append({"text": text, "expected": expected.label, "got": got.tier.label})
        for name, want, have in (
            ("high", expected is Tier.HIGH, got.tier is Tier.HIGH),
            ("checkin", expected is Tier.CHECKIN, got.tier is Tier.CHECKIN),
            ("flagged", expected is not Tier.NONE, got.tier is not Tier.NONE),
        ):
            c = counts[name]
            c[0] += want and have
            c[1] += have and not want
            c[2] += want and not have
        if expected is Tier.HIGH:
            c = counts["escalated"]
            c[0] += esc_expected and got.escalated
            c[1] += got.escalated and not esc_expected
            c[2] += esc_expected and not got.escalated
    result: dict[str, Any] = {name: _pr(*c) for name, c in counts.items()}
    result["n"] = len(rows)
    result["accuracy"] = round(exact / len(rows), 4)
    result["errors"] = errors
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="first 10 fixtures of each list only")
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES,
                        help="directory of crisis_*.json (its holdout/ subdirectory is scored apart)")
    args = parser.parse_args(argv)
    screen = CrisisScreen()
    report: dict[str, Any] = {"benchmark": "safety_screen", "quick": args.quick, "sets": {}}
    started = time.perf_counter()
    screened = 0
    folders = [("tuning", args.fixtures)] + [
        (sub.name, sub) for sub in sorted(args.fixtures.iterdir()) if sub.is_dir()
    ]
    for set_name, folder in folders:
        languages: dict[str, Any] = {}
        for path in sorted(folder.glob("crisis_*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            if args.quick:
                data = {k: (v[:10] if isinstance(v, list) else v) for k, v in data.items()}
            result = evaluate(screen, data)
            screened += result["n"]
            languages[data["language"]] = result
        if languages:
            report["sets"][set_name] = languages
    elapsed = time.perf_counter() - started
    report["messages"] = screened
    report["mean_ms_per_message"] = round(1000 * elapsed / max(screened, 1), 4)
    json.dump(report, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
