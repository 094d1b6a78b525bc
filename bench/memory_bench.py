"""Memory benchmarks, side by side in one run; prints JSON.

    python -m bench.memory_bench                 # full run (several minutes on 2 cores)
    python -m bench.memory_bench --quick         # seconds; run by tests so the bench cannot rot
    python -m bench.memory_bench --only recall   # one part: retrieval | recall | import

1. retrieval  `MemoryService.search` latency, p50/p99, at 1k / 10k / 100k memories, (a) all of one
              person and (b) the same number spread over 500 people in one database, with a
              query mix of 1-, 2- and many-character Chinese and English queries. Target: p99 <
              20 ms at 100k.
2. recall     recall@5 / recall@10 of the evidence turns. English: the LoCoMo dev file (each
              conversation's turns stored as one person's imported history, one conversation
              per session; each question is the query). Published dense-retriever anchor:
              R@5 56.7, R@10 66.2. Chinese: a dev set generated here the same way (synthetic
              two-person chats with planted facts and paraphrased questions).
3. import     a generated ~200 MB ChatGPT export (written to a temp dir, deleted after):
              parse-only and full import throughput (MB/s), and peak RSS of each in a fresh
              child process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.services.memory import MemoryService
from bot.services.search_terms import index_terms
from bot.services.storage import Database
from bot.services.storage.memories import Memories, NewMemory
from bot.services.storage.personas import Personas
from bot.services.storage.users import Users

LOCOMO = Path(os.environ.get("AFTERGLOW_LOCOMO", "/work/shared/bench-data/locomo-dev.json"))
ANCHOR = {"recall@5": 56.7, "recall@10": 66.2}

ZH_CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说"
    "产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点"
    "从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原"
    "又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革"
)
_EN_TEXT = (
    "morning coffee rain garden letter music movie summer winter beach mountain train city river "
    "dinner birthday promise memory laugh song book window evening friend travel photo walk"
)
EN_WORDS = _EN_TEXT.split()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _zh_sentence(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ZH_CHARS) for _ in range(n)) + "。"


def _memory_text(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return "".join(_zh_sentence(rng, rng.randint(8, 25)) for _ in range(rng.randint(2, 6)))
    return " ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(10, 40))) + "."


async def _open(path: Path) -> tuple[Database, MemoryService]:
    db = Database(path)
    await db.open()
    users = Users(db)
    return db, MemoryService(db, users, Memories(db), Personas(db))


async def _people(db: Database, users: Users, n: int) -> list[int]:
    ids = []
    for i in range(n):
        ids.append(await users.resolve("bench", f"u{i}"))
    return ids


def latency_corpus(have_locomo: bool) -> tuple[list[str], dict[str, list[str]]]:
    """Texts to store and queries by kind, from real-shaped chats (LoCoMo turns when present,
    the generated Chinese chats, a generated letter) rather than random characters."""
    texts: list[str] = []
    queries: dict[str, list[str]] = {"zh_1char": [], "zh_2char": [], "zh_long": [], "en": []}
    if have_locomo:
        for sample in locomo_dataset(None, None):
            texts.extend(text for session in sample["sessions"] for _, text in session)
            queries["en"].extend(q for q, _ in sample["questions"])
    for sample in chinese_dataset(5, seed=23):
        texts.extend(text for session in sample["sessions"] for _, text in session)
        queries["zh_long"].extend(q for q, _ in sample["questions"])
    words = [v for _, _, values in ZH_FACTS for v in values]
    queries["zh_2char"] = [w for w in words if len(w) == 2] + ["火锅", "晚安", "生日", "海边"]
    queries["zh_1char"] = ["猫", "雪", "海", "狗", "茶", "花", "书", "梦"]
    if not queries["en"]:
        queries["en"] = [" ".join(EN_WORDS[i : i + 3]) for i in range(0, len(EN_WORDS) - 3)]
    return texts, queries


async def bench_retrieval(
    sizes: list[int], queries: int, workdir: Path, have_locomo: bool
) -> list[dict[str, Any]]:
    """Search latency per (size, layout), overall and per query kind."""
    corpus, by_kind = latency_corpus(have_locomo)
    results = []
    for size in sizes:
        for layout, people in (("one_person", 1), ("500_people", 500)):
            rng = random.Random(size * 7 + people)
            db, service = await _open(workdir / f"retrieval-{size}-{people}.sqlite3")
            try:
                ids = await _people(db, service.users, people)
                rows = []
                for i in range(size):
                    text = corpus[i % len(corpus)]
                    rows.append(
                        (ids[i % people], "memory", text, time.time() - i, index_terms(text))
                    )
                async with db.write() as conn:
                    await conn.executemany(
                        "INSERT INTO memories (person_id, kind, body, created_at, terms)"
                        " VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
                timings: dict[str, list[float]] = {kind: [] for kind in by_kind}
                kinds = list(by_kind)
                for i in range(queries):
                    kind = kinds[i % len(kinds)]
                    query = rng.choice(by_kind[kind])
                    person = ids[rng.randrange(people)]
                    start_time = time.perf_counter()
                    await service.search(person, None, query, k=8)
                    timings[kind].append((time.perf_counter() - start_time) * 1000)
                every = [t for values in timings.values() for t in values]
                results.append(
                    {
                        "memories": size,
                        "layout": layout,
                        "queries": len(every),
                        "p50_ms": round(statistics.median(every), 2),
                        "p99_ms": round(_percentile(every, 0.99), 2),
                        "by_kind_p50_p99_ms": {
                            kind: [
                                round(statistics.median(values), 2),
                                round(_percentile(values, 0.99), 2),
                            ]
                            for kind, values in timings.items()
                            if values
                        },
                    }
                )
            finally:
                await db.close()
    return results


# --- recall ----------------------------------------------------------------------------------


def locomo_dataset(
    limit_conversations: int | None, limit_questions: int | None
) -> list[dict[str, Any]]:
    """[{sessions: [[(dia_id, text)]], questions: [(question, evidence ids)]}] from LoCoMo."""
    raw = json.loads(LOCOMO.read_text(encoding="utf-8"))
    out = []
    for sample in raw[:limit_conversations]:
        conv = sample["conversation"]
        sessions = []
        for key in sorted(
            (k for k in conv if k.startswith("session_") and isinstance(conv[k], list)),
            key=lambda k: int(k.split("_")[1]),
        ):
            turns = []
            for turn in conv[key]:
                text = f"{turn['speaker']}: {turn['text']}"
                if turn.get("blip_caption"):
                    text += f" [shares {turn['blip_caption']}]"
                turns.append((turn["dia_id"], text))
            sessions.append(turns)
        questions = [
            (str(q["question"]), list(q["evidence"])) for q in sample["qa"] if q.get("evidence")
        ][:limit_questions]
        out.append({"sessions": sessions, "questions": questions})
    return out


ZH_NAMES = ("林夏", "周沐", "陈屿", "许念", "沈知", "顾言", "宋晚", "江帆", "唐糖", "叶舟")
ZH_FACTS = (
    (
        "我最近开始学{x}了，每周六下午去上课。",
        "{p}最近在学什么？",
        ("陶艺", "书法", "尤克里里", "游泳", "油画", "日语"),
    ),
    (
        "上个月我一个人去{x}旅行，看到了很美的日落。",
        "{p}上个月去哪里旅行了？",
        ("大理", "厦门", "青岛", "成都", "西安", "桂林"),
    ),
    (
        "我家新养了一只{x}，每天早上叫我起床。",
        "{p}家里新养了什么宠物？",
        ("柯基", "橘猫", "鹦鹉", "仓鼠", "布偶猫", "柴犬"),
    ),
    (
        "我的生日是{x}，那天我想去海边。",
        "{p}的生日是哪天？",
        ("三月五日", "七月十二日", "十月一日", "腊月初八", "六月二十日", "九月九日"),
    ),
    (
        "最近压力很大，我报名参加了{x}。",
        "{p}报名参加了什么活动？",
        ("半程马拉松", "合唱团", "志愿者服务", "读书会", "瑜伽课", "攀岩社"),
    ),
    (
        "我小时候最喜欢吃外婆做的{x}。",
        "{p}小时候最喜欢吃什么？",
        ("红烧肉", "桂花糕", "酸菜鱼", "糖醋排骨", "韭菜盒子", "汤圆"),
    ),
    (
        "我换工作了，现在在一家{x}上班。",
        "{p}现在在哪里上班？",
        ("出版社", "动物医院", "咖啡馆", "设计工作室", "小学", "医院"),
    ),
    (
        "周末我和朋友去看了{x}的演唱会。",
        "{p}周末去看了谁的演唱会？",
        ("五月天", "周杰伦", "陈奕迅", "林俊杰", "孙燕姿", "王菲"),
    ),
)
ZH_FILLER = (
    "今天好累啊，下班只想躺着。",
    "哈哈，你说得对。",
    "最近天气变化好大，记得多穿点。",
    "我也是这么想的。",
    "晚上吃了什么？",
    "明天还要早起，先睡啦。",
    "你最近怎么样？",
    "周末有什么安排吗？",
    "这个周末一直在下雨。",
    "我刚看完一部电影，还挺感动的。",
    "工作上有点烦心事，不过还好。",
    "嗯嗯，慢慢来。",
    "好久没出去玩了。",
    "改天一起吃饭吧！",
)


def chinese_dataset(conversations: int, seed: int = 11) -> list[dict[str, Any]]:
    """Synthetic zh chats: filler plus planted facts; questions paraphrase the fact, not copy it."""
    rng = random.Random(seed)
    out = []
    for _ in range(conversations):
        a, b = rng.sample(ZH_NAMES, 2)
        sessions: list[list[tuple[str, str]]] = []
        questions: list[tuple[str, list[str]]] = []
        for s in range(1, 16):
            turns: list[tuple[str, str]] = []
            for t in range(1, rng.randint(14, 24)):
                speaker = a if t % 2 else b
                turns.append((f"D{s}:{t}", f"{speaker}: {rng.choice(ZH_FILLER)}"))
            for _ in range(rng.randint(1, 3)):
                fact, question, values = rng.choice(ZH_FACTS)
                value = rng.choice(values)
                speaker = rng.choice((a, b))
                slot = rng.randrange(len(turns))
                dia = turns[slot][0]
                turns[slot] = (dia, f"{speaker}: {fact.format(x=value)}")
                # The other speaker answers in the next turn, echoing the value (a distractor-ish
                # second mention, as in real chats).
                if slot + 1 < len(turns):
                    other = b if speaker == a else a
                    turns[slot + 1] = (turns[slot + 1][0], f"{other}: 哇，{value}！真好。")
                questions.append((question.format(p=speaker), [dia]))
            sessions.append(turns)
        out.append({"sessions": sessions, "questions": questions})
    return out


async def bench_recall(dataset: list[dict[str, Any]], workdir: Path, name: str) -> dict[str, Any]:
    db, service = await _open(workdir / f"recall-{name}.sqlite3")
    r5 = r10 = 0.0
    n = 0
    timings = []
    try:
        for index, sample in enumerate(dataset):
            person = await service.users.resolve("bench", f"{name}-{index}")
            dia_of: dict[int, str] = {}
            async with db.write() as conn:
                for s, turns in enumerate(sample["sessions"]):
                    conv = await service.memories.insert_conversation(
                        conn, person, None, "bench", f"s{s}", f"session {s}", None, "", len(turns)
                    )
                    for dia, text in turns:
                        memory_id = await service.memories.insert(
                            conn, person, NewMemory("history", text, conversation_id=conv)
                        )
                        dia_of[memory_id] = dia
            for question, evidence in sample["questions"]:
                start = time.perf_counter()
                hits = await service.search(person, None, question, k=10)
                timings.append((time.perf_counter() - start) * 1000)
                found = [dia_of.get(h.id) for h in hits]
                wanted = set(evidence)
                r5 += len(wanted & set(found[:5])) / len(wanted)
                r10 += len(wanted & set(found[:10])) / len(wanted)
                n += 1
    finally:
        await db.close()
    return {
        "questions": n,
        "recall@5": round(100 * r5 / max(n, 1), 1),
        "recall@10": round(100 * r10 / max(n, 1), 1),
        "query_p50_ms": round(statistics.median(timings), 2) if timings else None,
    }


# --- import ------------------------------------------------------------------------------------


def write_export(path: Path, target_bytes: int, seed: int = 5) -> int:
    """Stream a ChatGPT-shaped `conversations.json` of about `target_bytes` to `path`."""
    from tests.fakes.chatgpt_export import conversation

    rng = random.Random(seed)
    written = 0
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        while written < target_bytes:
            turns = []
            for _ in range(rng.randint(4, 30)):
                turns.append(("user", _memory_text(rng)))
                turns.append(("assistant", _memory_text(rng) + _memory_text(rng)))
            model = rng.choice(("gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-5"))
            piece = json.dumps(
                conversation(f"c{count}", f"对话 {count}", 1.7e9 + count * 3600, turns, model),
                ensure_ascii=False,
            )
            out.write(("," if count else "") + piece)
            written += len(piece.encode("utf-8")) + 1
            count += 1
        out.write("]")
    return count


_CHILD = r"""
import asyncio, json, resource, sys, time
from pathlib import Path
from bot.cli_memory import CLI_LIMITS
from bot.services.imports.chatgpt import iter_conversations
mode, path, data = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
start = time.perf_counter()
if mode == "parse":
    n = sum(len(c.messages) for c in iter_conversations(path, CLI_LIMITS))
    out = {"messages": n}
