"""The companion: one conversation turn, from the stored message to the stored reply.

Context assembly under a token budget (context window − reply room − a 10 % margin):

    1. system     our rules (honesty: an AI, not a person, not GPT-4o) + the persona's sheet
    2. data       pinned memories, memories recalled for this message, the rolling summary —
                  one user-role message with delimited DATA blocks, never system instructions,
                  answered by a short fixed assistant acknowledgement so turns still alternate
    3. history    the newest stored turns that fit, newest kept first
    4. message    the person's message (always included)

When older turns no longer fit, a background task asks the model to fold them into the rolling
summary. One turn per person at a time (a per-person lock); any number of people at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import ConfigError, ServiceUnavailable, UserError
from bot.core.models import UserRef
from bot.services.companion_seams import MemoryHit, MemorySource, PersonaSource, PersonaView
from bot.services.i18n import I18n
from bot.services.images import ImageLimits, clean_image
from bot.services.llm import Finished, LLMClient, Started, TextDelta
from bot.services.llm_config import LLMConfig, ModelConfig
from bot.services.llm_errors import AllProvidersFailed, LLMBadResponse, LLMStreamBroken
from bot.services.storage.conversations import Conversation, Conversations, StoredMessage
from bot.services.storage.users import Users
from bot.services.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, TokenEstimator

log = logging.getLogger(__name__)

DEFAULT_PERSONA_ID = 0
# Larger re-encoded images go to the model as their 480×720 JPEG preview instead.
MAX_INLINE_IMAGE = 4 * 1024 * 1024
_DATA_OPEN = "<<<DATA {label}>>>"
_DATA_CLOSE = "<<<END DATA>>>"


@dataclass(frozen=True, slots=True)
class CompanionTuning:
    """Budget shares and timings; the defaults suit 8k–128k context windows."""

    safety_margin: float = 0.10
    memory_share: float = 0.25
    summary_share: float = 0.10
    # Absolute caps keep per-turn cost low on big-context models (people pay per token): memories
    # past the cap wait for a more relevant turn, and older turns fold into the rolling summary.
    memory_cap_tokens: int = 1500
    history_cap_tokens: int = 3000
    recall_k: int = 8
    pinned_limit: int = 20
    history_page: int = 200
    # How often a streaming reply is written to disk (a killed process keeps this much).
    flush_interval: float = 1.5
    # At most this share of the context window is folded into the summary per background call.
    summarize_share: float = 0.25

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> CompanionTuning:
        """`[companion] memory_tokens`, `history_tokens`, `recall_k` from afterglow.toml."""
        names = {
            "memory_tokens": "memory_cap_tokens",
            "history_tokens": "history_cap_tokens",
            "recall_k": "recall_k",
        }
        values: dict[str, int] = {}
        for key, value in section.items():
            if key not in names:
                raise ConfigError(f"companion.{key}: unknown setting (known: {', '.join(names)})")
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"companion.{key}: must be a whole number greater than zero")
            values[names[key]] = value
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ContextPart:
    """One message of the assembled request and what it is (`system`, `data`, `history`, …)."""

    kind: str
    message: dict[str, Any]
    tokens: int


@dataclass(slots=True)
class AssembledContext:
    """The exact request a turn sends, with its budget bookkeeping."""

    model: ModelConfig
    budget: int
    parts: list[ContextPart] = field(default_factory=list)
    # The newest stored message id that did not fit (0 when the whole history fit).
    dropped_upto: int = 0
    # When history overflowed: fold everything up to this id, so the summary runs in batches.
    fold_upto: int = 0

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's messages, in order."""
        return [p.message for p in self.parts]

    @property
    def tokens(self) -> int:
        """Estimated prompt tokens of the whole request."""
        return REPLY_PRIMING + sum(p.tokens for p in self.parts)


