"""ChatGPT data exports, read as a stream.

An export is a zip (or its bare `conversations.json`, or the 2026 split `conversations-NNN.json`
files) holding an array of conversations. Each conversation is a tree of message nodes; the one the
person saw is the *active branch*, walked from `current_node` up through `parent` (platform-notes §5).
The array is parsed item by item with ijson, so a 500 MB export never sits in memory whole: only
one conversation at a time does.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

import ijson

from bot.core.errors import UserError
from bot.services.files import CappedReader, Limits, SafeZip, ensure_not_empty, ensure_size, is_zip

_MEMBER = re.compile(r"(?:^|/)conversations(?:-(\d+))?\.json$")
_VISIBLE_TYPES: Final = ("text", "multimodal_text")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One visible turn of the active branch."""

    id: str
    role: str  # "user" or "assistant"
    text: str
    create_time: float | None
    model: str | None


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation, linearized along its active branch."""

    id: str
    title: str
    create_time: float | None
    update_time: float | None
    models: tuple[str, ...]
    messages: tuple[ChatMessage, ...]
    #: Custom instructions ("how should ChatGPT respond"), when the export carries them.
    instructions: str = ""
    #: Texts the model saved to its memory tool (`recipient == "bio"`): candidate memories only.
    memory_candidates: tuple[str, ...] = ()

    @property
    def date(self) -> str:
        """The creation date as YYYY-MM-DD (UTC), or an empty string."""
        if self.create_time is None:
            return ""
        return datetime.fromtimestamp(self.create_time, UTC).date().isoformat()


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """Which conversations a person chose: all given criteria must hold."""

    title_contains: str | None = None
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive
    models: frozenset[str] = field(default_factory=frozenset)
    ids: frozenset[str] = field(default_factory=frozenset)

    def matches(self, conv: Conversation) -> bool:
        """True when `conv` passes every criterion that is set."""
        if self.ids and conv.id not in self.ids:
            return False
        if self.title_contains and self.title_contains.casefold() not in conv.title.casefold():
            return False
        if self.since is not None and (conv.create_time is None or conv.create_time < self.since):
            return False
        if self.until is not None and (conv.create_time is None or conv.create_time >= self.until):
            return False
        if self.models:
            wanted = {m.casefold() for m in self.models}
            return any(m.casefold() in wanted for m in conv.models)
        return True


def parse_date(value: str) -> float:
    """`YYYY-MM-DD` as epoch seconds at UTC midnight (for `since`/`until` filters)."""
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError as exc:
        raise UserError("imports.bad_date", value=value[:20]) from exc


# --- reading ---------------------------------------------------------------------------------


def iter_conversations(
    source: bytes | Path,
    limits: Limits | None = None,
    *,
    chosen: ConversationFilter | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Conversation]:
    """Every conversation of an export (zip, JSON array, or `{"conversations": [...]}`), in file
    order, optionally only those `chosen` passes; `on_progress` gets the running count read."""
    limits = limits or Limits()
    seen = 0
    for stream in _streams(source, limits):
        with stream:
            for raw in _items(stream):
                seen += 1
                if on_progress is not None:
                    on_progress(seen)
                conv = linearize(raw)
                if conv is not None and (chosen is None or chosen.matches(conv)):
                    yield conv
    if seen == 0:
        raise UserError("imports.chatgpt.empty")


def _streams(source: bytes | Path, limits: Limits) -> Iterator[io.RawIOBase]:
    """Binary streams of each conversations file in the export, in shard order."""
    if isinstance(source, bytes):
        ensure_size(len(source), limits.max_file_bytes)
        ensure_not_empty(source)
        zipped = is_zip(source)
    else:
        size = source.stat().st_size
        ensure_size(size, limits.max_file_bytes)
        if size == 0:
            raise UserError("files.empty")
        with source.open("rb") as head:
            zipped = is_zip(head.read(4))
    if not zipped:
        raw: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")
        yield CappedReader(raw, limits.max_member_bytes, "files.too_large")
        return
    with SafeZip(source, limits) as archive:
        members = sorted((name for name in archive.names() if _MEMBER.search(name)), key=_shard_key)
        if not members:
            raise UserError("imports.chatgpt.not_export")
        for name in members:
            yield archive.open(name)


def _shard_key(name: str) -> tuple[int, int, str]:
    match = _MEMBER.search(name)
    shard = match.group(1) if match else None
    return (name.count("/"), int(shard) if shard else -1, name)


def _items(stream: io.RawIOBase) -> Iterator[dict[str, Any]]:
    """Conversation objects from a top-level array or a `{"conversations": [...]}` wrapper."""
    buffered = io.BufferedReader(stream, 1 << 16)
    head = buffered.peek(256)[:256].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] == b"[":
        prefix = "item"
    elif head[:1] == b"{":
        prefix = "conversations.item"
    else:
        raise UserError("files.bad_json")
    try:
        for item in ijson.items(buffered, prefix, use_float=True):
            if isinstance(item, dict):
                yield item
    except ijson.JSONError as exc:
        raise UserError("files.bad_json") from exc
    except UnicodeDecodeError as exc:
        raise UserError("files.bad_encoding") from exc


# --- linearizing ---------------------------------------------------------------------------


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def active_branch(conv: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages on the path root → `current_node`, guarding cycles and dangling parents.

    Without a usable `current_node` the most recent leaf stands in for it.
    """
    mapping = _dict(conv.get("mapping"))
    node_id = conv.get("current_node")
    if not isinstance(node_id, str) or node_id not in mapping:
        node_id = _latest_leaf(mapping)
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    while isinstance(node_id, str) and node_id in mapping and node_id not in seen:
        seen.add(node_id)
        node = _dict(mapping[node_id])
        message = node.get("message")
        if isinstance(message, dict):
            out.append(message)
        node_id = node.get("parent")
    return out[::-1]


