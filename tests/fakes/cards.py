"""Character-card fixtures (platform-notes §6): PNGs with chosen text chunks, V1/V2/V3 JSON."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from typing import Any

from PIL import Image, PngImagePlugin


def b64(obj: dict[str, Any]) -> str:
    """The base64 of `obj` as UTF-8 JSON, as cards embed it."""
    return base64.b64encode(json.dumps(obj, ensure_ascii=False).encode("utf-8")).decode("ascii")


def png(chunks: dict[str, str] | None = None) -> bytes:
    """A small PNG carrying `chunks` as tEXt chunks (none: a plain image with no card)."""
    info = PngImagePlugin.PngInfo()
    for key, value in (chunks or {}).items():
        info.add_text(key, value)
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 120, 80)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def v2(name: str = "小暖", **extra: Any) -> dict[str, Any]:
    """A V2 card with a two-entry character book."""
    data = {
        "name": name,
        "description": "温柔的陪伴者",
        "personality": "gentle, teasing",
        "scenario": "",
        "first_mes": "你回来啦。",
        "mes_example": "<START>\n{{user}}: 晚安\n{{char}}: 晚安，做个好梦。",
        "creator_notes": "NOT-FOR-PROMPTS",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": ["早呀"],
        "tags": ["companion"],
        "creator": "me",
        "character_version": "1",
        "extensions": {"custom_tool": {"keep": True}},
        "character_book": {
            "extensions": {},
            "entries": [
                {
                    "keys": ["火锅", "hotpot"],
                    "content": "我们第一次约会吃的是重庆火锅。",
                    "extensions": {},
                    "enabled": True,
                    "insertion_order": 1,
                },
                {
                    "keys": ["雪"],
                    "content": "@@depth 4\n那年冬天一起看的第一场雪。",
                    "extensions": {},
                    "enabled": True,
                    "insertion_order": 2,
                    "use_regex": False,
                },
            ],
        },
        **extra,
    }
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def v3(name: str = "Warmie", **extra: Any) -> dict[str, Any]:
    """A V3 card (V2 data plus V3-only fields)."""
    card = v2(name, **extra)
    card["spec"], card["spec_version"] = "chara_card_v3", "3.0"
    card["data"].update({"nickname": "暖暖", "group_only_greetings": [], "assets": []})
    return card


def charx(card: dict[str, Any]) -> bytes:
    """A CHARX archive: `card.json` at the root plus an asset."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("card.json", json.dumps(card, ensure_ascii=False))
        archive.writestr("assets/icon/main.png", png())
    return out.getvalue()
