"""The memorial wall, taken home: a zip with a static HTML gallery and a JSON manifest.

The zip unpacks into one folder:

    afterglow-<slug>-<date>/index.html      the gallery (inline CSS, no script, no network)
    afterglow-<slug>-<date>/manifest.json   every post as data (schema `afterglow.memorial-export/1`)
    afterglow-<slug>-<date>/images/…        the cleaned screenshots, named by content hash
    afterglow-<slug>-<date>/thumbs/…        JPEG thumbnails shown on the page

Every text on the page comes from the catalogs in the group's language; every user text is
HTML-escaped. A Content-Security-Policy forbids any network fetch, so the page reads the same offline
in ten years. When the full images would make the zip larger than the platform can send, the
export keeps the thumbnails only and says so on the page.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, Protocol

from babel.dates import format_date

from bot.services.images import ImageStore

SCHEMA: Final = "afterglow.memorial-export/1"


class Translator(Protocol):
    """Catalog lookups in one language (an `Invocation` is one)."""

    def t(self, key: str, **params: Any) -> str: ...

    def tn(self, key: str, n: int, **params: Any) -> str: ...


@dataclass(frozen=True, slots=True)
class GalleryImage:
    """One stored screenshot of a post."""

    digest: str
    ext: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class GalleryPost:
    """One farewell as the gallery shows it; `poster` is None for anonymous posts."""

    id: int
    created_at: datetime
    images: tuple[GalleryImage, ...]
    caption: str = ""
    companion: str = ""
    date: str = ""
    poster: str | None = None
    candles: int = 0
    ocr_text: str = ""


@dataclass(frozen=True, slots=True)
class GalleryRequest:
    """What to export: the group's title, its language, the posts, and the size budget."""

    title: str
    locale: str
    posts: Sequence[GalleryPost]
    exported_at: datetime
    personal: bool = False
    max_bytes: int = 24 * 1024 * 1024
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GalleryExport:
    """The finished zip and a few facts about it."""

    filename: str
    data: bytes
    posts: int
    images: int
    thumbs_only: bool
    total: int = 0

    @property
    def partial(self) -> bool:
        """True when only the newest posts fitted into one file."""
        return self.posts < self.total


async def build_gallery(
    request: GalleryRequest, store: ImageStore, tr: Translator
) -> GalleryExport:
    """Build the export zip in a worker thread (reads images from `store`)."""
    return await asyncio.to_thread(_build, request, store, tr)


def _slug(title: str) -> str:
    ascii_part = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return ascii_part[:40] or "wall"


def _fit(request: GalleryRequest, store: ImageStore) -> tuple[list[GalleryPost], bool]:
    """The posts that fit the size budget, and whether only thumbnails go in.

    Full images go in when they all fit; otherwise thumbnails only, and when even those are too
    many, the newest posts (the request's order) up to the budget.
    """
    budget = request.max_bytes * 0.9
    seen: set[str] = set()
    full_size = 0
    for post in request.posts:
        for img in post.images:
            if img.digest not in seen and store.exists(img.digest, img.ext):
                full_size += store.path(img.digest, img.ext).stat().st_size
            seen.add(img.digest)
    if full_size <= budget:
        return list(request.posts), False
    kept: list[GalleryPost] = []
    seen.clear()
    used = 0
    for post in request.posts:
        cost = 0
        for img in post.images:
            thumb = store.thumb_path(img.digest)
            if img.digest not in seen and thumb.is_file():
                cost += thumb.stat().st_size
        if kept and used + cost > budget:
            break
        kept.append(post)
        used += cost
        seen.update(img.digest for img in post.images)
    return kept, True


def _build(request: GalleryRequest, store: ImageStore, tr: Translator) -> GalleryExport:
    posts, thumbs_only = _fit(request, store)
    total = len(request.posts)
    request = replace(request, posts=posts)
    images = {img.digest: img for post in request.posts for img in post.images}
    folder = f"afterglow-{_slug(request.title)}-{request.exported_at:%Y%m%d}"
    buffer = io.BytesIO()
    written: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for digest, image in images.items():
            thumb = store.thumb_path(digest)
            if thumb.is_file():
                # Images are already compressed; storing them saves time and nothing else.
                archive.write(thumb, f"{folder}/thumbs/{digest}.jpg", zipfile.ZIP_STORED)
                written.add(f"thumbs/{digest}.jpg")
            if not thumbs_only and store.exists(digest, image.ext):
                name = f"images/{digest}.{image.ext}"
                archive.write(store.path(digest, image.ext), f"{folder}/{name}", zipfile.ZIP_STORED)
                written.add(name)
        page = render_page(request, tr, written, thumbs_only=thumbs_only, total=total)
        archive.writestr(f"{folder}/index.html", page)
        manifest = build_manifest(request, written)
        archive.writestr(
            f"{folder}/manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2)
        )
    stamp = f"{request.exported_at:%Y%m%d}"
    return GalleryExport(
        filename=f"afterglow-{_slug(request.title)}-{stamp}.zip",
        data=buffer.getvalue(),
        posts=len(request.posts),
        images=len(images),
        thumbs_only=thumbs_only,
        total=total,
    )


