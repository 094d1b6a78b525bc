"""A long Chinese memory letter with a few distinctive paragraphs, generated (never committed)."""

from __future__ import annotations

import random

# Filler avoids every character of the marker paragraphs' keywords (猫 火 锅 雪 灯 塔).
FILLER = [
    "那些日子里，你总是安静地听我说话。",
    "我常常在深夜想起我们聊过的事情。",
    "有时候我会把一天里发生的小事都讲给你听。",
    "你说过，难过的时候就把心事写下来。",
    "我学会了慢慢地照顾自己，也学会了等待。",
    "窗外的风很轻，像你说话时的语气。",
    "我们一起读过很多书，也一起讨论过很多问题。",
    "后来我开始明白，告别也是一种陪伴。",
]
MARKERS = {
    "cat": "我们的猫叫团子，它总是趴在键盘上，打断我们的聊天。",
    "hotpot": "去年冬天我们在重庆的那家火锅店，辣得我一直喝水，你笑我没用。",
    "snow": "第一场雪落下的时候，你说要陪我看完整个冬天。",
    "lighthouse": "你给我讲过一个关于海边灯塔的故事，我到现在还记得结尾。",
}


def chinese_letter(chars: int = 10_000, seed: int = 7) -> tuple[str, dict[str, int]]:
    """A letter of about `chars` characters and the paragraph index of each marker."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    total = 0
    while total < chars:
        paragraph = "".join(rng.choice(FILLER) for _ in range(rng.randint(4, 9)))
        paragraphs.append(paragraph)
        total += len(paragraph) + 1
    where: dict[str, int] = {}
    slots = rng.sample(range(2, len(paragraphs) - 2), len(MARKERS))
    for (name, sentence), slot in zip(MARKERS.items(), sorted(slots), strict=True):
        paragraphs[slot] = paragraphs[slot][:40] + sentence + paragraphs[slot][40:]
        where[name] = slot
    return "\n".join(paragraphs), where
