"""The one source of "now" (UTC, timezone-aware), so tests can freeze or move time."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_wib(value: datetime) -> str:
    """'25 Nov 2026 18:00 WIB': how buyers read times."""
    return as_utc(value).astimezone(WIB).strftime("%d %b %Y %H:%M WIB")
