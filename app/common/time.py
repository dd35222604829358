"""All times are timezone-aware UTC inside the app; clients get ISO 8601 with an offset."""
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
