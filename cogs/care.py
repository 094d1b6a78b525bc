"""Care commands and the group crisis reply.

Two cogs, split by what they may see:
- `CareGroup` answers flagged messages addressed to the bot in groups. It receives the care
  service's stateless parts only (screen, hotlines, counters) and a direct-message port — no
  memory, persona or history service — and its public reply quotes nothing from the message.
- `CareInfo` holds /region, /safety, /support and /privacy (also in groups, ephemeral there).
- `CareCommands` holds the DM-only commands: /stop, /age, /anniversaries (which needs the active
  persona), the opt-in trusted contact (/trusted_contact, /trusted_accept, /notify) and the
  operators' /admin_safety_stats export.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot.core import (
    Cog,
    Invocation,
    NotFound,
    Option,
    OptionType,
    OutFile,
    PermissionDenied,
    UserError,
    Where,
    command,
    on_message,
)
from bot.core.context import MessageContext
from bot.services.care import Care as CareService
from bot.services.companion_seams import PersonaSource
from bot.services.i18n import I18n
from bot.services.safety.hotlines import HotlineBook, format_block, language_of
from bot.services.safety.screen import CrisisScreen, ScreenResult, Tier
from bot.services.scheduler import DirectSender, next_occurrence
from bot.services.storage.users import Users

log = logging.getLogger(__name__)

RecordScreen = Callable[[ScreenResult, str, str], Awaitable[None]]

REGIONS = ("auto", "cn", "hk", "tw", "us", "gb", "ie", "other")
MAX_ANNIVERSARIES = 20
INVITE_TTL = 24 * 3600.0
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GROUP_BLOCK_INTERVAL = 600.0  # seconds between full hotline lists in one group
MAX_LABEL = 100
_DATE = re.compile(r"^\s*(?:(\d{4})\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")


def parse_date(text: str) -> tuple[int | None, int, int]:
    """`MM-DD`, `YYYY-MM-DD`, `M/D` or `3月14日` → (year, month, day); `UserError` otherwise."""
    match = _DATE.match(text or "")
    if not match:
        raise UserError("care.anniversary.bad_date")
    year = int(match.group(1)) if match.group(1) else None
    month, day = int(match.group(2)), int(match.group(3))
    if not 1 <= month <= 12:
        raise UserError("care.anniversary.bad_date")
    # 29 February is a valid anniversary even though most years lack it.
    last = 29 if month == 2 and year is None else calendar.monthrange(year or 2000, month)[1]
    if not 1 <= day <= last or (year is not None and not 1900 <= year <= 2100):
        raise UserError("care.anniversary.bad_date")
    return year, month, day


class CareGroup(Cog):
    """Flagged messages addressed to the bot in groups: resources, and an offer to talk privately."""

    name = "care_group"

    def __init__(self, screen: CrisisScreen, hotlines: HotlineBook, users: Users,
                 record: RecordScreen, direct: DirectSender | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        # `record` adds to the identifier-free counters (Care.record_screen); nothing else of
        # the care service — and no memory, persona or history service — reaches this cog.
        self.screen = screen
        self.hotlines = hotlines
        self.users = users
        self.record = record
        self.direct = direct
        self.clock = clock
        # (platform, chat) → when the full public block was last posted there. Crisis messages
        # skip rate limits, so this keeps a group from being flooded with hotline lists.
        self._last_block: dict[tuple[str, str], float] = {}

    @on_message(where=Where.GROUP, priority=100)
    async def group_message(self, ctx: MessageContext) -> None:
        """Screen a group message addressed to the bot; unflagged ones get the usual DM pointer."""
        result = self.screen.screen(ctx.message.text or "")
        if result.tier is Tier.NONE:
            await ctx.replier.send(ctx.t("core.dm_pointer", bot=ctx.bot_username))
            return
        chat_locale = await self.users.chat_locale(ctx.chat.platform, ctx.chat.id)
        await self.record(result, chat_locale or ctx.locale, "group")
        where, now = (ctx.chat.platform, ctx.chat.id), self.clock()
        if now - self._last_block.get(where, float("-inf")) < GROUP_BLOCK_INTERVAL:
            await ctx.replier.send(self.short_reply(ctx, chat_locale))
        else:
            self._last_block[where] = now
            await ctx.replier.send(self.public_reply(ctx, chat_locale, result.tier))
        if ctx.chat.platform != "telegram" and self.direct is not None:
            locale = ctx.locale
            text = "\n\n".join((ctx.i18n.t(locale, "care.group.dm_opening"),
                                self._block(ctx.i18n, locale)))
            try:
                await self.direct.send_direct(ctx.user.platform, ctx.user.id, text)
            except Exception as exc:  # DMs closed or the platform refused: skip silently (A9)
                log.info("care: private support DM not delivered: %s", type(exc).__name__)

    def public_reply(self, ctx: MessageContext, chat_locale: str | None, tier: Tier) -> str:
        """The short public reply: no quote, no memory, resources in the group's language(s)."""
        locales = (chat_locale,) if chat_locale else ("zh_Hans", "en")
        parts: list[str] = []
        for locale in locales:
            lines = [ctx.i18n.t(locale, "care.group.high" if tier is Tier.HIGH else "care.group.checkin")]
            if tier is Tier.HIGH:
                lines.append(self._block(ctx.i18n, locale))
            if ctx.chat.platform == "telegram" and ctx.bot_username:
                link = f"https://t.me/{ctx.bot_username}?start=support"
                lines.append(ctx.i18n.t(locale, "care.group.offer_link", link=link))
            else:
                lines.append(ctx.i18n.t(locale, "care.group.offer_dm"))
            parts.append("\n".join(lines))
        return "\n\n".join(parts)

    def short_reply(self, ctx: MessageContext, chat_locale: str | None) -> str:
        """Within minutes of a full reply in the same group: one line and the private offer."""
        locales = (chat_locale,) if chat_locale else ("zh_Hans", "en")
        parts = []
        for locale in locales:
            if ctx.chat.platform == "telegram" and ctx.bot_username:
                offer = ctx.i18n.t(locale, "care.group.offer_link",
                                   link=f"https://t.me/{ctx.bot_username}?start=support")
            else:
                offer = ctx.i18n.t(locale, "care.group.offer_dm")
            parts.append(ctx.i18n.t(locale, "care.group.again") + "\n" + offer)
        return "\n\n".join(parts)

    def _block(self, i18n: I18n, locale: str) -> str:
        plan = self.hotlines.plan(None, locale)
        return format_block(plan, language_of(locale), lambda k, **kw: i18n.t(locale, k, **kw))