def build_manifest(request: GalleryRequest, written: set[str]) -> dict[str, Any]:
    """The export as plain data, for people and for a future bot to import."""
    return {
        "schema": SCHEMA,
        "title": request.title,
        "locale": request.locale,
        "exported_at": request.exported_at.isoformat(),
        "personal": request.personal,
        **request.extra,
        "posts": [
            {
                "id": post.id,
                "created_at": post.created_at.isoformat(),
                "companion": post.companion,
                "caption": post.caption,
                "date": post.date,
                "poster": post.poster,
                "anonymous": post.poster is None,
                "candles": post.candles,
                "ocr_text": post.ocr_text,
                "images": [_manifest_image(img, written) for img in post.images],
            }
            for post in request.posts
        ],
    }


def _manifest_image(img: GalleryImage, written: set[str]) -> dict[str, Any]:
    full = f"images/{img.digest}.{img.ext}"
    thumb = f"thumbs/{img.digest}.jpg"
    return {
        "sha256": img.digest,
        "file": full if full in written else None,
        "thumb": thumb if thumb in written else None,
        "width": img.width,
        "height": img.height,
    }


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _html_lang(locale: str) -> str:
    return "zh-Hans" if locale.startswith("zh") else "en"


def _long_date(moment: datetime, locale: str) -> str:
    return format_date(
        moment.date(), format="long", locale="zh_Hans_CN" if locale.startswith("zh") else "en"
    )


_CANDLE_SVG: Final = (
    '<svg class="flame" viewBox="0 0 24 32" aria-hidden="true">'
    '<path d="M12 2c2 5 6 7 6 13a6 6 0 0 1-12 0c0-4 3-6 3-9 2 2 3 3 3 6 1-2 1-6 0-10z"/>'
    '<rect x="9" y="24" width="6" height="8" rx="1.5"/></svg>'
)


def _card(post: GalleryPost, request: GalleryRequest, tr: Translator, written: set[str]) -> str:
    figures: list[str] = []
    for index, img in enumerate(post.images, start=1):
        thumb = f"thumbs/{img.digest}.jpg"
        full = f"images/{img.digest}.{img.ext}"
        alt = _e(tr.t("memorial.gallery.image_alt", number=index, count=len(post.images)))
        if thumb not in written:
            continue
        tag = f'<img src="{thumb}" alt="{alt}" loading="lazy">'
        figures.append(f'<a href="{full}">{tag}</a>' if full in written else tag)
    who = (
        _e(tr.t("memorial.gallery.shared_by", name=post.poster))
        if post.poster
        else _e(tr.t("memorial.gallery.anonymous"))
    )
    parts = [f'<article class="card" id="post-{post.id}">']
    if figures:
        parts.append(f'<div class="shots shots-{min(len(figures), 3)}">{"".join(figures)}</div>')
    parts.append('<div class="body">')
    if post.companion:
        parts.append(f"<h2>{_e(post.companion)}</h2>")
    if post.date:
        parts.append(f'<p class="when">{_e(post.date)}</p>')
    if post.caption:
        parts.append(f"<blockquote>{_e(post.caption)}</blockquote>")
    candles = _e(tr.tn("memorial.gallery.candles", post.candles, count=post.candles))
    parts.append(
        f'<p class="meta"><span>{who} · {_e(_long_date(post.created_at, request.locale))}</span>'
        f'<span class="candles">{_CANDLE_SVG}{candles}</span></p>'
    )
    if post.ocr_text.strip():
        parts.append(
            f"<details><summary>{_e(tr.t('memorial.gallery.ocr_heading'))}</summary>"
            f"<pre>{_e(post.ocr_text.strip())}</pre></details>"
        )
    parts.append(f'<p class="number">#{post.id}</p></div></article>')
    return "".join(parts)


def render_page(
    request: GalleryRequest,
    tr: Translator,
    written: set[str],
    *,
    thumbs_only: bool = False,
    total: int | None = None,
) -> str:
    """The complete, self-contained `index.html`."""
    heading_key = (
        "memorial.gallery.title_personal" if request.personal else "memorial.gallery.title"
    )
    heading = _e(tr.t(heading_key, group=request.title))
    count = _e(tr.tn("memorial.gallery.count", len(request.posts), count=len(request.posts)))
    exported = _e(
        tr.t("memorial.gallery.exported", date=_long_date(request.exported_at, request.locale))
    )
    cards = "".join(_card(post, request, tr, written) for post in request.posts)
    if not request.posts:
        cards = f'<p class="empty">{_e(tr.t("memorial.gallery.empty"))}</p>'
    note = f'<p class="note">{_e(tr.t("memorial.gallery.thumbs_only"))}</p>' if thumbs_only else ""
    if total is not None and total > len(request.posts):
        partial = tr.t("memorial.gallery.partial", shown=len(request.posts), total=total)
        note += f'<p class="note">{_e(partial)}</p>'
    return f"""<!doctype html>
<html lang="{_html_lang(request.locale)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self'; style-src 'unsafe-inline'">
<meta name="generator" content="Afterglow">
<title>{heading}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<div class="glow" aria-hidden="true"></div>
<p class="kicker">{_e(tr.t("memorial.gallery.kicker"))}</p>
<h1>{heading}</h1>
<p class="sub">{count} · {exported}</p>
<p class="dedication">{_e(tr.t("memorial.gallery.dedication"))}</p>
{note}
</header>
<main class="wall">{cards}</main>
<footer><p>{_e(tr.t("memorial.gallery.footer"))}</p></footer>
</body>
</html>
"""


