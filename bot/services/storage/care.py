"""Care repository: per-person care state, the 24-hour risk window, anniversaries and the
identifier-free crisis counters. Nothing stored here is message text."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from bot.services.safety.honesty import DisclosureState
from bot.services.storage.db import Database

_PERSON_TABLES = ("care_state", "care_risk", "anniversaries", "care_trusted",
                  "care_trusted_invites")
COUNTER_TIERS = ("checkin", "high", "escalated", "referral")
PLACES = ("dm", "group")
_STATE_FIELDS = ("region", "minor", "stopped_at", "reminders_opt_in", "last_block_at")


@dataclass(frozen=True, slots=True)
class CareState:
    """One person's care settings and timers (defaults for someone never seen)."""

    person_id: int
    region: str | None = None
    minor: bool = False
    stopped_at: float | None = None
    reminders_opt_in: bool = False
    last_block_at: float | None = None
    disclosure: DisclosureState = field(default_factory=DisclosureState)


@dataclass(frozen=True, slots=True)
class Anniversary:
    """A date that matters to a person, attached to one of their personas."""

    id: int
    person_id: int
    persona_id: int | None
    persona_name: str
    month: int
    day: int
    year: int | None
    label: str
    platform: str
    platform_user_id: str
    locale: str
    tz: str
    next_fire_at: float
    last_fired_at: float | None


@dataclass(frozen=True, slots=True)
class TrustedContact:
    """Someone a person chose to be told, on request, that they are having a hard time."""

    platform: str
    user_id: str
    name: str


@dataclass(frozen=True, slots=True)
class CrisisCount:
    """One aggregate counter row: a UTC day, a tier, a locale, a place, and how many."""

    day: str
    tier: str
    locale: str
    place: str
    count: int


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: Any) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value is not None else None