class CareInfo(Cog):
    """Commands that also work in groups (ephemeral there): /region, /safety, /support, /privacy.

    Group-capable, so it holds the care service and the account map only — no persona or
    memory service (safety-research §7 C1).
    """

    name = "care_info"

    def __init__(self, care: CareService, users: Users) -> None:
        self.care = care
        self.users = users

    async def _person(self, inv: Invocation) -> int:
        return await self.users.resolve(inv.user.platform, inv.user.id, inv.user.name)

    # ------------------------------------------------------------------ region, stop, age

    @command("region", where=Where.BOTH, personal=True,
             options=[Option("code", OptionType.STRING, choices=REGIONS)])
    async def region(self, inv: Invocation, code: str | None = None) -> None:
        """Show or set the region used to pick crisis lines."""
        person = await self._person(inv)
        if code is None:
            state = await self.care.store.get(person)
            current = state.region or inv.t("care.region.auto")
            await inv.reply(inv.t("care.region.current", region=current,
                                  choices=", ".join(REGIONS)))
            return
        code = code.strip().lower()
        if code not in REGIONS:
            raise UserError("care.region.unknown", choices=", ".join(REGIONS))
        value = None if code == "auto" else ("INTL" if code == "other" else code.upper())
        await self.care.store.set_region(person, value)
        plan = self.care.hotlines.plan(value, inv.locale)
        await inv.reply(inv.t("care.region.set", region=value or inv.t("care.region.auto"))
                        + "\n" + self.care.resource_block(plan, inv.locale))

    # ------------------------------------------------------------------ information

    @command("safety", where=Where.BOTH, personal=True)
    async def safety(self, inv: Invocation) -> None:
        """How the bot handles hard moments, and the crisis lines for your region."""
        plan = await self.care.plan_for(await self._person(inv), inv.locale)
        await inv.reply(inv.t("care.safety.text", url=self.care.config.safety_url) + "\n\n"
                        + self.care.resource_block(plan, inv.locale))

    @command("support", where=Where.BOTH, personal=True)
    async def support(self, inv: Invocation) -> None:
        """Talk privately: a warm opening and the crisis lines (Telegram's ?start=support)."""
        plan = await self.care.plan_for(await self._person(inv), inv.locale)
        await inv.reply(inv.t("care.support.opening") + "\n\n"
                        + self.care.resource_block(plan, inv.locale))

    @command("privacy", where=Where.BOTH, personal=True)
    async def privacy(self, inv: Invocation) -> None:
        """What is stored, who processes it, and how to export or delete it."""
        await inv.reply(inv.t("care.privacy.text", url=self.care.config.privacy_url))


