"""The memorial wall in groups: /setup, /farewell, candles, /wall browse|search|show|export|remove.

This cog runs in groups, so it receives the memorial service only: no memories, personas or
conversation history ever reach it (safety-research §7 C1). It has no plain-message handler, so
screenshots shared in a group without `/farewell` are never stored (C3).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from bot.core import (
    Attachment,
    Button,
    ButtonContext,
    Cog,
    Invocation,
    NotFound,
    Option,
    OptionType,
    OutFile,
    Where,
    command,
    on_button,
)
from bot.services.i18n import I18n
from bot.services.memorial import MemorialService, interpret_farewell_text
from bot.services.storage.memorial import BrowseMode, Post

log = logging.getLogger(__name__)

MODES: Final = ("newest", "random", "companion", "member", "mine")
PAGE_SIZE: Final = 5
SNIPPET: Final = 24
SHOT_OPTIONS: Final = ("shot", "shot2", "shot3", "shot4")


def render_card(i18n: I18n, locale: str, post: Post) -> str:
    """The public card of a post, in the group's language."""
    t = i18n.t
    lines = [
        t(locale, "memorial.card.title", companion=post.companion)
        if post.companion
        else t(locale, "memorial.card.title_unnamed")
    ]
    if post.farewell_date:
        lines.append(post.farewell_date)
    if post.caption:
        lines += ["", t(locale, "memorial.card.caption", caption=post.caption)]
    who = (
        t(locale, "memorial.card.anonymous")
        if post.anonymous
        else t(locale, "memorial.card.by", name=post.poster_name)
    )
    candles = i18n.tn(locale, "memorial.card.candles", post.candles, count=post.candles)
    lines += ["", who, t(locale, "memorial.card.footer", id=post.id, candles=candles)]
    return "\n".join(lines)


def candle_button(i18n: I18n, locale: str, post: Post) -> Button:
    return Button(i18n.t(locale, "memorial.card.light"), f"candle:{post.id}")


def _snippet(text: str, query: str) -> str:
    """A short piece of `text` around the first match of `query`, on one line."""
    flat = " ".join(text.split())
    at = flat.lower().find(query.lower())
    if at < 0:
        return ""
    start = max(0, at - SNIPPET)
    end = min(len(flat), at + len(query) + SNIPPET)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")


