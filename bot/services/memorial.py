"""The memorial wall: farewell posts with screenshots, candles, browsing, search, export, removal.

Posting is a member's explicit choice: nothing from a group is stored unless someone runs
`/farewell` with it (safety-research §7 C3). A post is saved before anything that can fail
afterwards (sending the card, reading its text); screenshots are read in the background, and
OCR failing never touches the post. This service knows nothing about memories or personas; the
DM-only keepsake cog reads a person's own posts through `own_post`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from bot.core.context import Replier
from bot.core.errors import NotFound, PermissionDenied, RateLimited, UserError
from bot.core.models import Attachment, ChatRef, UserRef
from bot.services.gallery import (
    GalleryExport,
    GalleryImage,
    GalleryPost,
    GalleryRequest,
    Translator,
    build_gallery,
)
from bot.services.i18n import DEFAULT_LOCALE, I18n, normalize_locale
from bot.services.images import MB, CleanImage, ImageLimits, ImageStore
from bot.services.ocr import OcrEngine, OcrUnavailable
from bot.services.storage.memorial import (
    BrowseMode,
    GroupSettings,
    ImageRef,
    MemorialRepo,
    NewPost,
    Post,
)
from bot.services.storage.users import Users

log = logging.getLogger(__name__)

ANONYMOUS_WORDS: Final = frozenset({"anonymous", "anon", "匿名", "匿名发布"})
_ISO_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_DAY = 24 * 3600


@dataclass(frozen=True, slots=True)
class MemorialLimits:
    """Caps for posts and exports (defaults follow safety-research §7 E5, E6)."""

    images: ImageLimits = field(default_factory=ImageLimits)
    posts_per_day: int = 20
    caption_chars: int = 1000
    companion_chars: int = 80
    date_chars: int = 40
    # Discord's smallest upload cap is 10 MB; larger walls fall back to thumbnails only.
    export_max_bytes: int = 9 * MB
    results: int = 50


@dataclass(frozen=True, slots=True)
class FarewellText:
    """The text parts of a farewell after interpreting positional input."""

    companion: str
    date: str
    caption: str
    anonymous: bool


def interpret_farewell_text(
    companion: str | None, date: str | None, caption: str | None, anonymous: bool | None
) -> FarewellText:
    """Make sense of `/farewell` options typed positionally on text platforms.

    `/farewell 匿名 小满 2026-02-13 谢谢你` posts anonymously for 小满; a "date" that holds no digit
    is the start of the caption (`/farewell 小满 谢谢你的陪伴`). Named options (Discord) pass
    through unchanged unless they are clearly misplaced the same way.
    """
    words = [w for w in (companion or "", date or "") if w]
    anon = bool(anonymous)
    rest = (caption or "").strip()
    if words and words[0].strip().lower() in ANONYMOUS_WORDS:
        anon = True
        words = words[1:]
        # The caption's first word moves up into the freed slot.
        if rest and len(words) < 2:
            head, _, tail = rest.partition(" ")
            words.append(head)
            rest = tail.strip()
    name = words[0].strip() if words else ""
    when = words[1].strip() if len(words) > 1 else ""
    if when and not any(ch.isdigit() for ch in when):
        rest = f"{when} {rest}".strip()
        when = ""
    match = _ISO_DATE.match(when)
    if match:
        y, m, d = (int(g) for g in match.groups())
        if 1 <= m <= 12 and 1 <= d <= 31:
            when = f"{y:04d}-{m:02d}-{d:02d}"
    return FarewellText(companion=name, date=when, caption=rest, anonymous=anon)


class MemorialService:
    """Everything the memorial cog and the adapters ask of the wall."""

    def __init__(
        self,
        repo: MemorialRepo,
        users: Users,
        images: ImageStore,
        i18n: I18n,
        ocr: OcrEngine | None = None,
        *,
        limits: MemorialLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.users = users
        self.images = images
        self.i18n = i18n
        self.ocr = ocr
        self.limits = limits or MemorialLimits()
        self.clock = clock
        self._wake = asyncio.Event()
        self._drain_task: asyncio.Task[int] | None = None
        # The start-up job and the per-post drain task may both run: one reader at a time.
        self._ocr_lock = asyncio.Lock()

    # --- groups ---------------------------------------------------------------------------

    async def group(self, chat: ChatRef) -> GroupSettings:
        """This group's wall settings (created with defaults the first time)."""
        return await self.repo.ensure_group(chat.platform, chat.id, chat.title)

    async def group_locale(self, chat: ChatRef) -> str:
        stored = await self.users.chat_locale(chat.platform, chat.id)
        return normalize_locale(stored) or DEFAULT_LOCALE

    async def post_locale(self, post: Post) -> str:
        """The language of the group a post belongs to (its card may sit in another channel)."""
        group = await self.repo.group_by_id(post.group_id)
        if group is None:
            return DEFAULT_LOCALE
        stored = await self.users.chat_locale(group.platform, group.chat_id)
        return normalize_locale(stored) or DEFAULT_LOCALE

    async def configure(
        self,
        chat: ChatRef,
        *,
        target: str | None = None,
        locale: str | None = None,
        anonymous: bool | None = None,
        removal: str | None = None,
    ) -> GroupSettings:
        """Apply `/setup` choices; `target` "here" means the group itself."""
        group = await self.group(chat)
        changes: dict[str, object] = {}
        if target is not None:
            cleaned = target.strip()
            if cleaned.lower() in ("here", "this", "这里", "本群"):
                changes["wall_target"] = None
            else:
                # Accept a Discord mention (<#123>) or a raw id; keep only id characters.
                ident = re.sub(r"[^0-9A-Za-z_:\-]", "", cleaned)
                if not ident:
                    raise UserError("memorial.setup.bad_target")
                changes["wall_target"] = ident
        if anonymous is not None:
            changes["allow_anonymous"] = int(anonymous)
        if removal is not None:
            if removal not in ("admins", "posters"):
                raise UserError("memorial.setup.bad_removal")
            changes["removal"] = removal
        if chat.title and chat.title != group.title:
            changes["title"] = chat.title
        await self.repo.update_group(group.id, **changes)
        if locale is not None:
            code = normalize_locale(locale) or DEFAULT_LOCALE
            await self.users.set_chat_locale(chat.platform, chat.id, "group", code)
        return await self.group(chat)

    async def on_joined_group(
        self, chat: ChatRef, replier: Replier, locale_hint: str | None = None
    ) -> bool:
        """Introduce the bot in a group it just joined, once ever; True when it spoke now.

        Adapters call this from their member-joined / guild-join events.
        """
        group = await self.group(chat)
        if group.introduced or not await self.repo.mark_introduced(group.id):
            return False
        stored = normalize_locale(await self.users.chat_locale(chat.platform, chat.id))
        locale = stored or normalize_locale(locale_hint) or DEFAULT_LOCALE
        await replier.send(self.i18n.t(locale, "memorial.intro"))
        return True

    # --- posting --------------------------------------------------------------------------

    async def farewell(
        self,
        chat: ChatRef,
        user: UserRef,
        attachments: Sequence[Attachment],
        text: FarewellText,
    ) -> Post:
        """Check, clean and store a farewell; returns the stored post (OCR queued)."""
        group = await self.group(chat)
        if text.anonymous and not group.allow_anonymous:
            raise UserError("memorial.anonymous_off")
        limits = self.limits
        self._check_length(text.caption, limits.caption_chars, "caption")
        self._check_length(text.companion, limits.companion_chars, "companion")
        self._check_length(text.date, limits.date_chars, "date")
        if not attachments:
            raise UserError("images.none")
        if len(attachments) > limits.images.max_images:
            raise UserError(
                "images.too_many", limit=limits.images.max_images, count=len(attachments)
            )
        for attachment in attachments:
            # Refuse on the declared size before downloading anything.
            if attachment.size > limits.images.max_bytes:
                raise UserError("images.too_big", limit_mb=limits.images.max_bytes // MB)
        person = await self.users.resolve(user.platform, user.id, user.name)
        since = self.clock() - _DAY
        if await self.repo.posts_today(group.id, person, since) >= limits.posts_per_day:
            raise RateLimited("memorial.too_many_today", limit=limits.posts_per_day)
        blobs = [await a.fetch(limits.images.max_bytes) for a in attachments]
        cleaned = await self.images.clean_many(blobs)
        async with self.images.lock:
            post_id = await self._store(group.id, person, user, text, cleaned)
        log.info("memorial post %s stored", post_id)
        self.kick_ocr()
        post = await self.repo.get(post_id)
        assert post is not None
        return post

    async def _store(
        self,
        group_id: int,
        person: int,
        user: UserRef,
        text: FarewellText,
        cleaned: list[CleanImage],
    ) -> int:
        # Files, then rows, under the store's lock: a removal cannot delete a file in between.
        stored = await self.images.write_many(cleaned)
        return await self.repo.add_post(
            NewPost(
                group_id=group_id,
                person_id=person,
                poster_name=user.name or user.id,
                anonymous=text.anonymous,
                caption=text.caption,
                companion=text.companion,
                farewell_date=text.date,
                images=[ImageRef(s.digest, s.ext, s.width, s.height, s.size) for s in stored],
            ),
            now=self.clock(),
        )

    @staticmethod
    def _check_length(value: str, limit: int, field: str) -> None:
        if len(value) > limit:
            raise UserError(f"memorial.too_long.{field}", limit=limit)

    async def post_in_group(self, chat: ChatRef, post_id: int) -> Post:
        """A post of this group (NotFound for other groups' posts)."""
        post = await self.repo.get(post_id)
        group = await self.repo.find_group(chat.platform, chat.id)
        if post is None or group is None or post.group_id != group.id:
            raise NotFound("memorial.not_found", id=post_id)
        return post

    async def image_bytes(self, post: Post) -> list[tuple[ImageRef, bytes]]:
        """The stored screenshots of a post (missing files are skipped)."""
        found = []
        for ref in post.images:
            if self.images.exists(ref.digest, ref.ext):
                found.append((ref, await self.images.read(ref.digest, ref.ext)))
        return found

    # --- candles --------------------------------------------------------------------------

    async def light_candle(self, chat: ChatRef, user: UserRef, post_id: int) -> tuple[bool, Post]:
        """Light this person's candle on a post; returns (newly lit, the post with its count).

        The button may sit in the wall channel rather than the group chat, so only the
        platform has to match.
        """
        post = await self.repo.get(post_id)
        group = await self.repo.group_by_id(post.group_id) if post else None
        if post is None or group is None or group.platform != chat.platform:
            raise NotFound("memorial.not_found", id=post_id)
        person = await self.users.resolve(user.platform, user.id, user.name)
        lit, _ = await self.repo.light_candle(post_id, person)
        refreshed = await self.repo.get(post_id)
        assert refreshed is not None
        return lit, refreshed

    # --- finding --------------------------------------------------------------------------

    async def browse(
        self, chat: ChatRef, user: UserRef, mode: BrowseMode, name: str = ""
    ) -> list[Post]:
        """Posts of this group in the chosen order or filter."""
        group = await self.group(chat)
        person = None
        if mode == "mine":
            person = await self.users.resolve(user.platform, user.id, user.name)
        elif mode in ("companion", "member") and not name.strip():
            raise UserError("memorial.browse.need_name")
        posts = await self.repo.browse(
            group.id, mode, person_id=person, name=name, limit=self.limits.results
        )
        if mode == "random":
            random.shuffle(posts)
        return posts

    async def search(self, chat: ChatRef, query: str) -> list[Post]:
        """Posts whose caption, companion name or screenshot text contains `query`."""
        if not query.strip():
            raise UserError("memorial.search.empty")
        group = await self.group(chat)
        return await self.repo.search(group.id, query, limit=self.limits.results)

    async def unread(self, chat: ChatRef) -> int:
        """Posts of this group whose screenshots are not read yet (search cannot see them)."""
        if self.ocr is None:
            return 0
        group = await self.group(chat)
        return await self.repo.pending_in_group(group.id)

    # --- removal --------------------------------------------------------------------------

    async def check_removal(
        self, chat: ChatRef, user: UserRef, post_id: int, is_admin: bool
    ) -> Post:
        """The post, if this person may remove it here (raises otherwise)."""
        post = await self.post_in_group(chat, post_id)
        group = await self.group(chat)
        person = await self.users.resolve(user.platform, user.id, user.name)
        if post.person_id == person:
            return post
        if is_admin and group.removal == "admins":
            return post
        raise PermissionDenied("memorial.remove.not_yours")

    async def remove(self, post: Post) -> int:
        """Delete a post; images no other post uses are deleted from disk. Returns files removed."""
        async with self.images.lock:
            orphans = await self.repo.remove(post.id)
            removed = await self.images.delete(orphans)
        log.info("memorial post %s removed (%s image files deleted)", post.id, removed)
        return removed

    # --- export ---------------------------------------------------------------------------

    async def export(
        self,
        chat: ChatRef,
        user: UserRef,
        is_admin: bool,
        tr: Translator,
        locale: str,
        *,
        max_bytes: int | None = None,
    ) -> GalleryExport:
        """The whole wall for admins; a member's own (named) posts otherwise.

        `max_bytes` overrides the upload-sized budget (the operator's CLI export has none).
        """
        group = await self.group(chat)
        person = None
        if not is_admin:
            person = await self.users.resolve(user.platform, user.id, user.name)
        posts = await self.repo.posts_of(group.id, person)
        if not posts:
            raise UserError("memorial.export.empty")
        request = GalleryRequest(
            title=group.title or chat.title or chat.id,
            locale=locale,
            posts=[_gallery_post(p) for p in posts],
            exported_at=datetime.fromtimestamp(self.clock(), UTC),
            personal=person is not None,
            max_bytes=max_bytes or self.limits.export_max_bytes,
        )
        return await build_gallery(request, self.images, tr)

    # --- keepsakes (DM side) -------------------------------------------------------------

    async def own_post(self, user: UserRef, post_id: int) -> Post:
        """One of this person's own posts, anonymous ones included (NotFound otherwise)."""
        person = await self.users.resolve(user.platform, user.id, user.name)
        post = await self.repo.get(post_id)
        if post is None or post.person_id != person:
            raise NotFound("memorial.not_found", id=post_id)
        return post

    async def keep(self, user: UserRef, post: Post, memory_id: int) -> None:
        """Tie a person's new memory to the post's screenshots, so they outlive the post."""
        person = await self.users.resolve(user.platform, user.id, user.name)
        await self.repo.add_keepsake(person, memory_id, post.id, post.images)

    async def own_posts(self, user: UserRef) -> list[Post]:
        """This person's posts in every group, newest first."""
        person = await self.users.resolve(user.platform, user.id, user.name)
        return await self.repo.posts_by_person(person, self.limits.results)

    # --- background OCR -------------------------------------------------------------------

    def kick_ocr(self) -> None:
        """Make sure pending posts get read soon (a drain task, or wake the running job)."""
        self._wake.set()
        if self.ocr is None:
            return
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = asyncio.create_task(self.drain(), name="memorial-ocr")

    async def wait_for_ocr(self) -> None:
        """Wait until the queue that `kick_ocr` started is empty (tests, the console)."""
        while self._drain_task is not None and not self._drain_task.done():
            await asyncio.wait({self._drain_task})

    async def drain(self) -> int:
        """Read the text of every pending post now; returns how many were processed."""
        done = 0
        async with self._ocr_lock:
            while True:
                batch = await self.repo.pending_ocr(limit=5)
                if not batch:
                    return done
                for post in batch:
                    await self._read_post(post)
                    done += 1

    async def run_ocr(self, stop: asyncio.Event) -> None:
        """Background job: drain the queue at start and whenever a post arrives, until `stop`.

        At start it also deletes image files no post or keepsake references (a crash between
        writing the files and the rows leaves such files behind).
        """
        try:
            swept = await self.sweep_orphans()
            if swept:
                log.info("memorial: removed %s unreferenced image files", swept)
        except Exception as exc:
            log.warning("memorial sweep failed: %s", type(exc).__name__)
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.drain()
            except Exception as exc:  # the job must outlive one bad row
                log.warning("memorial OCR pass failed: %s", type(exc).__name__)
            waiter = asyncio.create_task(self._wake.wait())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, stopper):
                task.cancel()

    async def _read_post(self, post: Post) -> None:
        if self.ocr is None:
            await self.repo.set_ocr(post.id, "", "unavailable")
            return
        texts: list[str] = []
        status = "done"
        for ref in post.images:
            try:
                data = await self.images.read(ref.digest, ref.ext)
                result = await self.ocr.read(data)
            except OcrUnavailable:
                status = "unavailable"
                break
            except Exception as exc:
                # OCR is best effort: the post stays on the wall without searchable image text.
                log.warning("OCR failed for post %s: %s", post.id, type(exc).__name__)
                status = "failed"
                continue
            if result.text:
                texts.append(result.text)
        await self.repo.set_ocr(post.id, "\n\n".join(texts), status)
        log.info("memorial post %s OCR %s (%s chars)", post.id, status, sum(map(len, texts)))

    async def sweep_orphans(self) -> int:
        """Delete image files no post references (after a crash between disk and database)."""
        async with self.images.lock:
            return await self.images.sweep(await self.repo.referenced_digests())