def _latest_leaf(mapping: dict[str, Any]) -> str | None:
    best: tuple[float, str] | None = None
    for node_id, node in mapping.items():
        node = _dict(node)
        if node.get("children"):
            continue
        stamp = _float(_dict(node.get("message")).get("create_time")) or 0.0
        if best is None or stamp >= best[0]:
            best = (stamp, node_id)
    return best[1] if best else None


def _role(message: dict[str, Any]) -> str:
    return _str(_dict(message.get("author")).get("role"))


def _visible(message: dict[str, Any]) -> bool:
    metadata = _dict(message.get("metadata"))
    role = _role(message)
    if metadata.get("is_visually_hidden_from_conversation") or role not in ("user", "assistant"):
        return False
    if role == "assistant" and message.get("recipient") not in (None, "all"):
        return False  # tool calls: bio, python, web
    return _dict(message.get("content")).get("content_type") in _VISIBLE_TYPES


def text_of(message: dict[str, Any]) -> str:
    """The plain text of a message; image parts and other objects are skipped."""
    content = _dict(message.get("content"))
    parts = content.get("parts")
    pieces: list[str] = []
    if isinstance(parts, list):
        for part in parts:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                pieces.append(part["text"])
    joined = "".join(pieces)
    return joined or _str(content.get("text")) or _str(content.get("result"))


def _instructions(messages: Iterable[dict[str, Any]]) -> str:
    for message in messages:
        metadata = _dict(message.get("metadata"))
        context = _dict(metadata.get("user_context_message_data"))
        if metadata.get("is_user_system_message") and context:
            return _str(context.get("about_model_message")).strip()
        content = _dict(message.get("content"))
        if content.get("content_type") == "user_editable_context":
            return _str(content.get("user_instructions")).strip()
    return ""


def linearize(conv: dict[str, Any]) -> Conversation | None:
    """A `Conversation` from one raw export object, or None when it is not shaped like one."""
    if not isinstance(conv.get("mapping"), dict):
        return None
    branch = active_branch(conv)
    messages: list[ChatMessage] = []
    models: list[str] = []
    candidates: list[str] = []
    for message in branch:
        metadata = _dict(message.get("metadata"))
        model = _str(metadata.get("model_slug")) or None
        if message.get("recipient") == "bio":
            text = text_of(message).strip()
            if text:
                candidates.append(text)
        if not _visible(message):
            continue
        text = text_of(message).strip()
        if not text:
            continue
        role = _role(message)
        if role == "assistant" and model and model not in models:
            models.append(model)
        messages.append(
            ChatMessage(
                id=_str(message.get("id")),
                role=role,
                text=text,
                create_time=_float(message.get("create_time")),
                model=model if role == "assistant" else None,
            )
        )
    default_model = _str(conv.get("default_model_slug"))
    if not models and default_model:
        models.append(default_model)
    return Conversation(
        id=_str(conv.get("id")) or _str(conv.get("conversation_id")),
        title=_str(conv.get("title")).strip(),
        create_time=_float(conv.get("create_time")),
        update_time=_float(conv.get("update_time")),
        models=tuple(models),
        messages=tuple(messages),
        instructions=_instructions(branch),
        memory_candidates=tuple(candidates),
    )