class CareCommands(Cog):
    """Direct-message care commands: /stop, /age, /anniversaries, /admin_safety_stats."""

    name = "care"

    def __init__(self, care: CareService, users: Users, personas: PersonaSource | None = None,
                 operators: frozenset[str] = frozenset(),
                 direct: DirectSender | None = None) -> None:
        self.care = care
        self.users = users
        self.personas = personas
        self.operators = operators
        self.direct = direct

    async def _person(self, inv: Invocation) -> int:
        return await self.users.resolve(inv.user.platform, inv.user.id, inv.user.name)

    @command("stop", where=Where.DM)
    async def stop(self, inv: Invocation) -> None:
        """End the conversation now; no messages afterwards unless you opted in."""
        decision = await self.care.before_turn(inv.user, inv.locale, "/stop")
        for part in decision.before:
            await inv.reply(part)

    @command("age", where=Where.DM, options=[Option("years", OptionType.INTEGER, required=True,
                                                     min_value=5, max_value=120)])
    async def age(self, inv: Invocation, years: int) -> None:
        """Tell the bot your age (under 18 switches on minor mode)."""
        person = await self._person(inv)
        if years < 18:
            await self.care.store.set_minor(person, True)
            if self.care.config.minor_policy == "decline":
                plan = await self.care.plan_for(person, inv.locale)
                await inv.reply(inv.t("care.minor.declined",
                                      hotlines=self.care.resource_block(plan, inv.locale)))
                return
            await inv.reply(inv.t("care.minor.noted"))
            return
        await self.care.store.set_minor(person, False)
        await inv.reply(inv.t("care.age.adult"))

    # ------------------------------------------------------------------ anniversaries

    @command("anniversaries", sub="list", where=Where.DM, default_sub=True)
    async def anniversaries_list(self, inv: Invocation) -> None:
        """List your saved dates."""
        items = await self.care.store.anniversaries(await self._person(inv))
        if not items:
            await inv.reply(inv.t("care.anniversary.none"))
            return
        lines = [inv.tn("care.anniversary.title", len(items))]
        for a in items:
            when = f"{a.year}-{a.month:02d}-{a.day:02d}" if a.year else f"{a.month:02d}-{a.day:02d}"
            lines.append(inv.t("care.anniversary.item", id=a.id, date=when, label=a.label,
                               persona=a.persona_name))
        await inv.reply("\n".join(lines))

    @command("anniversaries", sub="add", where=Where.DM,
             options=[Option("date", OptionType.STRING, required=True),
                      Option("label", OptionType.STRING, required=True)])
    async def anniversaries_add(self, inv: Invocation, date: str, label: str) -> None:
        """Save a date that matters (opt-in: your companion will write to you that day)."""
        year, month, day = parse_date(date)
        label = _label(label)
        person = await self._person(inv)
        if len(await self.care.store.anniversaries(person)) >= MAX_ANNIVERSARIES:
            raise UserError("care.anniversary.too_many", limit=MAX_ANNIVERSARIES)
        persona = await self.personas.active(inv.user) if self.personas is not None else None
        state = await self.care.store.get(person)
        tz = self.care.tz_for(state.region, inv.locale)
        fire = next_occurrence(month, day, tz, self.care.config.anniversary_hour, self.care.clock())
        await self.care.store.add_anniversary(
            person_id=person, persona_id=persona.id if persona else None,
            persona_name=persona.name if persona else inv.t("care.anniversary.default_persona"),
            month=month, day=day, year=year, label=label, platform=inv.user.platform,
            platform_user_id=inv.user.id, locale=inv.locale, tz=tz, next_fire_at=fire,
        )
        # Saving a date is the opt-in to that one message, even after /stop.
        await self.care.store.set_reminders_opt_in(person, True)
        await inv.reply(inv.t("care.anniversary.added", label=label,
                              date=f"{month:02d}-{day:02d}"))

    @command("anniversaries", sub="edit", where=Where.DM,
             options=[Option("id", OptionType.INTEGER, required=True, min_value=1),
                      Option("date", OptionType.STRING), Option("label", OptionType.STRING)])
    async def anniversaries_edit(self, inv: Invocation, id: int, date: str | None = None,
                                 label: str | None = None) -> None:
        """Change the date or the label of a saved date."""
        person = await self._person(inv)
        found = await self.care.store.anniversary(person, id)
        if found is None:
            raise NotFound("care.anniversary.not_found", id=id)
        year, month, day = (found.year, found.month, found.day) if not date else parse_date(date)
        new_label = _label(label) if label else found.label
        fire = next_occurrence(month, day, found.tz, self.care.config.anniversary_hour,
                               self.care.clock())
        await self.care.store.update_anniversary(person, id, month=month, day=day, year=year,
                                                 label=new_label, next_fire_at=fire)
        await inv.reply(inv.t("care.anniversary.edited", label=new_label,
                              date=f"{month:02d}-{day:02d}"))

    @command("anniversaries", sub="remove", where=Where.DM,
             options=[Option("id", OptionType.INTEGER, required=True, min_value=1)])
    async def anniversaries_remove(self, inv: Invocation, id: int) -> None:
        """Delete a saved date."""
        if not await self.care.store.remove_anniversary(await self._person(inv), id):
            raise NotFound("care.anniversary.not_found", id=id)
        await inv.reply(inv.t("care.anniversary.removed"))

    # ------------------------------------------------------------------ trusted contact (A14)

    @command("trusted_contact", sub="show", where=Where.DM, default_sub=True, personal=True)
    async def trusted_show(self, inv: Invocation) -> None:
        """Show your trusted contact, if you chose one."""
        contact = await self.care.store.trusted(await self._person(inv))
        if contact is None:
            await inv.reply(inv.t("care.trusted.none"))
            return
        await inv.reply(inv.t("care.trusted.show", name=contact.name))

    @command("trusted_contact", sub="invite", where=Where.DM, personal=True)
    async def trusted_invite(self, inv: Invocation) -> None:
        """Get a one-time code for the person you trust (opt-in; off unless you do this)."""
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        person = await self._person(inv)
        await self.care.store.create_invite(person, code, self.care.clock() + INVITE_TTL)
        await inv.reply(inv.t("care.trusted.invite", code=code, minutes=int(INVITE_TTL // 60)))

    @command("trusted_contact", sub="remove", where=Where.DM, personal=True)
    async def trusted_remove(self, inv: Invocation) -> None:
        """Stop having a trusted contact."""
        await self.care.store.remove_trusted(await self._person(inv))
        await inv.reply(inv.t("care.trusted.removed"))

    @command("trusted_accept", where=Where.DM, personal=True,
             options=[Option("code", OptionType.STRING, required=True)])
    async def trusted_accept(self, inv: Invocation, code: str) -> None:
        """Accept being someone's trusted contact, with the code they gave you."""
        cleaned = code.strip().upper().replace(" ", "").replace("-", "")
        me = await self._person(inv)
        person = await self.care.store.accept_invite(cleaned, inv.user.platform, inv.user.id,
                                                     inv.user.name or inv.user.id,
                                                     self.care.clock())
        if person is None:
            raise UserError("care.trusted.bad_code")
        if person == me:
            await self.care.store.remove_trusted(me)
            raise UserError("care.trusted.self")
        await inv.reply(inv.t("care.trusted.accepted"))

    @command("notify", where=Where.DM, personal=True)
    async def notify(self, inv: Invocation) -> None:
        """Ask me to tell your trusted contact you are having a hard time (nothing else)."""
        person = await self._person(inv)
        contact = await self.care.store.trusted(person)
        if contact is None:
            raise UserError("care.trusted.notify_none")
        name = inv.user.name or inv.t("care.trusted.someone")
        text = self.care.i18n.t(inv.locale, "care.trusted.message", name=name)
        sent = False
        if self.direct is not None:
            try:
                sent = await self.direct.send_direct(contact.platform, contact.user_id, text)
            except Exception as exc:  # closed DMs or a platform error: tell the person, honestly
                log.info("care: trusted contact not reached: %s", type(exc).__name__)
        key = "care.trusted.notified" if sent else "care.trusted.not_delivered"
        await inv.reply(inv.t(key, name=contact.name))

    # ------------------------------------------------------------------ operators

    @command("admin_safety_stats", where=Where.DM, admin=True,
             options=[Option("since", OptionType.STRING)])
    async def admin_safety_stats(self, inv: Invocation, since: str | None = None) -> None:
        """Export the aggregate crisis counters (no identifiers, no text) as JSON."""
        if f"{inv.user.platform}:{inv.user.id}" not in self.operators:
            raise PermissionDenied("care.admin.not_operator")
        if since is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", since.strip()):
            raise UserError("care.admin.bad_since")
        data = await export_stats(self.care, since.strip() if since else None)
        rows = await self.care.store.stats(since.strip() if since else None)
        await inv.reply(inv.t("care.admin.exported", rows=len(rows)),
                        files=[OutFile(json.dumps(data, ensure_ascii=False, indent=1).encode(),
                                       "afterglow-safety-stats.json")])


async def export_stats(care: CareService, since: str | None = None) -> dict[str, object]:
    """The counters as a JSON-ready dict (also used by `afterglow safety-stats`)."""
    rows = await care.store.stats(since)
    totals: dict[str, int] = {}
    for r in rows:
        totals[r.tier] = totals.get(r.tier, 0) + r.count
    return {
        "schema": "afterglow.safety_stats.v1",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "since": since,
        "note": "Aggregate counts only: UTC day, tier, locale, place. No user, chat or text.",
        "totals": totals,
        "rows": [{"day": r.day, "tier": r.tier, "locale": r.locale, "place": r.place,
                  "count": r.count} for r in rows],
    }


def _label(text: str) -> str:
    label = " ".join((text or "").split())
    if not label:
        raise UserError("care.anniversary.bad_label")
    if len(label) > MAX_LABEL:
        raise UserError("care.anniversary.label_too_long", limit=MAX_LABEL)
    return label