class Memorial(Cog):
    """Group commands of the memorial wall."""

    name = "memorial"

    def __init__(self, memorial: MemorialService) -> None:
        self.memorial = memorial

    # --- setup ----------------------------------------------------------------------------

    @command(
        "setup",
        where=Where.GROUP,
        admin=True,
        options=[
            Option("channel"),
            Option("language", choices=("en", "zh")),
            Option("anonymous", OptionType.BOOLEAN),
            Option("removal", choices=("admins", "posters")),
        ],
    )
    async def setup(
        self,
        inv: Invocation,
        channel: str | None = None,
        language: str | None = None,
        anonymous: bool | None = None,
        removal: str | None = None,
    ) -> None:
        """Admins: where cards go, the group's language, anonymity and who may remove posts."""
        group = await self.memorial.configure(
            inv.chat, target=channel, locale=language, anonymous=anonymous, removal=removal
        )
        locale = await self.memorial.group_locale(inv.chat)
        t = inv.i18n.t
        await inv.reply(
            t(
                locale,
                "memorial.setup.current",
                target=group.wall_target or t(locale, "memorial.setup.here"),
                language=t(locale, f"language.name.{locale}"),
                anonymous=t(
                    locale, "memorial.setup.yes" if group.allow_anonymous else "memorial.setup.no"
                ),
                removal=t(locale, f"memorial.setup.removal.{group.removal}"),
            )
        )

    # --- posting --------------------------------------------------------------------------

    @command(
        "farewell",
        where=Where.GROUP,
        options=[
            Option("shot", OptionType.ATTACHMENT, required=True),
            Option("companion"),
            Option("date"),
            Option("caption"),
            Option("anonymous", OptionType.BOOLEAN),
            *(Option(name, OptionType.ATTACHMENT) for name in SHOT_OPTIONS[1:]),
        ],
    )
    async def farewell(
        self,
        inv: Invocation,
        companion: str | None = None,
        date: str | None = None,
        caption: str | None = None,
        anonymous: bool | None = None,
        **shots: Attachment,
    ) -> None:
        """Share farewell screenshots with the group's wall (the member's explicit choice)."""
        attachments = _collect(shots, inv.attachments)
        text = interpret_farewell_text(companion, date, caption, anonymous)
        post = await self.memorial.farewell(inv.chat, inv.user, attachments, text)
        # The post is saved; from here on a failure only affects how it is shown.
        group = await self.memorial.group(inv.chat)
        locale = await self.memorial.group_locale(inv.chat)
        await self._send_card(inv, post, locale, target=group.wall_target)
        # Anonymous posts get a private acknowledgement, so the answer does not name the poster
        # (Discord hides the invocation of an ephemeral reply; Telegram sends it by DM).
        await inv.reply(inv.t("memorial.posted", id=post.id), ephemeral=post.anonymous)

    async def _send_card(
        self, inv: Invocation, post: Post, locale: str, *, target: str | None = None
    ) -> None:
        files = [
            OutFile(data, f"farewell-{post.id}-{i}.{ref.ext}", is_image=True)
            for i, (ref, data) in enumerate(await self.memorial.image_bytes(post), start=1)
        ]
        i18n = self.memorial.i18n
        await inv.replier.send(
            render_card(i18n, locale, post),
            buttons=[candle_button(i18n, locale, post)],
            files=files,
            target=target,
        )

    # --- candles --------------------------------------------------------------------------

    @on_button("candle")
    async def candle(self, ctx: ButtonContext) -> None:
        """Light one candle per member; the card shows the new count."""
        try:
            post_id = int(ctx.payload)
        except ValueError:
            raise NotFound("memorial.not_found", id=ctx.payload[:12]) from None
        lit, post = await self.memorial.light_candle(ctx.chat, ctx.user, post_id)
        ctx.notice = ctx.t("memorial.candle.lit" if lit else "memorial.candle.already")
        if lit:
            locale = await self.memorial.post_locale(post)
            i18n = self.memorial.i18n
            await ctx.replier.edit(
                ctx.handle,
                render_card(i18n, locale, post),
                buttons=[candle_button(i18n, locale, post)],
            )

    # --- finding --------------------------------------------------------------------------

    @command(
        "wall",
        sub="browse",
        default_sub=True,
        where=Where.GROUP,
        options=[Option("mode", choices=MODES), Option("name")],
    )
    async def wall_browse(
        self, inv: Invocation, mode: str | None = None, name: str | None = None
    ) -> None:
        """Page through the wall: newest, random, by companion, by member, or mine."""
        chosen: BrowseMode = mode if mode in MODES else "newest"  # type: ignore[assignment]
        posts = await self.memorial.browse(inv.chat, inv.user, chosen, name or "")
        await self._pages(
            inv, posts, header=inv.t(f"memorial.wall.header.{chosen}", name=name or "")
        )

    @command("wall", sub="search", where=Where.GROUP, options=[Option("text", required=True)])
    async def wall_search(self, inv: Invocation, text: str = "") -> None:
        """Find posts by caption, companion name or the words inside the screenshots."""
        posts = await self.memorial.search(inv.chat, text)
        unread = await self.memorial.unread(inv.chat)
        # Just-posted screenshots are still being read; say so rather than look empty.
        note = inv.tn("memorial.search.unread", unread, count=unread) if unread else ""
        if not posts:
            await inv.reply("\n".join(filter(None, [inv.t("memorial.wall.empty"), note])))
            return
        header = inv.t("memorial.search.header", query=text.strip())
        await self._pages(inv, posts, header="\n".join(filter(None, [header, note])), query=text)

    @command(
        "wall",
        sub="show",
        where=Where.GROUP,
        options=[Option("id", OptionType.INTEGER, required=True)],
    )
    async def wall_show(self, inv: Invocation, id: int = 0) -> None:
        """Show one post's card again, with its screenshots and candle button."""
        post = await self.memorial.post_in_group(inv.chat, id)
        await self._send_card(inv, post, await self.memorial.group_locale(inv.chat))

    async def _pages(
        self, inv: Invocation, posts: Sequence[Post], *, header: str, query: str = ""
    ) -> None:
        if not posts:
            await inv.reply(inv.t("memorial.wall.empty"))
            return
        entries = [self._entry(inv, post, query) for post in posts]
        pages = [
            "\n\n".join([header, *entries[i : i + PAGE_SIZE]])
            for i in range(0, len(entries), PAGE_SIZE)
        ]
        await inv.replier.paginate(pages, ephemeral=inv.personal)

    @staticmethod
    def _entry(inv: Invocation, post: Post, query: str) -> str:
        title = post.companion or inv.t("memorial.card.title_unnamed")
        head = f"#{post.id} · {title}" + (f" · {post.farewell_date}" if post.farewell_date else "")
        who = (
            inv.t("memorial.card.anonymous")
            if post.anonymous
            else inv.t("memorial.card.by", name=post.poster_name)
        )
        candles = inv.tn("memorial.card.candles", post.candles, count=post.candles)
        lines = [head]
        if post.caption:
            lines.append(inv.t("memorial.card.caption", caption=post.caption))
        if query and query.lower() not in (post.caption + post.companion).lower():
            snippet = _snippet(post.ocr_text, query.strip())
            if snippet:
                lines.append(inv.t("memorial.search.in_image", snippet=snippet))
        lines.append(f"{who} · {candles}")
        return "\n".join(lines)

    # --- export and removal ---------------------------------------------------------------

    @command("wall", sub="export", where=Where.GROUP, personal=True)
    async def wall_export(self, inv: Invocation) -> None:
        """Admins: the whole wall; members: their own posts. A zip with an offline gallery."""
        locale = await self.memorial.group_locale(inv.chat)
        tr = _Bound(self.memorial.i18n, locale)
        result = await self.memorial.export(inv.chat, inv.user, inv.is_admin, tr, locale)
        if result.partial:
            text = inv.t("memorial.export.ready_partial", count=result.posts, total=result.total)
        else:
            key = "memorial.export.ready_thumbs" if result.thumbs_only else "memorial.export.ready"
            text = inv.tn(key, result.posts, count=result.posts)
        await inv.reply(text, files=[OutFile(result.data, result.filename)])

    @command(
        "wall",
        sub="remove",
        where=Where.GROUP,
        options=[Option("id", OptionType.INTEGER, required=True)],
    )
    async def wall_remove(self, inv: Invocation, id: int = 0) -> None:
        """Remove a post (your own, or any post for admins when the group allows it)."""
        post = await self.memorial.check_removal(inv.chat, inv.user, id, inv.is_admin)
        sure = await inv.replier.confirm(
            inv.t("memorial.remove.confirm", id=post.id),
            yes=inv.t("memorial.remove.yes"),
            no=inv.t("memorial.remove.no"),
        )
        if not sure:
            await inv.reply(inv.t("memorial.remove.kept", id=post.id))
            return
        await self.memorial.remove(post)
        await inv.reply(inv.t("memorial.remove.done", id=post.id))


class _Bound:
    """`t`/`tn` in one fixed language (the group's, for the exported page)."""

    def __init__(self, i18n: I18n, locale: str) -> None:
        self.i18n = i18n
        self.locale = locale

    def t(self, key: str, **params: object) -> str:
        return self.i18n.t(self.locale, key, **params)

    def tn(self, key: str, n: int, **params: object) -> str:
        return self.i18n.tn(self.locale, key, n, **params)


def _collect(shots: dict[str, Attachment], extra: Sequence[Attachment]) -> list[Attachment]:
    """Attachments from the named options, then any others sent along (albums), each once."""
    found: list[Attachment] = []
    for name in SHOT_OPTIONS:
        att = shots.get(name)
        if att is not None and all(att is not f for f in found):
            found.append(att)
    for att in extra:
        if all(att is not f for f in found):
            found.append(att)
    return found