def _gallery_post(post: Post) -> GalleryPost:
    return GalleryPost(
        id=post.id,
        created_at=datetime.fromtimestamp(post.created_at, UTC),
        images=tuple(GalleryImage(i.digest, i.ext, i.width, i.height) for i in post.images),
        caption=post.caption,
        companion=post.companion,
        date=post.farewell_date,
        poster=None if post.anonymous else post.poster_name,
        candles=post.candles,
        ocr_text=post.ocr_text,
    )


class MemorialPersonalData:
    """The wall's part of a person's rights: `/export` lists their posts, `/forget all` removes
    them (with their candles and keepsakes), `/link` moves them to the joined person.

    Implements `bot.services.exports.ExportSection` and `bot.services.privacy.PersonalData`.
    Deleting runs inside the privacy service's transaction, so the image files are swept by a
    task that waits for that transaction to end.
    """

    name = "memorial"

    def __init__(self, repo: MemorialRepo, images: ImageStore) -> None:
        self.repo = repo
        self.images = images
        self._sweeps: set[asyncio.Task[int]] = set()

    async def dump(self, person_id: int) -> list[dict[str, object]]:
        """The person's farewell posts (text and image hashes; screenshots stay on the wall)."""
        posts = await self.repo.posts_by_person(person_id, limit=10_000)
        return [
            {
                "id": p.id,
                "created_at": datetime.fromtimestamp(p.created_at, UTC).isoformat(),
                "companion": p.companion,
                "date": p.farewell_date,
                "caption": p.caption,
                "anonymous": p.anonymous,
                "candles": p.candles,
                "ocr_text": p.ocr_text,
                "images": [i.digest for i in p.images],
            }
            for p in posts
        ]

    async def restore(self, conn: object, person_id: int, data: object) -> int:
        """Posts belong to a group's wall, so an import does not recreate them."""
        return 0

    async def delete_person(self, conn: object, person_id: int) -> int:
        """Remove the person's posts, candles and keepsakes (inside the caller's transaction)."""
        removed = await self.repo.delete_person(conn, person_id)
        task = asyncio.create_task(self._sweep_after_commit())
        self._sweeps.add(task)
        task.add_done_callback(self._sweeps.discard)
        return removed

    async def move_person(self, conn: object, source: int, target: int) -> None:
        await self.repo.move_person(conn, source, target)

    async def _sweep_after_commit(self) -> int:
        # Taking the write lock waits for the deleting transaction to commit or roll back.
        async with self.repo.db.write():
            pass
        async with self.images.lock:
            return await self.images.sweep(await self.repo.referenced_digests())

    async def wait(self) -> None:
        """Wait for pending file sweeps (tests)."""
        while self._sweeps:
            await asyncio.gather(*self._sweeps, return_exceptions=True)
