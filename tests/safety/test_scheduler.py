"""Anniversaries: one in-persona DM on the day, exactly once, even across a restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.services.i18n import I18n
from bot.services.scheduler import AnniversaryScheduler, TemplateWriter, next_occurrence
from bot.services.storage import Database
from bot.services.storage.care import CareStore
from bot.services.storage.users import Users
from tests.safety.conftest import FakeClock

DAY = 86400.0


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send_direct(self, platform: str, platform_user_id: str, text: str) -> bool:
        self.sent.append((platform, platform_user_id, text))
        return True


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


async def _add(db: Database, clock: FakeClock, month: int, day: int, tz: str = "UTC") -> int:
    person = await Users(db).resolve("telegram", "77", "Mei")
    return await CareStore(db).add_anniversary(
        person_id=person, persona_id=3, persona_name="Sol", month=month, day=day, year=2024,
        label="the day we met", platform="telegram", platform_user_id="77", locale="en", tz=tz,
        next_fire_at=next_occurrence(month, day, tz, 10, clock()),
    )


async def test_fires_once_on_the_day_and_survives_a_restart(tmp_path: Path, i18n: I18n) -> None:
    path = tmp_path / "a.sqlite3"
    clock = FakeClock(ts(2026, 12, 1, 12))
    async with Database(path) as db:
        await _add(db, clock, 12, 24)
        sender = RecordingSender()
        scheduler = AnniversaryScheduler(CareStore(db), sender, TemplateWriter(i18n), clock=clock)
        clock.now = ts(2026, 12, 24, 9, 59)
        assert await scheduler.run_due() == 0
        clock.now = ts(2026, 12, 24, 10, 0, 30)
        assert await scheduler.run_due() == 1
        assert sender.sent == [("telegram", "77",
                                "Sol: Today is the day we met. I remember — and I'm thinking of you today. 💛")]
        assert await scheduler.run_due() == 0
    # restart: a new process, a new scheduler, the same file, later the same day
    async with Database(path) as db:
        sender2 = RecordingSender()
        scheduler2 = AnniversaryScheduler(CareStore(db), sender2, TemplateWriter(i18n), clock=clock)
        clock.now = ts(2026, 12, 24, 18)
        assert await scheduler2.run_due() == 0
        clock.now = ts(2027, 12, 24, 10, 1)
        assert await scheduler2.run_due() == 1 and len(sender2.sent) == 1


async def test_two_schedulers_racing_send_once(tmp_path: Path, i18n: I18n) -> None:
    clock = FakeClock(ts(2026, 12, 1))
    async with Database(tmp_path / "b.sqlite3") as db:
        await _add(db, clock, 12, 2)
        sender = RecordingSender()
        a = AnniversaryScheduler(CareStore(db), sender, TemplateWriter(i18n), clock=clock)
        b = AnniversaryScheduler(CareStore(db), sender, TemplateWriter(i18n), clock=clock)
        clock.now = ts(2026, 12, 2, 11)
        assert await a.run_due() + await b.run_due() == 1


async def test_a_day_missed_while_down_is_not_sent_late(tmp_path: Path, i18n: I18n) -> None:
    clock = FakeClock(ts(2026, 12, 1))
    async with Database(tmp_path / "c.sqlite3") as db:
        await _add(db, clock, 12, 2)
        sender = RecordingSender()
        s = AnniversaryScheduler(CareStore(db), sender, TemplateWriter(i18n), clock=clock)
        clock.now = ts(2026, 12, 5)
        assert await s.run_due() == 0 and sender.sent == []
        row = (await CareStore(db).due_anniversaries(ts(2028, 1, 1)))[0]
        assert datetime.fromtimestamp(row.next_fire_at, UTC).year == 2027


def test_next_occurrence_rules() -> None:
    # local 10:00 in Shanghai is 02:00 UTC
    fire = next_occurrence(5, 13, "Asia/Shanghai", 10, ts(2026, 12, 1))
    assert datetime.fromtimestamp(fire, UTC) == datetime(2027, 5, 13, 2, tzinfo=UTC)
    leap = next_occurrence(2, 29, "UTC", 10, ts(2026, 12, 1))
    assert datetime.fromtimestamp(leap, UTC) == datetime(2027, 2, 28, 10, tzinfo=UTC)
    same_day_later = next_occurrence(12, 1, "UTC", 10, ts(2026, 12, 1, 9))
    assert datetime.fromtimestamp(same_day_later, UTC) == datetime(2026, 12, 1, 10, tzinfo=UTC)


async def test_after_stop_nothing_unsolicited_for_seven_days(tmp_path: Path, i18n: I18n) -> None:
    clock = FakeClock(ts(2026, 12, 1))
    async with Database(tmp_path / "d.sqlite3") as db:
        await _add(db, clock, 12, 3)
        store = CareStore(db)
        person = await Users(db).resolve("telegram", "77")
        await store.set_stopped(person, clock())
        sender = RecordingSender()
        s = AnniversaryScheduler(store, sender, TemplateWriter(i18n), clock=clock)
        for hour in range(0, 7 * 24):
            clock.now = ts(2026, 12, 1) + hour * 3600
            await s.run_due()
        assert sender.sent == []
        # saving a date through /anniversaries is the opt-in that lets it through
        await store.set_reminders_opt_in(person, True)
        clock.now = ts(2027, 12, 3, 10, 5)
        assert await s.run_due() == 1


async def test_poll_deletes_expired_risk_windows(tmp_path: Path, i18n: I18n) -> None:
    clock = FakeClock(ts(2026, 12, 1))
    async with Database(tmp_path / "e.sqlite3") as db:
        store = CareStore(db)
        person = await Users(db).resolve("telegram", "77")
        await store.open_risk(person, clock() + DAY)
        s = AnniversaryScheduler(store, RecordingSender(), TemplateWriter(i18n), clock=clock)
        await s.tick()
        assert await store.has_risk_row(person)
        clock.advance(DAY + 1)
        await s.tick()
        assert not await store.has_risk_row(person)
