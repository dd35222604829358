"""All times are timezone-aware UTC inside the app; clients get ISO 8601 with an offset. People
read dates in Beijing time (posters, verification pages, exports)."""
from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "北京时间")


def utcnow() -> datetime:
    return datetime.now(UTC)


def beijing_day(value: datetime) -> str:
    """2026年11月22日: the day in Beijing, as posters and verification pages print it."""
    day = value.astimezone(BEIJING)
    return f"{day.year}年{day.month}月{day.day}日"


def beijing_cell(value: datetime | None) -> datetime | None:
    """A time for an Excel cell: Beijing wall-clock time without an offset (Excel has none)."""
    return value.astimezone(BEIJING).replace(tzinfo=None) if value else None
