"""/keep in direct messages: save one of your own farewell posts into your own memories.

This is the only bridge between the memorial wall and private memories, and it runs in DMs only:
the group-side memorial cog never receives a memory or persona service. A person can keep only
posts they made themselves (anonymous ones included, since only they see this answer).
"""

from __future__ import annotations

from typing import Final, Protocol

from bot.core import Cog, Invocation, Option, OptionType, UserRef, Where, command
from bot.services.memorial import MemorialService
from bot.services.storage.memorial import Post

#: The memory service's limit for one memory; long screenshot text is cut to fit.
MAX_BODY: Final = 4000


class KeepsakeMemory(Protocol):
    """What /keep needs of the memory service (issue 4): store one memory for a persona."""

    async def keep_text(self, user: UserRef, text: str, persona: str | None) -> int:
        """Store `text` as a memory of `persona` (None: the active one); returns its id."""
        ...


class Keepsake(Cog):
    """Lists a person's own farewell posts and keeps one as a private memory."""

    name = "keepsake"

    def __init__(self, memorial: MemorialService, memory: KeepsakeMemory) -> None:
        self.memorial = memorial
        self.memory = memory

    @command(
        "keep",
        where=Where.DM,
        options=[Option("post", OptionType.INTEGER), Option("persona")],
    )
    async def keep(
        self, inv: Invocation, post: int | None = None, persona: str | None = None
    ) -> None:
        """Keep your farewell post `post` (screenshots and their text) in your memories."""
        if post is None:
            await self._list(inv)
            return
        found = await self.memorial.own_post(inv.user, post)
        body = self.memory_body(inv, found)
        memory_id = await self.memory.keep_text(inv.user, body, persona)
        await self.memorial.keep(inv.user, found, memory_id)
        key = (
            "memorial.keep.saved" if found.ocr_status != "pending" else "memorial.keep.saved_early"
        )
        await inv.reply(inv.t(key, id=found.id, memory=memory_id))

    async def _list(self, inv: Invocation) -> None:
        posts = await self.memorial.own_posts(inv.user)
        if not posts:
            await inv.reply(inv.t("memorial.keep.none"))
            return
        lines = [inv.t("memorial.keep.list_header")]
        for p in posts:
            title = p.companion or inv.t("memorial.card.title_unnamed")
            extra = inv.t("memorial.keep.anonymous_mark") if p.anonymous else ""
            lines.append(
                f"#{p.id} · {title}" + (f" · {p.farewell_date}" if p.farewell_date else "") + extra
            )
        lines.append(inv.t("memorial.keep.list_footer"))
        await inv.replier.paginate(["\n".join(lines)])

    @staticmethod
    def memory_body(inv: Invocation, post: Post) -> str:
        """The memory text: what the post says and what its screenshots say."""
        parts = [
            inv.t(
                "memorial.keep.body_header",
                companion=post.companion or inv.t("memorial.card.title_unnamed"),
                date=post.farewell_date or "—",
            )
        ]
        if post.caption:
            parts.append(post.caption)
        if post.ocr_text:
            parts += [inv.t("memorial.keep.body_ocr"), post.ocr_text]
        body = "\n".join(parts)
        return body if len(body) <= MAX_BODY else body[: MAX_BODY - 1] + "…"
