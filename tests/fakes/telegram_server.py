"""A fake Telegram Bot API server on loopback, for tests that drive the real python-telegram-bot.

The bot under test is pointed at it with `TELEGRAM_BASE_URL=<server.url>` (PTB's `base_url` is
`<url>/bot`, `base_file_url` is `<url>/file/bot`). The server:

- answers `getMe`, `deleteWebhook`, `getMyCommands`, `setMyCommands`, `sendChatAction`,
  `answerCallbackQuery`, `sendMessageDraft` and returns real-looking `Message` objects for
  `sendMessage`, `editMessageText`, `sendPhoto` and `sendDocument`;
- hands out queued updates through `getUpdates` (long poll honouring `offset` and `timeout`);
  an update pushed again with the same `update_id` is delivered again, like Telegram re-delivering
  after a crash;
- serves files registered with `add_file` through `getFile` and `/file/bot<token>/<path>`;
- records every call with its parameters and monotonic time, and can answer a scripted
  429 `retry_after` for a method;
- answers "message is not modified" like Telegram when an edit changes nothing.

Run it standalone with `python -m tests.fakes.telegram_server --port 8081`; push updates with
`POST /_fake/push` (JSON update) and read the recorded calls at `GET /_fake/calls`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-token-for-the-fake-server"
BOT_ID = 123456
BOT_USERNAME = "afterglow_test_bot"


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    at: float
    files: dict[str, bytes] = field(default_factory=dict)
    status: int = 200
    result: Any = None


def _decode(value: str) -> Any:
    # PTB sends non-string values JSON-encoded as form fields; plain strings arrive as they are.
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


class FakeTelegram:
    """The fake server's state and handlers; start with `await server.start()`."""

    def __init__(self, token: str = TOKEN, *, bot_id: int = BOT_ID) -> None:
        self.token = token
        self.bot = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Afterglow",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[Call] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        #: What getFile claims a file's size is (None: no size), to test caps against liars.
        self.reported_sizes: dict[str, int | None] = {}
        self.downloads: list[str] = []
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.profile: dict[str, str] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self.admins: dict[int, list[dict[str, Any]]] = {}
        #: Chats that answer 403 (the person blocked the bot or never pressed Start).
        self.blocked_chats: set[int] = set()
        self._queue: list[tuple[dict[str, Any], bool]] = []  # (update, handed out)
        self._failures: dict[str, list[int]] = {}
        self._outages: dict[str, list[int]] = {}
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._recorded = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        app.router.add_post("/_fake/push", self._push_http)
        app.router.add_get("/_fake/calls", self._calls_http)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on loopback (port 0 = any free port); returns the base URL."""
        # access_log=None: the access log would print request paths, and they contain the token.
        self._runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        self.url = f"http://{host}:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- scripting -------------------------------------------------------------------------

    def push(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue an update (assigning `update_id` if missing); returns it."""
        upd = dict(update)
        upd.setdefault("update_id", next(self._update_ids))
        for key in ("message", "edited_message", "callback_query", "my_chat_member"):
            body = upd.get(key)
            if isinstance(body, dict):
                chat = body.get("chat") or (body.get("message") or {}).get("chat")
                if isinstance(chat, dict):
                    self.chats[int(chat["id"])] = chat
                if key in ("message",) and "message_id" in body:
                    self.messages[(int(body["chat"]["id"]), int(body["message_id"]))] = body
        self._queue.append((upd, False))
        self._changed.set()
        return upd

    def add_file(self, file_id: str, data: bytes, path: str | None = None) -> None:
        """Make `file_id` downloadable (`getFile` then the file URL)."""
        self.files[file_id] = (data, path or f"documents/{file_id}.bin")

    def fail_next(self, method: str, *, retry_after: int, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 and `retry_after` seconds."""
        self._failures.setdefault(method, []).extend([retry_after] * times)

    def break_next(self, method: str, *, status: int = 502, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with an HTTP error (an outage)."""
        self._outages.setdefault(method, []).extend([status] * times)

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.status == 200]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of messages that reached a chat (sendMessage), in order."""
        return [
            str(c.params.get("text", ""))
            for c in self.calls_of("sendMessage")
            if chat_id is None or int(c.params["chat_id"]) == chat_id
        ]

    async def wait_for(
        self, method: str, count: int = 1, *, timeout: float = 5.0, chat_id: int | None = None
    ) -> list[Call]:
        """Wait until `count` successful calls of `method` were recorded; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                c
                for c in self.calls_of(method)
                if chat_id is None or int(c.params.get("chat_id", 0)) == chat_id
            ]
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"{count}× {method} not seen in {timeout}s; calls: {seen}")
            self._recorded.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._recorded.wait(), remaining)

    async def wait_until(self, predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
        """Wait until `predicate()` holds, re-checking after every recorded call."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met in {timeout}s")
            self._recorded.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._recorded.wait(), min(remaining, 0.5))

    async def idle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Wait until the queue is handed out and no call arrived for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = any(not handed for _, handed in self._queue)
            last = max((c.at for c in self.calls if c.method != "getUpdates"), default=0.0)
            if not pending and time.monotonic() - last >= quiet:
                return
            await asyncio.sleep(0.05)

    # -- HTTP handlers -----------------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            params = dict(await request.json())
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                    params[key] = {"filename": value.filename}
                else:
                    params[key] = _decode(str(value))
        params.update({k: _decode(v) for k, v in request.query.items()})
        return params, files

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params, files = await self._params(request)
        call = Call(method, params, time.monotonic(), files)
        if method != "getUpdates":
            self.calls.append(call)
        outage = self._outages.get(method)
        if outage:
            call.status = outage.pop(0)
            self._recorded.set()
            return web.Response(status=call.status, text="Bad Gateway")
        queued = self._failures.get(method)
        if queued:
            retry_after = queued.pop(0)
            call.status = 429
            self._recorded.set()
            return _error(
                429,
                f"Too Many Requests: retry after {retry_after}",
                parameters={"retry_after": retry_after},
            )
        target = str(params.get("chat_id", ""))
        numeric = target.lstrip("-").isdigit()
        if numeric and int(target) in self.blocked_chats and method.startswith("send"):
            call.status = 403
            self._recorded.set()
            return _error(403, "Forbidden: bot was blocked by the user")
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            call.status = 404
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params, files)
        except _ApiError as err:
            call.status = err.code
            self._recorded.set()
            return _error(err.code, err.description)
        call.result = result
        self._recorded.set()
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.match_info["path"]
        for data, file_path in self.files.values():
            if file_path == path:
                self.downloads.append(path)
                return web.Response(body=data, content_type="application/octet-stream")
        return _error(404, "Not Found")

    async def _push_http(self, request: web.Request) -> web.Response:
        return web.json_response(self.push(await request.json()))

    async def _calls_http(self, request: web.Request) -> web.Response:
        rows = [{"method": c.method, "params": c.params, "status": c.status} for c in self.calls]
        return web.json_response(rows)

    # -- API methods -------------------------------------------------------------------------

    async def _m_getMe(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return self.bot

    async def _m_deleteWebhook(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return True

    async def _m_getUpdates(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        offset = int(p.get("offset") or 0)
        timeout = float(p.get("timeout") or 0)
        limit = int(p.get("limit") or 100)
        # Confirmed updates (handed out before, id below offset) are forgotten, like Telegram.
        self._queue = [(u, h) for u, h in self._queue if not (h and u["update_id"] < offset)]
        deadline = time.monotonic() + timeout
        while True:
            ready = [(i, u) for i, (u, h) in enumerate(self._queue) if not h][:limit]
            if ready or time.monotonic() >= deadline:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        for i, _ in ready:
            self._queue[i] = (self._queue[i][0], True)
        return [u for _, u in ready]

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        cid = int(chat_id)
        return self.chats.get(cid) or {
            "id": cid,
            "type": "private" if cid > 0 else "group",
            **({"first_name": "U"} if cid > 0 else {"title": "Group"}),
        }

    def _new_message(self, p: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat = self._chat(p["chat_id"])
        msg = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {k: self.bot[k] for k in ("id", "is_bot", "first_name", "username")},
            **extra,
        }
        if "reply_markup" in p and isinstance(p["reply_markup"], dict):
            msg["reply_markup"] = p["reply_markup"]
        self.messages[(int(chat["id"]), msg["message_id"])] = msg
        return msg

    async def _m_sendMessage(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        text = str(p.get("text", ""))
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        return self._new_message(p, text=text)

    async def _m_sendMessageDraft(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        if int(p["chat_id"]) < 0:
            raise _ApiError(400, "Bad Request: drafts can be sent only to private chats")
        if not int(p.get("draft_id") or 0):
            raise _ApiError(400, "Bad Request: draft_id must be non-zero")
        return True

    async def _m_editMessageText(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        key = (int(p["chat_id"]), int(p["message_id"]))
        msg = self.messages.get(key)
        if msg is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        markup = p.get("reply_markup")
        if msg.get("text") == p.get("text") and markup == msg.get("reply_markup"):
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply"
                " markup are exactly the same as a current content and reply markup of the message",
            )
        msg["text"] = str(p.get("text", ""))
        if markup is not None:
            msg["reply_markup"] = markup
        return msg

    async def _m_sendPhoto(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        size = len(f.get("photo", b""))
        fid = f"sent-photo-{next(self._ids)}"
        photo = [
            {"file_id": fid, "file_unique_id": fid, "width": 1, "height": 1, "file_size": size}
        ]
        return self._new_message(p, photo=photo, caption=p.get("caption"))

    async def _m_sendDocument(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        fid = f"sent-doc-{next(self._ids)}"
        meta = p.get("document") if isinstance(p.get("document"), dict) else {}
        doc = {
            "file_id": fid,
            "file_unique_id": fid,
            "file_name": (meta or {}).get("filename", "file"),
            "file_size": len(f.get("document", b"")),
        }
        return self._new_message(p, document=doc, caption=p.get("caption"))

    async def _m_getFile(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        fid = str(p["file_id"])
        if fid not in self.files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        data, path = self.files[fid]
        size = self.reported_sizes.get(fid, len(data))
        info: dict[str, Any] = {"file_id": fid, "file_unique_id": fid, "file_path": path}
        if size is not None:
            info["file_size"] = size
        return info

    async def _m_setMyCommands(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        scope = p.get("scope") or {"type": "default"}
        key = f"{scope.get('type', 'default')}:{p.get('language_code') or ''}"
        self.commands[key] = list(p.get("commands") or [])
        return True

    async def _m_getMyCommands(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        scope = p.get("scope") or {"type": "default"}
        return self.commands.get(
            f"{scope.get('type', 'default')}:{p.get('language_code') or ''}", []
        )

    async def _m_setMyDescription(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        self.profile[f"description:{p.get('language_code') or ''}"] = str(p.get("description", ""))
        return True

    async def _m_setMyShortDescription(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        key = f"short:{p.get('language_code') or ''}"
        self.profile[key] = str(p.get("short_description", ""))
        return True

    async def _m_answerCallbackQuery(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return True

    async def _m_editMessageReplyMarkup(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        msg = self.messages.get((int(p["chat_id"]), int(p["message_id"])))
        if msg is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        msg.pop("reply_markup", None)
        return msg

    async def _m_getChatAdministrators(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return [
            {"status": "creator", "user": u, "is_anonymous": False}
            for u in self.admins.get(int(p["chat_id"]), [])
        ]

    async def _m_getChatMember(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        uid = int(p["user_id"])
        admins = {u["id"]: u for u in self.admins.get(int(p["chat_id"]), [])}
        if uid in admins:
            return {"status": "creator", "user": admins[uid], "is_anonymous": False}
        return {"status": "member", "user": {"id": uid, "is_bot": False, "first_name": "U"}}

    async def _m_sendChatAction(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return True


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _error(code: int, description: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description, **extra}
    return web.json_response(body, status=code)


# -- update builders (used by tests) ----------------------------------------------------------

USER = {"id": 42, "is_bot": False, "first_name": "Lin", "language_code": "en"}
GROUP = {"id": -1001, "type": "supergroup", "title": "Farewell circle"}


def private_chat(user: Mapping[str, Any] = USER) -> dict[str, Any]:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def text_message(
    text: str,
    *,
    message_id: int,
    user: Mapping[str, Any] = USER,
    chat: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `message` object; `/commands` get their bot_command entity like Telegram adds."""
    msg: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": dict(chat or private_chat(user)),
        "from": dict(user),
        "text": text,
        **extra,
    }
    if text.startswith("/"):
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return msg


def main() -> None:
    """Run the fake server in the foreground (manual end-to-end runs of `afterglow run`)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=TOKEN)
    args = parser.parse_args()

    async def serve() -> None:
        server = FakeTelegram(args.token)
        print(await server.start(port=args.port), flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