class CareStore:
    """Typed access to the care tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ state

    async def get(self, person_id: int) -> CareState:
        row = await self.db.fetchone(
            "SELECT region, minor, stopped_at, reminders_opt_in, last_block_at, first_seen_at,"
            " last_message_at, session_started_at, last_disclosure_at, start_notice_on,"
            " last_break_at FROM care_state WHERE person_id = ?",
            (person_id,),
        )
        if row is None:
            return CareState(person_id)
        return CareState(
            person_id=person_id,
            region=row[0],
            minor=bool(row[1]),
            stopped_at=row[2],
            reminders_opt_in=bool(row[3]),
            last_block_at=row[4],
            disclosure=DisclosureState(
                first_seen_at=_dt(row[5]),
                last_message_at=_dt(row[6]),
                session_started_at=_dt(row[7]),
                last_disclosure_at=_dt(row[8]),
                start_notice_on=date.fromisoformat(row[9]) if row[9] else None,
                last_break_at=_dt(row[10]),
            ),
        )

    async def save_disclosure(self, person_id: int, state: DisclosureState) -> None:
        values = (
            _ts(state.first_seen_at),
            _ts(state.last_message_at),
            _ts(state.session_started_at),
            _ts(state.last_disclosure_at),
            state.start_notice_on.isoformat() if state.start_notice_on else None,
            _ts(state.last_break_at),
        )
        await self.db.execute(
            "INSERT INTO care_state (person_id, first_seen_at, last_message_at, session_started_at,"
            " last_disclosure_at, start_notice_on, last_break_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(person_id) DO UPDATE SET first_seen_at = excluded.first_seen_at,"
            " last_message_at = excluded.last_message_at,"
            " session_started_at = excluded.session_started_at,"
            " last_disclosure_at = excluded.last_disclosure_at,"
            " start_notice_on = excluded.start_notice_on, last_break_at = excluded.last_break_at,"
            " updated_at = excluded.updated_at",
            (person_id, *values, time.time()),
        )

    async def _set(self, person_id: int, column: str, value: Any) -> None:
        if column not in _STATE_FIELDS:
            raise ValueError(column)
        # `column` is checked against a fixed list above; values are always bound parameters.
        await self.db.execute(
            f"INSERT INTO care_state (person_id, {column}, updated_at) VALUES (?, ?, ?)"
            f" ON CONFLICT(person_id) DO UPDATE SET {column} = excluded.{column},"
            " updated_at = excluded.updated_at",
            (person_id, value, time.time()),
        )

    async def set_region(self, person_id: int, region: str | None) -> None:
        await self._set(person_id, "region", region.upper() if region else None)

    async def set_minor(self, person_id: int, minor: bool) -> None:
        await self._set(person_id, "minor", int(minor))

    async def set_stopped(self, person_id: int, at: float | None) -> None:
        await self._set(person_id, "stopped_at", at)

    async def set_reminders_opt_in(self, person_id: int, opt_in: bool) -> None:
        await self._set(person_id, "reminders_opt_in", int(opt_in))

    async def set_last_block(self, person_id: int, at: float) -> None:
        await self._set(person_id, "last_block_at", at)

    # ------------------------------------------------------------------ risk window

    async def open_risk(self, person_id: int, expires_at: float) -> None:
        await self.db.execute(
            "INSERT INTO care_risk (person_id, expires_at) VALUES (?, ?)"
            " ON CONFLICT(person_id) DO UPDATE SET expires_at = excluded.expires_at",
            (person_id, expires_at),
        )

    async def risk_active(self, person_id: int, now: float) -> bool:
        """True inside the window; an expired row is deleted on the way."""
        row = await self.db.fetchone(
            "SELECT expires_at FROM care_risk WHERE person_id = ?", (person_id,)
        )
        if row is None:
            return False
        if float(row[0]) > now:
            return True
        await self.db.execute(
            "DELETE FROM care_risk WHERE person_id = ? AND expires_at <= ?", (person_id, now)
        )
        return False

    async def purge_expired_risk(self, now: float) -> int:
        async with self.db.write() as conn:
            cur = await conn.execute("DELETE FROM care_risk WHERE expires_at <= ?", (now,))
            return int(cur.rowcount or 0)

    async def has_risk_row(self, person_id: int) -> bool:
        row = await self.db.fetchone("SELECT 1 FROM care_risk WHERE person_id = ?", (person_id,))
        return row is not None

    # ------------------------------------------------------------------ counters

    async def count(self, day: str, tier: str, locale: str, place: str = "dm") -> None:
        """Add one to an aggregate counter (no person, chat or text is recorded)."""
        if tier not in COUNTER_TIERS or place not in PLACES:
            raise ValueError(f"unknown counter {tier}/{place}")
        await self.db.execute(
            "INSERT INTO crisis_counts (day, tier, locale, place, count) VALUES (?, ?, ?, ?, 1)"
            " ON CONFLICT(day, tier, locale, place) DO UPDATE SET count = count + 1",
            (day, tier, locale, place),
        )

    async def stats(self, since: str | None = None) -> list[CrisisCount]:
        """Counter rows, oldest first; `since` is an ISO day (inclusive)."""
        rows = await self.db.fetchall(
            "SELECT day, tier, locale, place, count FROM crisis_counts WHERE day >= ?"
            " ORDER BY day, tier, locale, place",
            (since or "0000-00-00",),
        )
        return [CrisisCount(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    # ------------------------------------------------------------------ anniversaries

    async def add_anniversary(
        self,
        *,
        person_id: int,
        persona_id: int | None,
        persona_name: str,
        month: int,
        day: int,
        year: int | None,
        label: str,
        platform: str,
        platform_user_id: str,
        locale: str,
        tz: str,
        next_fire_at: float,
    ) -> int:
        return await self.db.execute(
            "INSERT INTO anniversaries (person_id, persona_id, persona_name, month, day, year,"
            " label, platform, platform_user_id, locale, tz, next_fire_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (person_id, persona_id, persona_name, month, day, year, label, platform,
             platform_user_id, locale, tz, next_fire_at, time.time()),
        )

    async def anniversaries(self, person_id: int) -> list[Anniversary]:
        rows = await self.db.fetchall(
            _ANNIV_SELECT + " WHERE person_id = ? ORDER BY month, day, id", (person_id,)
        )
        return [_anniversary(r) for r in rows]

    async def anniversary(self, person_id: int, anniversary_id: int) -> Anniversary | None:
        row = await self.db.fetchone(
            _ANNIV_SELECT + " WHERE person_id = ? AND id = ?", (person_id, anniversary_id)
        )
        return _anniversary(row) if row else None

    async def update_anniversary(
        self, person_id: int, anniversary_id: int, *, month: int, day: int, year: int | None,
        label: str, next_fire_at: float,
    ) -> bool:
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE anniversaries SET month = ?, day = ?, year = ?, label = ?, next_fire_at = ?"
                " WHERE person_id = ? AND id = ?",
                (month, day, year, label, next_fire_at, person_id, anniversary_id),
            )
            return bool(cur.rowcount)

    async def remove_anniversary(self, person_id: int, anniversary_id: int) -> bool:
        async with self.db.write() as conn:
            cur = await conn.execute(
                "DELETE FROM anniversaries WHERE person_id = ? AND id = ?",
                (person_id, anniversary_id),
            )
            return bool(cur.rowcount)

    async def due_anniversaries(self, now: float, limit: int = 50) -> list[Anniversary]:
        rows = await self.db.fetchall(
            _ANNIV_SELECT + " WHERE next_fire_at <= ? ORDER BY next_fire_at LIMIT ?", (now, limit)
        )
        return [_anniversary(r) for r in rows]

    async def claim_anniversary(self, anniversary_id: int, expected_fire_at: float,
                                next_fire_at: float, fired_at: float) -> bool:
        """Move one due anniversary to its next year; False when another run already did.

        The claim is committed *before* the message is sent, so a crash in between loses at most
        one greeting and never sends it twice (a repeat is worse for a grieving person).
        """
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE anniversaries SET next_fire_at = ?, last_fired_at = ?"
                " WHERE id = ? AND next_fire_at = ?",
                (next_fire_at, fired_at, anniversary_id, expected_fire_at),
            )
            return bool(cur.rowcount)

    # ------------------------------------------------------------------ trusted contact

    async def create_invite(self, person_id: int, code: str, expires_at: float) -> None:
        """A fresh one-time code for this person (older codes stop working)."""
        async with self.db.write() as conn:
            await conn.execute("DELETE FROM care_trusted_invites WHERE person_id = ? OR expires_at < ?",
                               (person_id, time.time()))
            await conn.execute(
                "INSERT INTO care_trusted_invites (code, person_id, expires_at) VALUES (?, ?, ?)",
                (code, person_id, expires_at))

    async def accept_invite(self, code: str, contact_platform: str, contact_user_id: str,
                            contact_name: str, now: float) -> int | None:
        """Make the code's sender the trusted contact; returns the inviting person, or None."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "SELECT person_id, expires_at FROM care_trusted_invites WHERE code = ?", (code,))
            row = await cur.fetchone()
            if row is None or float(row[1]) < now:
                return None
            person_id = int(row[0])
            await conn.execute("DELETE FROM care_trusted_invites WHERE code = ?", (code,))
            await conn.execute(
                "INSERT INTO care_trusted (person_id, contact_platform, contact_user_id,"
                " contact_name, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(person_id) DO UPDATE"
                " SET contact_platform = excluded.contact_platform,"
                " contact_user_id = excluded.contact_user_id,"
                " contact_name = excluded.contact_name, created_at = excluded.created_at",
                (person_id, contact_platform, contact_user_id, contact_name, now))
            return person_id

    async def trusted(self, person_id: int) -> TrustedContact | None:
        row = await self.db.fetchone(
            "SELECT contact_platform, contact_user_id, contact_name FROM care_trusted"
            " WHERE person_id = ?", (person_id,))
        return TrustedContact(row[0], row[1], row[2]) if row else None

    async def remove_trusted(self, person_id: int) -> bool:
        async with self.db.write() as conn:
            cur = await conn.execute("DELETE FROM care_trusted WHERE person_id = ?", (person_id,))
            await conn.execute("DELETE FROM care_trusted_invites WHERE person_id = ?", (person_id,))
            return bool(cur.rowcount)

    async def delete_person(self, person_id: int) -> None:
        """Erase everything care keeps about a person (the counters hold nothing personal)."""
        async with self.db.write() as conn:
            for table in _PERSON_TABLES:
                await conn.execute(f"DELETE FROM {table} WHERE person_id = ?", (person_id,))