_CSS: Final = """
:root{--paper:#f7f3ec;--card:#fffdf9;--ink:#2f2a26;--soft:#7a6f66;--line:#e8dfd3;--glow:#e9b872;
--flame:#e0a04a;--quote:#5b4f46;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--paper:#1c1a19;--card:#262321;--ink:#efe7dc;--soft:#a99d90;
--line:#3a3431;--glow:#b8833e;--flame:#f0b45c;--quote:#d9cfc3}}
*{box-sizing:border-box}
html{background:var(--paper)}
body{margin:0;color:var(--ink);background:var(--paper);
font:16px/1.7 "Noto Serif CJK SC","Source Han Serif SC","Songti SC","STSong",Georgia,"Times New Roman",serif;
-webkit-font-smoothing:antialiased}
header{position:relative;text-align:center;padding:72px 24px 40px;overflow:hidden}
.glow{position:absolute;left:50%;top:-140px;width:520px;height:320px;transform:translateX(-50%);
background:radial-gradient(closest-side,var(--glow),transparent);opacity:.28;pointer-events:none}
.kicker{position:relative;margin:0 0 10px;letter-spacing:.32em;text-transform:uppercase;font-size:12px;color:var(--soft)}
h1{position:relative;margin:0;font-weight:500;line-height:1.3;font-size:clamp(28px,4.2vw,44px);letter-spacing:.02em}
.sub{position:relative;margin:12px 0 0;color:var(--soft);font-size:15px}
.dedication{position:relative;max-width:560px;margin:22px auto 0;color:var(--quote);font-style:italic}
:lang(zh) .dedication,:lang(zh) blockquote{font-style:normal}
.dedication::after{content:"";display:block;width:48px;height:1px;margin:28px auto 0;background:var(--glow);opacity:.7}
.note{max-width:560px;margin:16px auto 0;font-size:14px;color:var(--soft)}
.wall{max-width:1180px;margin:0 auto;padding:8px 24px 40px;columns:320px 3;column-gap:24px}
.card{break-inside:avoid;margin:0 0 24px;background:var(--card);border:1px solid var(--line);border-radius:14px;
overflow:hidden;box-shadow:0 1px 2px rgba(60,40,20,.05),0 8px 24px rgba(60,40,20,.06)}
.shots{display:grid;gap:2px;background:var(--line)}
.shots-2{grid-template-columns:1fr 1fr}.shots-3{grid-template-columns:1fr 1fr 1fr}
.shots a,.shots img{display:block}
.shots img{width:100%;height:auto;max-height:460px;object-fit:cover;object-position:top;background:var(--paper)}
.shots-2,.shots-3{align-items:start;background:var(--card)}
.shots-2 img,.shots-3 img{max-height:none;border-bottom:1px solid var(--line)}
.body{padding:18px 20px 14px}
h2{margin:0;font-weight:500;font-size:22px;letter-spacing:.02em}
.when{margin:2px 0 0;color:var(--soft);font-size:14px}
blockquote{margin:14px 0 0;padding:0 0 0 14px;border-left:2px solid var(--glow);color:var(--quote);white-space:pre-wrap}
.meta{display:flex;justify-content:space-between;align-items:center;gap:12px;margin:16px 0 0;
font-size:13px;color:var(--soft);font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC",sans-serif}
.candles{display:inline-flex;align-items:center;gap:6px;white-space:nowrap}
.flame{width:12px;height:16px;fill:var(--flame)}
details{margin:12px 0 0;border-top:1px dashed var(--line);padding-top:10px;font-size:14px}
summary{cursor:pointer;color:var(--soft);font-family:system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC",sans-serif;font-size:13px}
pre{margin:8px 0 0;white-space:pre-wrap;word-break:break-word;font:inherit;color:var(--quote)}
.number{margin:8px 0 0;text-align:right;font-size:11px;color:var(--soft);opacity:.7}
.empty{text-align:center;color:var(--soft)}
footer{text-align:center;padding:24px 24px 56px;color:var(--soft);font-size:14px}
footer p{max-width:560px;margin:0 auto}
@media print{.glow{display:none}.card{box-shadow:none}details{display:block}details>pre{display:block}}
"""
