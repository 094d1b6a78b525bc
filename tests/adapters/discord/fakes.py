"""Offline Discord: real discord.py objects whose HTTP calls land in a recorder.

`FakeDiscord` replaces the two network edges of discord.py — the bot HTTP client's `request`
and the interaction webhook adapter (a context variable) — so real `Interaction`, `Message`
and `DMChannel` objects behave as in production while every call is recorded with its JSON
payload (allowed mentions, flags, components) for assertions.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import discord
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

BOT_ID = 9000
GUILD_ID = 7700
CHANNEL_ID = 5500
DM_CHANNEL_ID = 5600
OWNER_ID = 4200
OTHER_ID = 4300
EPHEMERAL = 64
SUPPRESS_EMBEDS = 4


@dataclass
class Call:
    method: str
    path: str
    payload: Any  # a JSON object, or a list for bulk command sync
    files: list[str]

    @property
    def flags(self) -> int:
        data = self.payload.get("data") if self.path.endswith("/callback") else self.payload
        return int((data or {}).get("flags") or 0)


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
    }


@dataclass
class _Response:
    status: int
    reason: str


class _WebhookRecorder(AsyncWebhookAdapter):
    def __init__(self, owner: FakeDiscord) -> None:
        super().__init__()
        self.owner = owner

    async def request(self, route: Any, session: Any, **kwargs: Any) -> Any:
        return self.owner.record(
            route, kwargs.get("payload"), kwargs.get("multipart"), kwargs.get("files")
        )


class FakeDiscord:
    """Records every HTTP call discord.py makes for a client."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        self.calls: list[Call] = []
        self._last_message: dict[str, Any] = {}
        self.forbidden_channels: set[int] = set()
        self.fail_sync = False
        self._ids = itertools.count(10_000)
        state = client._connection
        state.user = discord.ClientUser(
            state=state, data=user_payload(BOT_ID, "afterglow", bot=True)
        )
        state.application_id = 1234
        client.http.request = self._http_request  # type: ignore[method-assign]
        self._token = async_context.set(_WebhookRecorder(self))

    def close(self) -> None:
        try:
            async_context.reset(self._token)
        except ValueError:  # torn down in another context: put the library default back
            async_context.set(AsyncWebhookAdapter())

    # -- recording ---------------------------------------------------------------------------

    async def _http_request(
        self, route: Any, *, files: Any = None, form: Any = None, **kw: Any
    ) -> Any:
        return self.record(route, kw.get("json"), form, files)

    def record(self, route: Any, payload: Any, multipart: Any, files: Any) -> Any:
        if payload is None and multipart:
            for part in multipart:
                if part.get("name") == "payload_json":
                    payload = json.loads(part["value"])
        names = [f.filename for f in files or []]
        path = route.url
        body = payload if isinstance(payload, list) else dict(payload or {})
        call = Call(route.method, path, body, names)
        self.calls.append(call)
        return self._answer(call)

    def _answer(self, call: Call) -> Any:
        for channel_id in self.forbidden_channels:
            if f"/channels/{channel_id}/messages" in call.path:
                raise discord.Forbidden(
                    _Response(403, "Forbidden"), {"code": 50013, "message": "Missing Permissions"}
                )
        if call.path.endswith("/callback"):
            data = call.payload.get("data") or {}
            return {
                "interaction": {
                    "id": "1",
                    "type": 2,
                    "response_message_loading": call.payload.get("type") == 5,
                    "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL),
                }
            }
        if call.method in ("POST", "PATCH") and (
            "/messages" in call.path or "/webhooks/" in call.path
        ):
            channel = (
                call.path.split("/channels/")[1].split("/")[0]
                if "/channels/" in call.path
                else str(CHANNEL_ID)
            )
            sent = self.message_payload(
                int(channel),
                call.payload.get("content") or "",
                flags=int(call.payload.get("flags") or 0),
                author=user_payload(BOT_ID, "afterglow", bot=True),
            )
            sent["components"] = call.payload.get("components") or []
            self._last_message = sent
            return sent
        if call.method == "PUT" and call.path.endswith("/commands"):
            if self.fail_sync:
                raise discord.HTTPException(
                    _Response(400, "Bad Request"), {"code": 50035, "message": "Invalid Form Body"}
                )
            return []
        if call.method == "GET" and call.path.rsplit("/", 2)[-2] == "channels":
            return {
                "id": call.path.rsplit("/", 1)[1],
                "type": 0,
                "guild_id": str(GUILD_ID),
                "name": "memorial",
                "position": 0,
                "permission_overwrites": [],
            }
        if call.method == "POST" and call.path.endswith("/users/@me/channels"):
            return {
                "id": str(DM_CHANNEL_ID),
                "type": 1,
                "recipients": [user_payload(OWNER_ID, "ann")],
            }
        if call.method == "GET" and "/users/" in call.path:
            return user_payload(int(call.path.rsplit("/", 1)[1]), "ann")
        return None

    def message_payload(
        self,
        channel_id: int,
        content: str,
        *,
        flags: int = 0,
        author: dict[str, Any] | None = None,
        mentions: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        guild_id: int | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(message_id or next(self._ids)),
            "channel_id": str(channel_id),
            "type": 0,
            "content": content,
            "author": author or user_payload(OWNER_ID, "ann"),
            "attachments": attachments or [],
            "embeds": [],
            "mentions": mentions or [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": "2026-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "flags": flags,
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
        return payload

    # -- building real discord.py objects ------------------------------------------------------

    def dm_channel(self, user_id: int = OWNER_ID) -> discord.DMChannel:
        state = self.client._connection
        data = {"id": str(DM_CHANNEL_ID), "type": 1, "recipients": [user_payload(user_id, "ann")]}
        return discord.DMChannel(me=state.user, state=state, data=data)  # type: ignore[arg-type]

    def guild_channel(self) -> discord.TextChannel:
        state = self.client._connection
        guild = state._get_or_create_unavailable_guild(GUILD_ID)
        guild.name = "Lantern"
        channel = discord.TextChannel(
            state=state,
            guild=guild,
            data={
                "id": str(CHANNEL_ID),
                "type": 0,
                "guild_id": str(GUILD_ID),
                "name": "memorial",
                "position": 0,
                "permission_overwrites": [],
            },
        )
        guild._add_channel(channel)
        return channel

    def guild(self, *, can_send: bool = True) -> discord.Guild:
        """A full guild with one text channel (its system channel) and the bot as a member."""
        perms = discord.Permissions(view_channel=True, send_messages=can_send)
        bot = user_payload(BOT_ID, "afterglow", bot=True)
        data = {
            "id": str(GUILD_ID),
            "name": "Lantern",
            "preferred_locale": "zh-CN",
            "system_channel_id": str(CHANNEL_ID),
            "roles": [
                {
                    "id": str(GUILD_ID),
                    "name": "@everyone",
                    "permissions": str(perms.value),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "channels": [
                {
                    "id": str(CHANNEL_ID),
                    "type": 0,
                    "name": "memorial",
                    "position": 0,
                    "permission_overwrites": [],
                }
            ],
            "members": [
                {
                    "user": bot,
                    "roles": [],
                    "joined_at": "2026-01-01T00:00:00+00:00",
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
            ],
            "member_count": 2,
        }
        return discord.Guild(data=data, state=self.client._connection)  # type: ignore[arg-type]

    def message(
        self,
        channel: discord.abc.Messageable,
        content: str,
        *,
        author_id: int = OWNER_ID,
        bot: bool = False,
        mentions: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> discord.Message:
        guild = getattr(channel, "guild", None)
        data = self.message_payload(
            channel.id,  # type: ignore[attr-defined]
            content,
            author=user_payload(author_id, "ann", bot=bot),
            mentions=mentions,
            attachments=attachments,
            guild_id=guild.id if guild else None,
        )
        if guild is not None:
            data["member"] = {
                "roles": [],
                "joined_at": "2026-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
        return discord.Message(state=self.client._connection, channel=channel, data=data)  # type: ignore[arg-type]

    def interaction(
        self,
        command: dict[str, Any],
        *,
        guild: bool,
        locale: str = "en-US",
        user_id: int = OWNER_ID,
        admin: bool = False,
        resolved: dict[str, Any] | None = None,
        kind: int = 2,
        message: dict[str, Any] | None = None,
    ) -> discord.Interaction:
        """A real interaction (slash command, or a component press when kind=3)."""
        data = self.interaction_payload(
            command,
            guild=guild,
            locale=locale,
            user_id=user_id,
            admin=admin,
            resolved=resolved,
            kind=kind,
            message=message,
        )
        return discord.Interaction(data=data, state=self.client._connection)  # type: ignore[arg-type]

    def interaction_payload(
        self,
        command: dict[str, Any],
        *,
        guild: bool,
        locale: str = "en-US",
        user_id: int = OWNER_ID,
        admin: bool = False,
        resolved: dict[str, Any] | None = None,
        kind: int = 2,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The gateway INTERACTION_CREATE payload for `interaction`."""
        user = user_payload(user_id, "ann")
        data: dict[str, Any] = {
            "id": str(next(self._ids)),
            "application_id": "1234",
            "token": "interaction-token",
            "version": 1,
            "type": kind,
            "locale": locale,
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": "0",
            "data": dict(command, resolved=resolved or {}),
        }
        if message is not None:
            data["message"] = message
        if guild:
            data.update(
                guild_id=str(GUILD_ID),
                guild_locale="en-US",
                channel_id=str(CHANNEL_ID),
                channel={
                    "id": str(CHANNEL_ID),
                    "type": 0,
                    "guild_id": str(GUILD_ID),
                    "name": "memorial",
                    "position": 0,
                    "permission_overwrites": [],
                },
                member={
                    "user": user,
                    "roles": [],
                    "joined_at": "2026-01-01T00:00:00+00:00",
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                    "permissions": "8" if admin else "0",
                },
            )
        else:
            data.update(
                channel_id=str(DM_CHANNEL_ID),
                channel={"id": str(DM_CHANNEL_ID), "type": 1, "recipients": [user]},
                user=user,
            )
        return data

    def last_message(self) -> dict[str, Any]:
        """The message payload Discord returned for the last message the bot sent."""
        return self._last_message


def slash(name: str, *, sub: str | None = None, **options: Any) -> dict[str, Any]:
    """Interaction `data` for `/name [sub] option:value` (attachment values are ids)."""
    types = {str: 3, bool: 5, int: 4}
    opts: list[dict[str, Any]] = []
    for key, value in options.items():
        if isinstance(value, Attachment):
            opts.append({"name": key, "type": 11, "value": value.id})
        else:
            opts.append({"name": key, "type": types[type(value)], "value": value})
    if sub is not None:
        opts = [{"name": sub, "type": 1, "options": opts}]
    return {"id": "3", "name": name, "type": 1, "options": opts}


@dataclass
class Attachment:
    """An attachment option value for `slash`, with its resolved payload."""

    id: str
    filename: str
    size: int
    url: str

    def resolved(self) -> dict[str, Any]:
        return {
            "attachments": {
                self.id: {
                    "id": self.id,
                    "filename": self.filename,
                    "size": self.size,
                    "url": self.url,
                    "proxy_url": self.url,
                    "content_type": "text/plain",
                }
            }
        }