_ANNIV_SELECT = (
    "SELECT id, person_id, persona_id, persona_name, month, day, year, label, platform,"
    " platform_user_id, locale, tz, next_fire_at, last_fired_at FROM anniversaries"
)


def _anniversary(row: Any) -> Anniversary:
    return Anniversary(
        id=int(row[0]), person_id=int(row[1]), persona_id=row[2], persona_name=row[3],
        month=int(row[4]), day=int(row[5]), year=row[6], label=row[7], platform=row[8],
        platform_user_id=row[9], locale=row[10], tz=row[11], next_fire_at=float(row[12]),
        last_fired_at=row[13],
    )


NextFire = Callable[[int, int, str, float], float]


class CarePersonalData:
    """Care's part of /export, restore, /forget all and account linking.

    Exported: region, minor flag, opt-in and anniversaries. Not exported: the risk window and
    timers (short-lived) and the counters (not personal).
    """

    name = "care"

    def __init__(self, db: Database, next_fire: NextFire | None = None) -> None:
        self.db = db
        # (month, day, tz, after) → next fire time; injected so storage does not import the scheduler.
        self.next_fire = next_fire

    async def dump(self, person_id: int) -> Any:
        store = CareStore(self.db)
        state = await store.get(person_id)
        return {
            "region": state.region,
            "minor": state.minor,
            "reminders_opt_in": state.reminders_opt_in,
            "anniversaries": [
                {"month": a.month, "day": a.day, "year": a.year, "label": a.label,
                 "persona_name": a.persona_name, "locale": a.locale, "tz": a.tz}
                for a in await store.anniversaries(person_id)
            ],
        }

    async def restore(self, conn: Any, person_id: int, data: Any) -> int:
        if not isinstance(data, dict):
            return 0
        now = time.time()
        await conn.execute(
            "INSERT INTO care_state (person_id, region, minor, reminders_opt_in, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(person_id) DO UPDATE SET region = excluded.region,"
            " minor = MAX(minor, excluded.minor), reminders_opt_in = excluded.reminders_opt_in,"
            " updated_at = excluded.updated_at",
            (person_id, data.get("region"), int(bool(data.get("minor"))),
             int(bool(data.get("reminders_opt_in"))), now),
        )
        cur = await conn.execute(
            "SELECT platform, platform_user_id FROM users WHERE person_id = ? ORDER BY id LIMIT 1",
            (person_id,),
        )
        account = await cur.fetchone()
        restored = 0
        items = data.get("anniversaries") or []
        if account is None or not isinstance(items, list):
            return restored
        for item in items:
            try:
                month, day = int(item["month"]), int(item["day"])
                label = str(item["label"])[:100]
                tz = str(item.get("tz") or "UTC")
                fire = self.next_fire(month, day, tz, now) if self.next_fire else now + 86400
            except (KeyError, TypeError, ValueError):
                continue
            await conn.execute(
                "INSERT INTO anniversaries (person_id, persona_id, persona_name, month, day, year,"
                " label, platform, platform_user_id, locale, tz, next_fire_at, created_at)"
                " VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (person_id, str(item.get("persona_name") or ""), month, day, item.get("year"),
                 label, account[0], account[1], str(item.get("locale") or "en"), tz, fire, now),
            )
            restored += 1
        return restored

    async def delete_person(self, conn: Any, person_id: int) -> int:
        removed = 0
        for table in _PERSON_TABLES:
            cur = await conn.execute(f"DELETE FROM {table} WHERE person_id = ?", (person_id,))
            removed += int(cur.rowcount or 0)
        return removed

    async def move_person(self, conn: Any, source: int, target: int) -> None:
        await conn.execute("UPDATE anniversaries SET person_id = ? WHERE person_id = ?",
                           (target, source))
        # Keep the stricter settings of the two: minor mode and the later risk window win.
        await conn.execute(
            "UPDATE care_state SET minor = MAX(minor, (SELECT minor FROM care_state WHERE"
            " person_id = ?)) WHERE person_id = ? AND EXISTS (SELECT 1 FROM care_state WHERE"
            " person_id = ?)", (source, target, source))
        await conn.execute(
            "UPDATE care_state SET person_id = ? WHERE person_id = ? AND NOT EXISTS"
            " (SELECT 1 FROM care_state WHERE person_id = ?)", (target, source, target))
        await conn.execute("DELETE FROM care_state WHERE person_id = ?", (source,))
        await conn.execute(
            "INSERT INTO care_risk (person_id, expires_at) SELECT ?, expires_at FROM care_risk"
            " WHERE person_id = ? ON CONFLICT(person_id) DO UPDATE SET"
            " expires_at = MAX(expires_at, excluded.expires_at)", (target, source))
        await conn.execute("DELETE FROM care_risk WHERE person_id = ?", (source,))
        await conn.execute(
            "UPDATE care_trusted SET person_id = ? WHERE person_id = ? AND NOT EXISTS"
            " (SELECT 1 FROM care_trusted WHERE person_id = ?)", (target, source, target))
        await conn.execute("DELETE FROM care_trusted WHERE person_id = ?", (source,))
        await conn.execute("DELETE FROM care_trusted_invites WHERE person_id = ?", (source,))
