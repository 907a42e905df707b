"""The one source of "now" (UTC, timezone-aware), so tests can freeze or move time; and how people read it."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")

MONTHS = {
    "id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}
"""Month abbreviations per reader's language (not the process locale's)."""


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_wib(value: datetime, language: str) -> str:
    """How a person reads a time, in WIB: '25 Des 2026 18:00 WIB' (id), '25 Dec 2026 18:00 WIB' (en)."""
    local = as_utc(value).astimezone(WIB)
    month = MONTHS.get(language, MONTHS["id"])[local.month - 1]
    return f"{local.day:02d} {month} {local.year} {local:%H:%M} WIB"
