"""Recording Telegram updates the moment getUpdates returns them, before PTB sees them.

python-telegram-bot sends the next getUpdates (whose offset tells Telegram to forget the batch)
only after the previous call returned, and with concurrent updates that can happen before any
handler ran. So the batch is written to the inbox inside the request itself: once the offset
moves, every update in it is on disk with its raw JSON, and a crash replays it on the next start.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from telegram.error import NetworkError
from telegram.request import HTTPXRequest, RequestData

from bot.services.storage.users import Users

log = logging.getLogger(__name__)


def update_key(update_id: int) -> str:
    """The inbox key of a Telegram update."""
    return f"u{update_id}"


def _sender_id(update: dict[str, Any]) -> str:
    # Every update kind we allow carries its sender as `from` on its one payload object; it lets
    # /forget all find (and wipe) the raw copy.
    for value in update.values():
        if isinstance(value, dict):
            sender = value.get("from")
            if isinstance(sender, dict) and "id" in sender:
                return str(sender["id"])
    return ""


def fetched_updates(payload: bytes) -> list[tuple[str, str, str]]:
    """`(key, sender_id, raw_json)` for each update in a getUpdates response body."""
    try:
        body = json.loads(payload)
    except ValueError:
        return []  # PTB reports the malformed body itself
    result = body.get("result") if isinstance(body, dict) and body.get("ok") else None
    if not isinstance(result, list):
        return []
    found = []
    for update in result:
        if isinstance(update, dict) and isinstance(update.get("update_id"), int):
            raw = json.dumps(update, ensure_ascii=False, separators=(",", ":"))
            found.append((update_key(update["update_id"]), _sender_id(update), raw))
    return found


class RecordingRequest(HTTPXRequest):
    """The getUpdates transport: stores each returned batch in one transaction before returning."""

    def __init__(self, users: Users, platform: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._users = users
        self._platform = platform

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        status, payload = await super().do_request(
            url,
            method,
            request_data=request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if status != 200 or not url.endswith("/getUpdates"):
            return status, payload
        updates = fetched_updates(payload)
        if updates:
            try:
                await self._users.record_fetched(self._platform, updates)
            except Exception as exc:
                # Not recorded → not acknowledged: PTB retries getUpdates with the old offset.
                log.error("telegram updates not recorded: %s", type(exc).__name__)
                raise NetworkError("inbox not recorded") from exc
        return status, payload