class PersonLocks:
    """One asyncio.Lock per person, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, person_id: int) -> AsyncIterator[None]:
        """Hold the person's lock for one turn (others wait their turn)."""
        lock, users = self._locks.get(person_id, (asyncio.Lock(), 0))
        self._locks[person_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[person_id]
            if users <= 1:
                del self._locks[person_id]
            else:
                self._locks[person_id] = (lock, users - 1)

    def busy(self, person_id: int) -> bool:
        """Whether a turn for this person is running or waiting."""
        return person_id in self._locks


def neutralize(text: str) -> str:
    """Defuse our DATA delimiters inside untrusted text so it cannot close its own block."""
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")


def data_block(label: str, body: str) -> str:
    """Untrusted text wrapped in labelled DATA markers."""
    return f"{_DATA_OPEN.format(label=label)}\n{neutralize(body)}\n{_DATA_CLOSE}"


class Companion:
    """Runs companion turns; see the module docstring."""

    def __init__(
        self,
        *,
        llm: LLMClient,
        config: LLMConfig,
        conversations: Conversations,
        users: Users,
        i18n: I18n,
        personas: PersonaSource | None = None,
        memory: MemorySource | None = None,
        estimator: TokenEstimator | None = None,
        tuning: CompanionTuning | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.llm = llm
        self.config = config
        self.repo = conversations
        self.users = users
        self.i18n = i18n
        self.personas = personas
        self.memory = memory
        self.tokens = estimator or TokenEstimator()
        self.tuning = tuning or CompanionTuning()
        self._clock = clock
        self.locks = PersonLocks()
        self._background: set[asyncio.Task[None]] = set()
        self._summarizing: set[int] = set()

    # ------------------------------------------------------------------ lookups

    async def person(self, user: UserRef) -> int:
        """The internal person id for a platform account."""
        return await self.users.resolve(user.platform, user.id, user.name)

    async def persona(self, user: UserRef, locale: str) -> PersonaView:
        """The active persona, or the built-in default."""
        found = await self.personas.active(user) if self.personas is not None else None
        return found if found is not None else self.default_persona(locale)

    def default_persona(self, locale: str) -> PersonaView:
        """The built-in persona for people who have not made their own."""
        return PersonaView(
            id=DEFAULT_PERSONA_ID,
            name=self.i18n.t(locale, "companion.prompt.default_name"),
            personality=self.i18n.t(locale, "companion.prompt.default_personality"),
        )

    async def model_for(self, person_id: int) -> ModelConfig:
        """The person's chosen model if still allowed, else the configured default."""
        chosen = await self.repo.chosen_model(person_id)
        if chosen and self.config.is_selectable(chosen):
            return self.config.model(chosen)
        return self.config.model(self.config.default_model)

    def selectable(self) -> tuple[ModelConfig, ...]:
        """The models a person may pick with /model."""
        return self.config.selectable()

    async def choose_model(self, user: UserRef, ref: str) -> ModelConfig:
        """Store the person's model choice; `UserError` when it is not on the allow-list."""
        if not self.config.is_selectable(ref):
            raise UserError("companion.model.not_allowed", model=ref[:64])
        model = self.config.model(ref)
        await self.repo.choose_model(await self.person(user), model.ref)
        return model

    # ------------------------------------------------------------------ assembly

    def system_prompt(self, persona: PersonaView, locale: str) -> str:
        """Our rules first, then the persona's sheet (the person's words) in a delimited block."""
        t = self.i18n.t
        # The name is the person's words too: short, and unable to open or close a DATA block.
        lines = [t(locale, "companion.prompt.rules", name=neutralize(persona.name[:64]))]
        sheet = [f"{t(locale, 'companion.prompt.field.persona_name')}: {persona.name}"]
        for key in (
            "personality",
            "speaking_style",
            "relationship",
            "important_dates",
            "example_dialogue",
        ):
            value = getattr(persona, key)
            if value:
                sheet.append(f"{t(locale, 'companion.prompt.field.' + key)}:\n{value}")
        lines.append(t(locale, "companion.prompt.persona_intro"))
        lines.append(data_block("persona", "\n\n".join(sheet)))
        return "\n\n".join(lines)

    async def assemble(
        self,
        user: UserRef,
        person_id: int,
        persona: PersonaView,
        conversation: Conversation | None,
        text: str,
        locale: str,
        *,
        model: ModelConfig | None = None,
        before_id: int | None = None,
        attachments_text: Sequence[tuple[str, str]] = (),
        images: Sequence[str] = (),
        use_memory: bool = True,
        extra_system: str = "",
    ) -> AssembledContext:
        """Build the request for `text` within the model's budget (reads only; calls no model)."""
        model = model or await self.model_for(person_id)
        est = self.tokens
        budget = int(
            (model.context_window - model.max_output_tokens) * (1 - self.tuning.safety_margin)
        )
        ctx = AssembledContext(model=model, budget=budget)

        prompt = self.system_prompt(persona, locale)
        system = {"role": "system", "content": f"{prompt}\n\n{extra_system}" if extra_system else prompt}
        system_tokens = est.message(system, model.id)
        current: dict[str, Any] = {"role": "user", "content": text}
        if images and model.vision:
            parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            parts += [{"type": "image_url", "image_url": {"url": url}} for url in images]
            current = {"role": "user", "content": parts}
        elif images:
            note = self.i18n.tn(locale, "companion.prompt.images_unseen", len(images))
            current = {"role": "user", "content": f"{text}\n{note}".strip()}
        current_tokens = est.message(current, model.id)
        if system_tokens + current_tokens + REPLY_PRIMING > budget:
            raise UserError("companion.too_long")
        ctx.parts.append(ContextPart("system", system, system_tokens))
        used = REPLY_PRIMING + system_tokens + current_tokens

        # The newest history page does not depend on the memories: read both at once.
        data_message, first_page = await asyncio.gather(
            self._data_message(
                user, conversation, text, locale, model, budget, attachments_text, use_memory
            ),
            self._page(conversation, before_id),
        )
        if data_message is not None:
            data = {"role": "user", "content": data_message}
            ack = {"role": "assistant", "content": self.i18n.t(locale, "companion.prompt.data_ack")}
            data_tokens = est.message(data, model.id) + est.message(ack, model.id)
            if used + data_tokens <= budget:
                ctx.parts.append(ContextPart("data", data, est.message(data, model.id)))
                ctx.parts.append(ContextPart("data_ack", ack, est.message(ack, model.id)))
                used += data_tokens

        history: list[ContextPart] = []
        if conversation is not None:
            room = min(budget - used, self.tuning.history_cap_tokens)
            history, ctx.dropped_upto, ctx.fold_upto = await self._history(
                conversation, room, first_page
            )
        ctx.parts.extend(reversed(history))
        ctx.parts.append(ContextPart("message", current, current_tokens))
        return ctx

    async def _data_message(
        self,
        user: UserRef,
        conversation: Conversation | None,
        text: str,
        locale: str,
        model: ModelConfig,
        budget: int,
        attachments_text: Sequence[tuple[str, str]],
        use_memory: bool = True,
    ) -> str | None:
        """Pinned + recalled memories, the rolling summary and uploaded text, as DATA blocks."""
        blocks: list[str] = []
        memory_cap = min(int(budget * self.tuning.memory_share), self.tuning.memory_cap_tokens)
        hits: list[MemoryHit] = []
        if self.memory is not None and use_memory:
            # Both queue on the same read connection; asking at once saves a loop round trip.
            pinned, recalled = await asyncio.gather(
                self.memory.pinned(user, limit=self.tuning.pinned_limit),
                self.memory.recall(user, text, k=self.tuning.recall_k),
            )
            seen: set[int] = set()
            for hit in [*pinned, *recalled]:
                if hit.id not in seen:
                    seen.add(hit.id)
                    hits.append(hit)
        lines: list[str] = []
        spent = 0
        for hit in hits:
            line = f"- [{hit.kind}{', pinned' if hit.pinned else ''}] {hit.text.strip()}"
            cost = self.tokens.text(line, model.id) + 1
            if spent + cost > memory_cap:
                continue  # a long memory may not fit; a shorter later one still might
            lines.append(line)
            spent += cost
        if lines:
            blocks.append(data_block("memories", "\n".join(lines)))
        # Files sent with this message were sent to be read: they get their own, larger share.
        upload_room = int(budget * self.tuning.memory_share)
        for name, body in attachments_text:
            if upload_room <= 0:
                break
            clipped = _clip_to_tokens(body, upload_room, self.tokens, model.id)
            blocks.append(data_block(f"upload {neutralize(name)[:80]}", clipped))
            upload_room -= self.tokens.text(clipped, model.id)
        if conversation is not None and conversation.summary:
            summary_cap = int(budget * self.tuning.summary_share)
            summary = _clip_to_tokens(conversation.summary, summary_cap, self.tokens, model.id)
            blocks.append(data_block("summary", summary))
        if not blocks:
            return None
        intro = self.i18n.t(locale, "companion.prompt.data_intro")
        return intro + "\n\n" + "\n\n".join(blocks)

    async def _page(
        self, conversation: Conversation | None, before_id: int | None
    ) -> list[StoredMessage]:
        """One page of unsummarized history before `before_id`, newest first."""
        if conversation is None:
            return []
        return await self.repo.newest(
            conversation.id,
            after_id=conversation.summary_upto,
            before_id=before_id,
            limit=self.tuning.history_page,
        )

    async def _history(
        self, conversation: Conversation, room: int, page: list[StoredMessage]
    ) -> tuple[list[ContextPart], int, int]:
        """Newest stored turns (after the summary) that fit in `room`, the newest dropped id, and
        the id to fold the summary up to (keeping the newest half of `room` unsummarized).

        `page` is the first page, already read; further pages are read as needed."""
        parts: list[ContextPart] = []
        keep = room // 2
        fold_upto = 0
        while True:
            for msg in page:
                cost = MESSAGE_OVERHEAD + msg.tokens
                if cost > room:
                    return parts, msg.id, fold_upto or msg.id
                room -= cost
                keep -= cost
                if keep < 0 and not fold_upto:
                    fold_upto = msg.id
                parts.append(ContextPart("history", {"role": msg.role, "content": msg.text}, cost))
            if len(page) < self.tuning.history_page:
                return parts, 0, 0
            page = await self._page(conversation, page[-1].id)

    # ------------------------------------------------------------------ turns

    async def turn(
        self,
        user: UserRef,
        text: str,
        locale: str,
        *,
        key: str | None = None,
        attachments_text: Sequence[tuple[str, str]] = (),
        images: Sequence[str] = (),
        extra_system: str = "",
    ) -> AsyncIterator[str]:
        """Store `text`, stream the reply's text (plus any localized marker), store the reply.

        `extra_system` is appended to the system prompt for this turn only (the care pipeline's
        notes: a crisis was just answered, the person is a minor, …).

        `images` are data URLs from `image_data_urls` (checked and re-encoded); a vision model
        sees them, any other model is told that images came it cannot see. They are not stored.

        `key` is the platform message key: a message re-delivered after a crash is stored once.
        With every model down this raises `ServiceUnavailable` after the message is stored, so
        the router says "saved, I'll answer when I can" and the turn stays open for recovery.
        """
        person_id = await self.person(user)
        async with self.locks.hold(person_id):
            persona = await self.persona(user, locale)
            conversation = await self.repo.active(person_id, persona.id)
            stored = text
            if images:
                stored = f"{text}\n[image ×{len(images)}]".strip()
            message_id = await self.repo.add_user(
                conversation.id, stored, self.tokens.text(stored), key
            )
            async for chunk in self._answer(
                user,
                person_id,
                persona,
                conversation,
                text,
                message_id,
                locale,
                attachments_text,
                images,
                extra_system=extra_system,
            ):
                yield chunk

    async def regenerate(self, user: UserRef, locale: str) -> AsyncIterator[str]:
        """Replace the last reply: drop it and answer the last message again."""
        person_id = await self.person(user)
        async with self.locks.hold(person_id):
            persona = await self.persona(user, locale)
            conversation = await self.repo.find_active(person_id, persona.id)
            last = await self.repo.last_user_message(conversation.id) if conversation else None
            if conversation is None or last is None:
                raise UserError("companion.nothing_to_regenerate")
            await self.repo.drop_replies_after(conversation.id, last.id)
            async for chunk in self._answer(
                user, person_id, persona, conversation, last.text, last.id, locale, (), ()
            ):
                yield chunk

    async def _answer(
        self,
        user: UserRef,
        person_id: int,
        persona: PersonaView,
        conversation: Conversation,
        text: str,
        message_id: int,
        locale: str,
        attachments_text: Sequence[tuple[str, str]],
        images: Sequence[str],
        *,
        extra_system: str = "",
    ) -> AsyncIterator[str]:
        ctx = await self.assemble(
            user,
            person_id,
            persona,
            conversation,
            text,
            locale,
            before_id=message_id,
            attachments_text=attachments_text,
            images=images,
            extra_system=extra_system,
        )
        if conversation.has_streaming:
            # Inside the person's lock none of their replies can be streaming: such a row was
            # left by a process that died mid-reply.
            await self.repo.settle_stale(conversation.id)
        sampling = _sampling(persona, ctx.model)
        parts: list[str] = []
        reply_id: int | None = None
        answering: Started | None = None
        last_flush = self._clock()
        try:
            async for ev in self.llm.stream(ctx.messages, ctx.model.ref, **sampling):
                if isinstance(ev, Started):
                    answering = ev
                elif isinstance(ev, TextDelta):
                    parts.append(ev.text)
                    yield ev.text
                    if answering and self._clock() - last_flush >= self.tuning.flush_interval:
                        so_far = "".join(parts)
                        reply_id = await self.repo.save_progress(
                            conversation.id,
                            reply_id,
                            so_far,
                            self.tokens.text(so_far),
                            answering.model,
                            answering.fallback,
                        )
                        last_flush = self._clock()
                elif isinstance(ev, Finished):
                    usage = ev.usage
                    await self.repo.finish_reply(
                        conversation.id,
                        reply_id,
                        text=ev.text,
                        tokens=self.tokens.text(ev.text),
                        status="complete",
                        model=ev.model,
                        fallback=ev.fallback,
                        answered_upto=message_id,
                        prompt_tokens=usage.prompt_tokens if usage else None,
                        completion_tokens=usage.completion_tokens if usage else None,
                    )
                    reply_id = None
                    parts.clear()
                    if usage and usage.prompt_tokens:
                        self.tokens.calibrate(ev.model, ctx.tokens, usage.prompt_tokens)
                    if ev.fallback:
                        yield "\n" + self.i18n.t(
                            locale, "companion.fallback_marker", model=ev.model
                        )
        except LLMStreamBroken as e:
            await self.repo.finish_reply(
                conversation.id,
                reply_id,
                text=e.partial,
                tokens=self.tokens.text(e.partial),
                status="partial",
                model=e.model,
                fallback=e.fallback,
                answered_upto=message_id,
            )
            parts.clear()
            yield "\n" + self.i18n.t(locale, "companion.interrupted")
        except AllProvidersFailed as e:
            log.warning(
                "companion turn unanswered person=%d message=%d: all models failed",
                person_id,
                message_id,
            )
            raise ServiceUnavailable("companion.saved_will_answer") from e
        except LLMBadResponse as e:
            log.warning("companion turn refused person=%d status=%s", person_id, e.status)
            yield self.i18n.t(locale, "companion.model_refused")
        finally:
            if parts and answering is not None:
                # Cancelled (shutdown, a closed stream): keep what arrived, marked partial.
                so_far = "".join(parts)
                await asyncio.shield(
                    self.repo.finish_reply(
                        conversation.id,
                        reply_id,
                        text=so_far,
                        tokens=self.tokens.text(so_far),
                        status="partial",
                        model=answering.model,
                        fallback=answering.fallback,
                        answered_upto=message_id,
                    )
                )
        if ctx.dropped_upto:
            self._schedule_summary(conversation.id, ctx.fold_upto, ctx.model, locale)

    # ------------------------------------------------------------------ summary

    def _schedule_summary(
        self, conversation_id: int, upto: int, model: ModelConfig, locale: str
    ) -> None:
        if conversation_id in self._summarizing:
            return
        self._summarizing.add(conversation_id)
        task = asyncio.create_task(self._summarize(conversation_id, upto, model, locale))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _summarize(
        self, conversation_id: int, upto: int, model: ModelConfig, locale: str
    ) -> None:
        """Fold the oldest unsummarized turns (up to `upto`) into the rolling summary."""
        try:
            conversation = await self.repo.get(conversation_id)
            if conversation is None or conversation.summary_upto >= upto:
                return
            cap = int(model.context_window * self.tuning.summarize_share)
            picked: list[StoredMessage] = []
            spent = 0
            for msg in await self.repo.oldest(
                conversation_id, after_id=conversation.summary_upto, upto_id=upto, limit=2000
            ):
                if picked and spent + msg.tokens > cap:
                    break
                picked.append(msg)
                spent += msg.tokens
            if not picked:
                return
            transcript = "\n".join(f"{m.role}: {m.text}" for m in picked)
            body = (
                self.i18n.t(locale, "companion.prompt.summary_previous")
                + "\n"
                + data_block("summary", conversation.summary or "-")
                + "\n\n"
                + data_block("transcript", transcript)
            )
            request = [
                {"role": "system", "content": self.i18n.t(locale, "companion.prompt.summarize")},
                {"role": "user", "content": body},
            ]
            max_tokens = max(128, int(model.context_window * self.tuning.summary_share))
            result = await self.llm.complete(
                request, model.ref, max_tokens=min(max_tokens, model.max_output_tokens)
            )
            stored = await self.repo.set_summary(
                conversation_id,
                result.text.strip(),
                picked[-1].id,
                self.tokens.text(result.text),
                expected_upto=conversation.summary_upto,
            )
            log.info(
                "conversation %d summary updated=%s folded=%d messages",
                conversation_id,
                stored,
                len(picked),
            )
        except Exception as exc:  # a failed summary only means a shorter memory; never crash
            log.warning(
                "summary for conversation %d failed: %s", conversation_id, type(exc).__name__
            )
        finally:
            self._summarizing.discard(conversation_id)

    async def idle(self) -> None:
        """Wait for background summaries (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel background work and close the model client."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.llm.aclose()

    # ------------------------------------------------------------------ history

    async def recent(
        self, user: UserRef, locale: str, count: int
    ) -> tuple[PersonaView, list[StoredMessage]]:
        """The last `count` stored messages of the open conversation, oldest first."""
        person_id = await self.person(user)
        persona = await self.persona(user, locale)
        conversation = await self.repo.find_active(person_id, persona.id)
        if conversation is None:
            return persona, []
        return persona, list(reversed(await self.repo.newest(conversation.id, limit=count)))

    async def reset(self, user: UserRef, locale: str) -> bool:
        """Start a new conversation next time; memories and old turns stay stored."""
        person_id = await self.person(user)
        persona = await self.persona(user, locale)
        async with self.locks.hold(person_id):
            return await self.repo.reset(person_id, persona.id)


async def image_data_urls(blobs: Sequence[bytes], limits: ImageLimits | None = None) -> list[str]:
    """Check and re-encode images (metadata and GPS dropped) into data URLs for a vision model.

    Raises `UserError` (`images.*`) for a file that is not a safe PNG, JPEG or WEBP image.
    """
    limits = limits or ImageLimits()
    urls: list[str] = []
    for blob in blobs:
        clean = await asyncio.to_thread(clean_image, blob, limits)
        if len(clean.data) <= MAX_INLINE_IMAGE:
            mime, data = ("image/jpeg" if clean.ext == "jpg" else "image/png"), clean.data
        else:
            mime, data = "image/jpeg", clean.thumb
        urls.append(f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}")
    return urls


def _sampling(persona: PersonaView, model: ModelConfig) -> dict[str, Any]:
    """The persona's sampling choices; a reply never exceeds the room the budget kept for it."""
    out: dict[str, Any] = {}
    if persona.temperature is not None:
        out["temperature"] = persona.temperature
    if persona.top_p is not None:
        out["top_p"] = persona.top_p
    if persona.max_tokens:
        out["max_tokens"] = min(persona.max_tokens, model.max_output_tokens)
    return out


def _clip_to_tokens(text: str, limit: int, est: TokenEstimator, model: str) -> str:
    """The longest prefix of `text` within `limit` tokens (binary search on characters)."""
    if est.text(text, model) <= limit:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if est.text(text[:mid], model) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…"
