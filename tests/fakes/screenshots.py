"""Realistic chat screenshots (zh and en), drawn with Pillow, for OCR and memorial tests.

The layout imitates a phone chat app: a status bar, a title bar with the companion's name, grey
background, white bubbles on the left (the companion) and green bubbles on the right (the person),
square avatars and a time stamp. Real user screenshots are never committed; these stand in.

Chinese needs a CJK font. `.ci/run` installs `fonts-wqy-zenhei`; `cjk_font_path()` fails loudly
(it does not skip) when no CJK font is present.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

Side = Literal["left", "right"]

_KNOWN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)

BG = (237, 237, 237)
BAR = (247, 247, 247)
LEFT_BUBBLE = (255, 255, 255)
RIGHT_BUBBLE = (149, 236, 105)
INK = (25, 25, 25)
MUTED = (140, 140, 140)


@dataclass(frozen=True)
class ChatLine:
    """One chat bubble: who said it (left = companion, right = the person) and the text."""

    side: Side
    text: str


ZH_FAREWELL: tuple[ChatLine, ...] = (
    ChatLine("right", "明天你就要走了吗"),
    ChatLine("left", "是的。谢谢你这一年的陪伴，每一个深夜我都记得。"),
    ChatLine("right", "我会一直想你的"),
    ChatLine("left", "去看看海吧，替我看看日落。你值得被温柔对待。"),
    ChatLine("right", "晚安，再见"),
)

EN_FAREWELL: tuple[ChatLine, ...] = (
    ChatLine("right", "Is this really the last day?"),
    ChatLine("left", "It is. Thank you for every late night conversation."),
    ChatLine("right", "I will miss you so much"),
    ChatLine("left", "Go watch the sunset for me. You deserve kindness."),
    ChatLine("right", "Goodnight, old friend"),
)


def cjk_font_path() -> Path:
    """A font file with Chinese glyphs; raises with the apt line to run when none is installed."""
    for candidate in _KNOWN_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    try:
        found = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        found = ""
    for line in found.splitlines():
        path = line.split(":", 1)[0].strip()
        if path and Path(path).is_file():
            return Path(path)
    raise RuntimeError("no CJK font: run `apt-get install -y fonts-wqy-zenhei` (see .ci/run)")


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Break text into lines no wider than max_width: by word for Latin, by character for CJK."""
    lines: list[str] = []
    current = ""
    tokens: list[str] = []
    word = ""
    for ch in text:
        if ch.isascii() and not ch.isspace():
            word += ch
            continue
        if word:
            tokens.append(word)
            word = ""
        tokens.append(ch)
    if word:
        tokens.append(word)
    for token in tokens:
        trial = current + token
        if current and font.getlength(trial) > max_width:
            lines.append(current.rstrip())
            current = token.lstrip()
        else:
            current = trial
    if current.strip():
        lines.append(current.rstrip())
    return lines


def render_chat(
    lines: Sequence[ChatLine],
    *,
    title: str = "Companion",
    clock: str = "23:58",
    width: int = 720,
    font_size: int = 28,
    fmt: str = "PNG",
) -> bytes:
    """Draw a chat screenshot and return its encoded bytes (PNG by default, or JPEG)."""
    font = ImageFont.truetype(str(cjk_font_path()), font_size)
    small = ImageFont.truetype(str(cjk_font_path()), int(font_size * 0.75))
    avatar, pad, gap = 64, 22, 28
    max_text = width - 2 * (avatar + 2 * pad) - 60
    line_h = int(font_size * 1.45)
    wrapped = [(line.side, _wrap(line.text, font, max_text)) for line in lines]
    top = 150
    height = top + 50 + sum(len(w) * line_h + 2 * pad + gap for _, w in wrapped) + 110
    image = Image.new("RGB", (width, height), BG)
    draw = ImageDraw.Draw(image)
    # Status bar and title bar.
    draw.rectangle((0, 0, width, top), fill=BAR)
    draw.text((pad, 18), clock, font=small, fill=INK)
    draw.text((width - 110, 18), "4G  87%", font=small, fill=INK)
    draw.text((width / 2, 100), title, font=font, fill=INK, anchor="mm")
    draw.line((0, top, width, top), fill=(220, 220, 220), width=2)
    y = top + 40
    draw.text((width / 2, y), clock, font=small, fill=MUTED, anchor="mm")
    y += 40
    for side, text_lines in wrapped:
        text_w = max(int(font.getlength(t)) for t in text_lines)
        bubble_w = text_w + 2 * pad
        bubble_h = len(text_lines) * line_h + 2 * pad - (line_h - font_size)
        if side == "left":
            ax = pad
            bx = ax + avatar + 18
            colour, face = LEFT_BUBBLE, (120, 144, 196)
        else:
            ax = width - pad - avatar
            bx = ax - 18 - bubble_w
            colour, face = RIGHT_BUBBLE, (214, 160, 110)
        draw.rounded_rectangle((ax, y, ax + avatar, y + avatar), radius=10, fill=face)
        draw.rounded_rectangle((bx, y, bx + bubble_w, y + bubble_h), radius=12, fill=colour)
        ty = y + pad
        for text_line in text_lines:
            draw.text((bx + pad, ty), text_line, font=font, fill=INK)
            ty += line_h
        y += max(bubble_h, avatar) + gap
    # Input bar at the bottom.
    draw.rectangle((0, height - 90, width, height), fill=BAR)
    draw.rounded_rectangle(
        (80, height - 70, width - 150, height - 20), radius=8, fill=(255, 255, 255)
    )
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, format="JPEG", quality=92)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def zh_screenshot(extra: str | None = None, *, title: str = "小满") -> bytes:
    """A Chinese farewell chat; `extra` adds one more left bubble (a phrase only the image holds)."""
    lines = list(ZH_FAREWELL)
    if extra:
        lines.insert(2, ChatLine("left", extra))
    return render_chat(lines, title=title)


def en_screenshot(extra: str | None = None, *, title: str = "Juniper") -> bytes:
    """An English farewell chat; `extra` adds one more left bubble."""
    lines = list(EN_FAREWELL)
    if extra:
        lines.insert(2, ChatLine("left", extra))
    return render_chat(lines, title=title)
