"""Companion chats in direct messages: the chat path, /reset, /regenerate, /history, /model.

Every handler here runs in direct messages only: this cog holds the companion service, which can
read a person's conversations and memories, so it must never answer in a group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.core import Cog, Invocation, Option, OptionType, Where, command, on_message
from bot.core.context import MessageContext
from bot.core.models import Attachment
from bot.core.streaming import render_stream
from bot.services.care import Care, CareDecision
from bot.services.companion import Companion, image_data_urls
from bot.services.images import ImageLimits

HISTORY_DEFAULT = 10
HISTORY_LINE_CHARS = 300
PAGE_CHARS = 1800
# Text files sent along with a chat message are read as DATA for that turn (not stored as memories).
TEXT_ATTACHMENT_MAX = 256 * 1024
TEXT_SUFFIXES = (".txt", ".md", ".markdown")
MAX_IMAGES = 4


class CompanionChat(Cog):
    """The DM chat path and the conversation commands."""

    name = "companion"

    def __init__(self, companion: Companion | None, care: Care | None = None) -> None:
        self.companion = companion
        # The care pipeline (issue 8) runs around every text turn: crisis lines first, honesty
        # notices, the output guard; it works even when no model is configured.
        self.care = care

    @on_message(where=Where.DM)
    async def chat(self, ctx: MessageContext) -> None:
        """A plain DM: store it, stream the companion's reply, store the reply."""
        text = ctx.message.text.strip()
        if self.care is not None and text:
            await self.care.run_turn(
                ctx.user, ctx.locale, text, ctx.replier,
                lambda decision: self._reply(ctx, text, decision), render_stream,
            )
            return
        if self.companion is None:
            await ctx.replier.send(ctx.t("companion.not_configured"))
            return
        uploads = await _text_attachments(ctx.message.attachments)
        images = await image_data_urls(await _image_attachments(ctx.message.attachments))
        text = ctx.message.text.strip()
        if not text and not uploads and not images:
            return
        await render_stream(
            self.companion.turn(
                ctx.user,
                text,
                ctx.locale,
                key=ctx.message.key,
                attachments_text=uploads,
                images=images,
            ),
            ctx.replier,
        )

    async def _reply(self, ctx: MessageContext, text: str, decision: CareDecision
                     ) -> AsyncIterator[str]:
        """The companion's reply for a care-screened turn (or why there is none)."""
        if self.companion is None:
            yield ctx.t("companion.not_configured")
            return
        uploads = await _text_attachments(ctx.message.attachments)
        images = await image_data_urls(await _image_attachments(ctx.message.attachments))
        async for chunk in self.companion.turn(
            ctx.user,
            text,
            ctx.locale,
            key=ctx.message.key,
            attachments_text=uploads,
            images=images,
            extra_system=decision.system_addition,
        ):
            yield chunk

    @command("reset", where=Where.DM)
    async def reset(self, inv: Invocation) -> None:
        """Start a new conversation; memories and the persona stay."""
        if self.companion is None:
            await inv.reply(inv.t("companion.not_configured"))
            return
        done = await self.companion.reset(inv.user, inv.locale)
        await inv.reply(inv.t("companion.reset_done" if done else "companion.reset_nothing"))

    @command("regenerate", where=Where.DM)
    async def regenerate(self, inv: Invocation) -> None:
        """Replace the last reply with a new one."""
        if self.companion is None:
            await inv.reply(inv.t("companion.not_configured"))
            return
        await render_stream(self.companion.regenerate(inv.user, inv.locale), inv.replier)

    @command(
        "history",
        where=Where.DM,
        options=[Option("count", OptionType.INTEGER, min_value=1, max_value=50)],
    )
    async def history(self, inv: Invocation, count: int | None = None) -> None:
        """Show the recent turns of the open conversation."""
        if self.companion is None:
            await inv.reply(inv.t("companion.not_configured"))
            return
        persona, messages = await self.companion.recent(
            inv.user, inv.locale, count or HISTORY_DEFAULT
        )
        if not messages:
            await inv.reply(inv.t("companion.history_empty"))
            return
        lines = [inv.tn("companion.history_title", len(messages))]
        for msg in messages:
            who = inv.t("companion.history_you") if msg.role == "user" else persona.name
            text = (
                msg.text
                if len(msg.text) <= HISTORY_LINE_CHARS
                else msg.text[:HISTORY_LINE_CHARS] + "…"
            )
            tags = []
            if msg.status == "pending":
                tags.append(inv.t("companion.history_pending"))
            if msg.status in ("partial", "streaming"):
                tags.append(inv.t("companion.history_partial"))
            if msg.fallback:
                tags.append(inv.t("companion.history_fallback"))
            lines.append(f"{who}: {text}" + (" " + " ".join(tags) if tags else ""))
        await inv.replier.paginate(_pages(lines), ephemeral=True)

    @command("model", where=Where.DM, options=[Option("name", OptionType.STRING)])
    async def model(self, inv: Invocation, name: str | None = None) -> None:
        """List the models a person may pick, or pick one."""
        if self.companion is None:
            await inv.reply(inv.t("companion.not_configured"))
            return
        if name:
            chosen = await self.companion.choose_model(inv.user, name.strip())
            await inv.reply(inv.t("companion.model.set", model=chosen.id))
            return
        current = await self.companion.model_for(await self.companion.person(inv.user))
        lines = [
            inv.t("companion.model.current", model=current.id),
            inv.t("companion.model.available"),
        ]
        for m in self.companion.selectable():
            details = [inv.t("companion.model.context", tokens=m.context_window)]
            if m.vision:
                details.append(inv.t("companion.model.vision"))
            mark = "▶ " if m == current else "• "
            lines.append(f"{mark}{m.id} — {', '.join(details)}")
        await inv.reply("\n".join(lines))


async def _text_attachments(attachments: tuple[Attachment, ...]) -> list[tuple[str, str]]:
    """Small text files attached to a chat message, decoded (others are left to other cogs)."""
    out: list[tuple[str, str]] = []
    for att in attachments:
        is_text = att.content_type.startswith("text/") or att.filename.lower().endswith(
            TEXT_SUFFIXES
        )
        if not is_text:
            continue
        data = await att.fetch(TEXT_ATTACHMENT_MAX)
        out.append((att.filename, data.decode("utf-8", errors="replace")))
    return out


async def _image_attachments(attachments: tuple[Attachment, ...]) -> list[bytes]:
    """The first few images attached to a chat message, downloaded under the image size cap."""
    images = [a for a in attachments if a.content_type.startswith("image/")][:MAX_IMAGES]
    return [await att.fetch(ImageLimits().max_bytes) for att in images]


def _pages(lines: list[str]) -> list[str]:
    pages: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + len(line) + 1 > PAGE_CHARS:
            pages.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        pages.append(current)
    return pages