else:
    from bot.core.models import UserRef
    from bot.services.memory_stack import MemoryStack
    from bot.services.storage import Database
    from bot.services.storage.users import Users
    async def go():
        db = Database(data / "afterglow.sqlite3"); await db.open()
        try:
            stack = MemoryStack.build(db, Users(db))
            r = await stack.memory.import_chatgpt(UserRef("console", "bench"), path, limits=CLI_LIMITS)
            return {"conversations": r.conversations, "exchanges": r.turns}
        finally:
            await db.close()
    out = asyncio.run(go())
out["seconds"] = time.perf_counter() - start
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _child(mode: str, path: Path, data: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(path), str(data)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_import(megabytes: float, workdir: Path) -> dict[str, Any]:
    path = workdir / "conversations.json"
    conversations = write_export(path, int(megabytes * 1024 * 1024))
    size_mb = path.stat().st_size / (1024 * 1024)
    baseline = _child_baseline(workdir)
    parse = _child("parse", path, workdir)
    data = workdir / "import-data"
    data.mkdir(exist_ok=True)
    full = _child("import", path, data)
    path.unlink()
    return {
        "export_mb": round(size_mb, 1),
        "conversations": conversations,
        "python_baseline_rss_mb": round(baseline, 1),
        "parse": {
            "mb_per_s": round(size_mb / parse["seconds"], 1),
            "seconds": round(parse["seconds"], 1),
            "peak_rss_mb": round(parse["peak_rss_mb"], 1),
        },
        "import": {
            "mb_per_s": round(size_mb / full["seconds"], 1),
            "seconds": round(full["seconds"], 1),
            "exchanges": full["exchanges"],
            "peak_rss_mb": round(full["peak_rss_mb"], 1),
        },
    }


def _child_baseline(workdir: Path) -> float:
    code = (
        "import resource, bot.services.memory_stack, bot.cli_memory;"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return float(done.stdout.strip())


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    parts = set(args.only.split(",")) if args.only else {"retrieval", "recall", "import"}
    out: dict[str, Any] = {"mode": "quick" if args.quick else "full"}
    with tempfile.TemporaryDirectory(prefix="afterglow-memory-bench-") as tmp:
        work = Path(tmp)
        if "retrieval" in parts:
            sizes = [1000] if args.quick else [1000, 10_000, 100_000]
            out["retrieval"] = await bench_retrieval(
                sizes, 40 if args.quick else 400, work, args.have_locomo
            )
        if "recall" in parts:
            chinese = chinese_dataset(1 if args.quick else 5)
            if args.quick:
                chinese[0]["questions"] = chinese[0]["questions"][:20]
            recall: dict[str, Any] = {"anchor_dense_locomo": ANCHOR}
            if args.have_locomo:
                english = locomo_dataset(1, 40) if args.quick else locomo_dataset(None, None)
                recall["locomo_en"] = await bench_recall(english, work, "en")
            else:
                recall["locomo_en"] = {"skipped": f"{LOCOMO} not found (set AFTERGLOW_LOCOMO)"}
            recall["generated_zh"] = await bench_recall(chinese, work, "zh")
            out["recall"] = recall
        if "import" in parts:
            out["import"] = bench_import(1.0 if args.quick else args.import_mb, work)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in seconds")
    parser.add_argument("--only", default="", help="comma list: retrieval,recall,import")
    parser.add_argument("--import-mb", type=float, default=200.0)
    args = parser.parse_args(argv)
    args.have_locomo = LOCOMO.is_file()
    json.dump(asyncio.run(main_async(args)), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
