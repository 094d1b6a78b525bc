"""The memorial wall's tables: group settings, posts, their images, candles, full-text search."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiosqlite

from bot.services.storage.db import Database

BrowseMode = Literal["newest", "random", "companion", "member", "mine"]

_POST_COLUMNS = (
    "p.id, p.group_id, p.person_id, p.poster_name, p.anonymous, p.caption, p.companion,"
    " p.farewell_date, p.ocr_text, p.ocr_status, p.created_at,"
    " (SELECT COUNT(*) FROM memorial_candles c WHERE c.post_id = p.id) AS candles"
)


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """How one group's wall works."""

    id: int
    platform: str
    chat_id: str
    title: str
    wall_target: str | None
    allow_anonymous: bool
    removal: str
    introduced: bool


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One stored screenshot of a post."""

    digest: str
    ext: str
    width: int
    height: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Post:
    """A farewell on the wall."""

    id: int
    group_id: int
    person_id: int
    poster_name: str
    anonymous: bool
    caption: str
    companion: str
    farewell_date: str
    ocr_text: str
    ocr_status: str
    created_at: float
    candles: int
    images: tuple[ImageRef, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class NewPost:
    """What `/farewell` stores."""

    group_id: int
    person_id: int
    poster_name: str
    anonymous: bool
    caption: str
    companion: str
    farewell_date: str
    images: Sequence[ImageRef]


def fts_phrase(query: str) -> str:
    """Quote user text as one FTS5 string, so its punctuation is never query syntax."""
    return '"' + query.replace('"', '""') + '"'


def like_pattern(query: str) -> str:
    """A LIKE pattern matching `query` anywhere, with `%`, `_` and `\\` escaped."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class MemorialRepo:
    """Typed access to the memorial tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- groups -------------------------------------------------------------------------

    async def ensure_group(self, platform: str, chat_id: str, title: str = "") -> GroupSettings:
        """The group's settings, created with defaults on first use."""
        found = await self.find_group(platform, chat_id)
        if found is not None:
            return found
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO memorial_groups (platform, chat_id, title, created_at)"
                " VALUES (?, ?, ?, ?)",
                (platform, chat_id, title, time.time()),
            )
        group = await self.find_group(platform, chat_id)
        assert group is not None
        return group

    async def find_group(self, platform: str, chat_id: str) -> GroupSettings | None:
        row = await self.db.fetchone(
            "SELECT id, platform, chat_id, title, wall_target, allow_anonymous, removal, introduced"
            " FROM memorial_groups WHERE platform = ? AND chat_id = ?",
            (platform, chat_id),
        )
        return _group(row) if row else None

    async def group_by_id(self, group_id: int) -> GroupSettings | None:
        row = await self.db.fetchone(
            "SELECT id, platform, chat_id, title, wall_target, allow_anonymous, removal, introduced"
            " FROM memorial_groups WHERE id = ?",
            (group_id,),
        )
        return _group(row) if row else None

    async def update_group(self, group_id: int, **changes: Any) -> None:
        """Change settings; keys are column names from a fixed allow-list."""
        allowed = {"title", "wall_target", "allow_anonymous", "removal", "introduced"}
        if not changes:
            return
        if not set(changes) <= allowed:
            raise ValueError(f"unknown setting {sorted(set(changes) - allowed)}")
        assignments = ", ".join(f"{name} = ?" for name in changes)
        await self.db.execute(
            f"UPDATE memorial_groups SET {assignments} WHERE id = ?",  # names from the allow-list
            (*changes.values(), group_id),
        )

    async def mark_introduced(self, group_id: int) -> bool:
        """Set the introduced flag; True only for the call that flipped it (exactly once)."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE memorial_groups SET introduced = 1 WHERE id = ? AND introduced = 0",
                (group_id,),
            )
            return cur.rowcount > 0

    # --- posts --------------------------------------------------------------------------

    async def add_post(self, post: NewPost, *, now: float | None = None) -> int:
        """Store a post and its image rows in one transaction; returns the post id."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "INSERT INTO memorial_posts (group_id, person_id, poster_name, anonymous, caption,"
                " companion, farewell_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    post.group_id,
                    post.person_id,
                    post.poster_name,
                    int(post.anonymous),
                    post.caption,
                    post.companion,
                    post.farewell_date,
                    now if now is not None else time.time(),
                ),
            )
            post_id = int(cur.lastrowid or 0)
            await conn.executemany(
                "INSERT INTO memorial_images (post_id, position, digest, ext, width, height, bytes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (post_id, i, img.digest, img.ext, img.width, img.height, img.bytes)
                    for i, img in enumerate(post.images)
                ],
            )
        return post_id

    async def get(self, post_id: int) -> Post | None:
        """One post with its images and candle count."""
        rows = await self.db.fetchall(
            f"SELECT {_POST_COLUMNS} FROM memorial_posts p WHERE p.id = ?", (post_id,)
        )
        posts = await self._with_images(rows)
        return posts[0] if posts else None

    async def posts_today(self, group_id: int, person_id: int, since: float) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM memorial_posts WHERE group_id = ? AND person_id = ?"
            " AND created_at >= ?",
            (group_id, person_id, since),
        )
        return int(row[0]) if row else 0

    async def browse(
        self,
        group_id: int,
        mode: BrowseMode,
        *,
        person_id: int | None = None,
        name: str = "",
        limit: int = 50,
    ) -> list[Post]:
        """Posts of a group: newest first, random, by companion, by (named) member, or mine.

        By-member and mine never list anonymous posts: those answers are visible in the group.
        """
        where = ["p.group_id = ?"]
        params: list[Any] = [group_id]
        order = "p.created_at DESC, p.id DESC"
        if mode == "random":
            order = "RANDOM()"
        elif mode == "companion":
            where.append("p.companion LIKE ? ESCAPE '\\'")
            params.append(like_pattern(name.strip()))
        elif mode == "member":
            where.append("p.anonymous = 0 AND p.poster_name LIKE ? ESCAPE '\\'")
            params.append(like_pattern(name.strip()))
        elif mode == "mine":
            where.append("p.anonymous = 0 AND p.person_id = ?")
            params.append(person_id)
        rows = await self.db.fetchall(
            f"SELECT {_POST_COLUMNS} FROM memorial_posts p WHERE {' AND '.join(where)}"
            f" ORDER BY {order} LIMIT ?",
            (*params, limit),
        )
        return await self._with_images(rows)

    async def search(self, group_id: int, query: str, *, limit: int = 50) -> list[Post]:
        """Posts whose caption, companion name or screenshot text contains `query`."""
        query = query.strip()
        if not query:
            return []
        if len(query) >= 3:
            rows = await self.db.fetchall(
                f"SELECT {_POST_COLUMNS} FROM memorial_fts f JOIN memorial_posts p ON p.id = f.rowid"
                " WHERE memorial_fts MATCH ? AND p.group_id = ? ORDER BY f.rank LIMIT ?",
                (fts_phrase(query), group_id, limit),
            )
        else:
            # Trigrams need three characters; short queries scan this group's rows instead.
            pattern = like_pattern(query)
            rows = await self.db.fetchall(
                f"SELECT {_POST_COLUMNS} FROM memorial_posts p WHERE p.group_id = ? AND"
                " (p.caption LIKE ? ESCAPE '\\' OR p.companion LIKE ? ESCAPE '\\'"
                " OR p.ocr_text LIKE ? ESCAPE '\\')"
                " ORDER BY p.created_at DESC LIMIT ?",
                (group_id, pattern, pattern, pattern, limit),
            )
        return await self._with_images(rows)

    async def posts_of(self, group_id: int, person_id: int | None = None) -> list[Post]:
        """Every post of a group (or of one person in it, anonymous ones excluded), newest first."""
        if person_id is None:
            rows = await self.db.fetchall(
                f"SELECT {_POST_COLUMNS} FROM memorial_posts p WHERE p.group_id = ?"
                " ORDER BY p.created_at DESC, p.id DESC",
                (group_id,),
            )
        else:
            rows = await self.db.fetchall(
                f"SELECT {_POST_COLUMNS} FROM memorial_posts p WHERE p.group_id = ?"
                " AND p.person_id = ? AND p.anonymous = 0 ORDER BY p.created_at DESC, p.id DESC",
                (group_id, person_id),
            )
        return await self._with_images(rows)

    async def posts_by_person(self, person_id: int, limit: int = 50) -> list[Post]:
        """A person's own posts in every group, anonymous ones included (for their DMs only)."""
        rows = await self.db.fetchall(
            f"SELECT {_POST_COLUMNS} FROM memorial_posts p WHERE p.person_id = ?"
            " ORDER BY p.created_at DESC, p.id DESC LIMIT ?",
            (person_id, limit),
        )
        return await self._with_images(rows)

    async def remove(self, post_id: int) -> list[tuple[str, str]]:
        """Delete a post; returns the (digest, ext) of images no remaining post references."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "SELECT DISTINCT digest, ext FROM memorial_images WHERE post_id = ?", (post_id,)
            )
            images = [(str(r[0]), str(r[1])) for r in await cur.fetchall()]
            await conn.execute("DELETE FROM memorial_posts WHERE id = ?", (post_id,))
            orphans = []
            for digest, ext in images:
                cur = await conn.execute(
                    "SELECT 1 FROM memorial_images WHERE digest = ?"
                    " UNION ALL SELECT 1 FROM memorial_keepsakes WHERE digest = ? LIMIT 1",
                    (digest, digest),
                )
                if await cur.fetchone() is None:
                    orphans.append((digest, ext))
        return orphans

    async def referenced_digests(self) -> set[str]:
        """Every image digest some post still uses (for sweeping files left by a crash)."""
        rows = await self.db.fetchall(
            "SELECT digest FROM memorial_images UNION SELECT digest FROM memorial_keepsakes"
        )
        return {str(r[0]) for r in rows}

    async def add_keepsake(
        self, person_id: int, memory_id: int, post_id: int, images: Sequence[ImageRef]
    ) -> None:
        """Record that a person's memory keeps these screenshots."""
        now = time.time()
        await self.db.executemany(
            "INSERT INTO memorial_keepsakes (person_id, memory_id, post_id, digest, ext, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(person_id, memory_id, post_id, img.digest, img.ext, now) for img in images],
        )

    # --- a person's rights (called inside the privacy service's transaction) -------------

    @staticmethod
    async def delete_person(conn: Any, person_id: int) -> int:
        """Delete a person's posts (with their images' rows and candles), candles and keepsakes."""
        removed = 0
        for sql in (
            "DELETE FROM memorial_keepsakes WHERE person_id = ?",
            "DELETE FROM memorial_candles WHERE person_id = ?",
            "DELETE FROM memorial_posts WHERE person_id = ?",
        ):
            cur = await conn.execute(sql, (person_id,))
            removed += max(cur.rowcount, 0)
        return removed

    @staticmethod
    async def move_person(conn: Any, source: int, target: int) -> None:
        """Give `source`'s posts, candles and keepsakes to `target` (one candle per post stays)."""
        await conn.execute(
            "UPDATE memorial_posts SET person_id = ? WHERE person_id = ?", (target, source)
        )
        await conn.execute(
            "UPDATE OR IGNORE memorial_candles SET person_id = ? WHERE person_id = ?",
            (target, source),
        )
        await conn.execute("DELETE FROM memorial_candles WHERE person_id = ?", (source,))
        await conn.execute(
            "UPDATE memorial_keepsakes SET person_id = ? WHERE person_id = ?", (target, source)
        )

    # --- candles ------------------------------------------------------------------------

    async def light_candle(self, post_id: int, person_id: int) -> tuple[bool, int]:
        """Light one candle per person; returns (newly lit, count now)."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO memorial_candles (post_id, person_id, lit_at)"
                " VALUES (?, ?, ?)",
                (post_id, person_id, time.time()),
            )
            lit = cur.rowcount > 0
            cur = await conn.execute(
                "SELECT COUNT(*) FROM memorial_candles WHERE post_id = ?", (post_id,)
            )
            row = await cur.fetchone()
        return lit, int(row[0]) if row else 0

    # --- OCR queue ----------------------------------------------------------------------

    async def pending_ocr(self, limit: int = 10) -> list[Post]:
        rows = await self.db.fetchall(
            f"SELECT {_POST_COLUMNS} FROM memorial_posts p WHERE p.ocr_status = 'pending'"
            " ORDER BY p.id LIMIT ?",
            (limit,),
        )
        return await self._with_images(rows)

    async def pending_in_group(self, group_id: int) -> int:
        """How many posts of a group still wait for their screenshots to be read."""
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM memorial_posts WHERE group_id = ? AND ocr_status = 'pending'",
            (group_id,),
        )
        return int(row[0]) if row else 0

    async def set_ocr(self, post_id: int, text: str, status: str) -> None:
        await self.db.execute(
            "UPDATE memorial_posts SET ocr_text = ?, ocr_status = ? WHERE id = ?",
            (text, status, post_id),
        )

    # --- helpers ------------------------------------------------------------------------

    async def _with_images(self, rows: Sequence[aiosqlite.Row]) -> list[Post]:
        if not rows:
            return []
        ids = [int(r[0]) for r in rows]
        marks = ",".join("?" * len(ids))
        image_rows = await self.db.fetchall(
            "SELECT post_id, digest, ext, width, height, bytes FROM memorial_images"
            f" WHERE post_id IN ({marks}) ORDER BY post_id, position",
            ids,
        )
        images: dict[int, list[ImageRef]] = {}
        for r in image_rows:
            images.setdefault(int(r[0]), []).append(
                ImageRef(str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]))
            )
        return [_post(r, tuple(images.get(int(r[0]), ()))) for r in rows]


def _group(row: aiosqlite.Row) -> GroupSettings:
    return GroupSettings(
        id=int(row[0]),
        platform=str(row[1]),
        chat_id=str(row[2]),
        title=str(row[3]),
        wall_target=row[4],
        allow_anonymous=bool(row[5]),
        removal=str(row[6]),
        introduced=bool(row[7]),
    )


def _post(row: aiosqlite.Row, images: tuple[ImageRef, ...]) -> Post:
    return Post(
        id=int(row[0]),
        group_id=int(row[1]),
        person_id=int(row[2]),
        poster_name=str(row[3]),
        anonymous=bool(row[4]),
        caption=str(row[5]),
        companion=str(row[6]),
        farewell_date=str(row[7]),
        ocr_text=str(row[8]),
        ocr_status=str(row[9]),
        created_at=float(row[10]),
        candles=int(row[11]),
        images=images,
    )
