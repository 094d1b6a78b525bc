"""Memorial wall figures: OCR per screenshot (zh vs en), posts stored per second, wall search p99.

Usage: python bench/memorial_bench.py [--quick] [--posts N] [--search-posts N]

Prints one JSON object:
- `ocr`: engine start-up, then warm seconds per generated chat screenshot for zh and en side by
  side, and how many of the bubble texts were read back exactly (after joining wrapped lines);
- `store`: `/farewell` posts stored per second through the real service (image checks,
  re-encoding, content-hash files, SQLite) with unique screenshots and with the same screenshot
  repeated (dedupe), OCR off so only the storing path is timed;
- `search`: latency of `/wall search` over a wall of N posts (10,000 by default) for three query
  kinds side by side: zh phrases of 4+ characters (trigram FTS), zh 2-character words (LIKE
  fallback) and English words.
`--quick` shrinks every part to a few seconds (a test runs it so the script cannot rot).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.models import Attachment, ChatRef, UserRef
from bot.services.i18n import I18n
from bot.services.images import ImageStore
from bot.services.memorial import FarewellText, MemorialLimits, MemorialService
from bot.services.ocr import RapidOcrEngine, RapidOcrSettings
from bot.services.storage import Database
from bot.services.storage.memorial import MemorialRepo
from bot.services.storage.users import Users
from tests.fakes.screenshots import EN_FAREWELL, ZH_FAREWELL, ChatLine, render_chat

ZH_WORDS = (
    "谢谢你",
    "陪伴",
    "深夜",
    "记得",
    "灯塔",
    "日落",
    "大海",
    "晚安",
    "再见",
    "温柔",
    "星星",
    "眨眼",
    "春天",
    "火锅",
    "上海",
    "雨天",
    "咖啡",
    "一起",
    "想你",
    "永远",
    "勇敢",
    "梦里",
)
EN_WORDS = (
    "thank",
    "you",
    "late",
    "night",
    "lighthouse",
    "sunset",
    "kindness",
    "goodnight",
    "friend",
    "remember",
    "spring",
    "poem",
    "lamp",
    "quiet",
    "room",
    "always",
    "brave",
    "dream",
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def ms(value: float) -> float:
    return round(value * 1000, 2)


def screenshot(rng: random.Random, lang: str, number: int = 0) -> tuple[bytes, list[str]]:
    """A chat screenshot with shuffled bubbles and the bubble texts it contains.

    `number` goes into the status-bar clock, so every numbered screenshot is distinct.
    """
    base = list(ZH_FAREWELL if lang == "zh" else EN_FAREWELL)
    rng.shuffle(base)
    lines = [ChatLine(("left", "right")[i % 2], line.text) for i, line in enumerate(base)]
    clock = f"{number // 60 % 24:02d}:{number % 60:02d}" + (f" #{number}" if number else "")
    title = "小满" if lang == "zh" else "Juniper"
    return render_chat(lines, title=title, clock=clock), [b.text for b in lines]


async def bench_ocr(samples: int, quick: bool) -> dict[str, Any]:
    engine = RapidOcrEngine()
    start = time.perf_counter()
    ready = await engine.warm_up()
    result: dict[str, Any] = {
        "engine": engine.name,
        "ready": ready,
        "init_s": round(time.perf_counter() - start, 3),
    }
    if not ready:
        return result
    rng = random.Random(7)
    if not quick:
        # The first call pays for lazy session set-up; warm figures follow it.
        first, _ = screenshot(rng, "zh")
        start = time.perf_counter()
        await engine.read(first)
        result["first_call_s"] = round(time.perf_counter() - start, 3)
    for lang in ("zh", "en"):
        times: list[float] = []
        found = total = 0
        for _ in range(samples):
            image, texts = screenshot(rng, lang)
            start = time.perf_counter()
            read = await engine.read(image)
            times.append(time.perf_counter() - start)
            total += len(texts)
            found += sum(1 for t in texts if t in read.text)
        result[lang] = {
            "screenshots": samples,
            "mean_s": round(statistics.fmean(times), 3),
            "max_s": round(max(times), 3),
            "bubbles_read_exactly": f"{found}/{total}",
        }
    return result


async def bench_ocr_threads(samples: int) -> dict[str, Any]:
    """Warm seconds per zh screenshot with 1 and 2 ONNX Runtime threads, side by side."""
    out: dict[str, Any] = {}
    for threads in (1, 2):
        engine = RapidOcrEngine(RapidOcrSettings(threads=threads))
        if not await engine.warm_up():
            return {"ready": False}
        rng = random.Random(5)
        await engine.read(screenshot(rng, "zh")[0])  # session set-up
        times = []
        for _ in range(samples):
            image, _texts = screenshot(rng, "zh")
            start = time.perf_counter()
            await engine.read(image)
            times.append(time.perf_counter() - start)
        out[f"threads_{threads}_mean_s"] = round(statistics.fmean(times), 3)
    return out


def _attachment(data: bytes) -> Attachment:
    async def fetch(max_bytes: int) -> bytes:
        return data

    return Attachment("shot.png", len(data), "image/png", fetch)


async def bench_store(posts: int, root: Path) -> dict[str, Any]:
    rng = random.Random(11)
    # Screenshots are drawn before timing: rendering is the fixture's cost, not the bot's.
    unique = [screenshot(rng, "zh" if i % 2 else "en", i + 1)[0] for i in range(posts)]
    out: dict[str, Any] = {"posts": posts}
    for label, images in (("unique", unique), ("same_image", [unique[0]] * posts)):
        async with Database(root / f"{label}.sqlite3") as db:
            service = MemorialService(
                MemorialRepo(db),
                Users(db),
                ImageStore(root / f"images-{label}"),
                I18n.load(),
                None,
                limits=MemorialLimits(posts_per_day=posts + 1),
            )
            chat = ChatRef("bench", "g1", "group", "Bench")
            user = UserRef("bench", "u1", "Bench")
            text = FarewellText("小满", "2026-02-13", "谢谢你", False)
            start = time.perf_counter()
            for image in images:
                await service.farewell(chat, user, [_attachment(image)], text)
            elapsed = time.perf_counter() - start
        files = sum(1 for p in (root / f"images-{label}").rglob("*.png"))
        out[label] = {"posts_per_s": round(posts / elapsed, 1), "image_files": files}
    return out


def _ocr_text(rng: random.Random) -> str:
    zh = "".join(rng.choice(ZH_WORDS) for _ in range(rng.randint(20, 40)))
    en = " ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(8, 20)))
    return f"{zh}\n{en}"


async def bench_search(posts: int, queries: int, root: Path) -> dict[str, Any]:
    rng = random.Random(23)
    async with Database(root / "search.sqlite3") as db:
        repo = MemorialRepo(db)
        person = await Users(db).resolve("bench", "u1", "Bench")
        group = await repo.ensure_group("bench", "g1", "Bench")
        other = await repo.ensure_group("bench", "g2", "Other")
        start = time.perf_counter()
        async with db.write() as conn:
            # Bulk insert (one transaction): the figure of interest is search, not loading.
            await conn.executemany(
                "INSERT INTO memorial_posts (group_id, person_id, poster_name, caption, companion,"
                " farewell_date, ocr_text, ocr_status, created_at)"
                " VALUES (?, ?, 'Bench', ?, ?, '2026-02-13', ?, 'done', ?)",
                [
                    (
                        group.id if i % 10 else other.id,
                        person,
                        "".join(rng.choice(ZH_WORDS) for _ in range(3)),
                        rng.choice(("小满", "Juniper", "阿月", "Sol")),
                        _ocr_text(rng),
                        1.7e9 + i,
                    )
                    for i in range(posts)
                ],
            )
        load_s = time.perf_counter() - start
        kinds = {
            "zh_phrase": lambda: rng.choice(ZH_WORDS) + rng.choice(ZH_WORDS),
            "zh_two_chars": lambda: rng.choice([w for w in ZH_WORDS if len(w) == 2]),
            "en_word": lambda: rng.choice(EN_WORDS[2:]),
        }
        out: dict[str, Any] = {"posts": posts, "load_s": round(load_s, 2)}
        for name, make in kinds.items():
            times: list[float] = []
            hits = 0
            for _ in range(queries):
                query = make()
                start = time.perf_counter()
                found = await repo.search(group.id, query, limit=50)
                times.append(time.perf_counter() - start)
                hits += bool(found)
            out[name] = {
                "queries": queries,
                "p50_ms": ms(percentile(times, 0.5)),
                "p99_ms": ms(percentile(times, 0.99)),
                "with_results": hits,
            }
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        return {
            "bench": "memorial",
            "quick": quick,
            "ocr": await bench_ocr(1 if quick else 4, quick),
            # Thread counts matter on a shared box; skipped in --quick (it builds two engines).
            "ocr_threads": {} if quick else await bench_ocr_threads(3),
            "store": await bench_store(args.posts or (10 if quick else 200), root),
            "search": await bench_search(
                args.search_posts or (1000 if quick else 10_000), 20 if quick else 300, root
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds, for the test")
    parser.add_argument("--posts", type=int, default=0, help="posts to store (default 200)")
    parser.add_argument("--search-posts", type=int, default=0, help="wall size (default 10000)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
