"""How people read times: WIB, month names in the reader's language (not the process locale's)."""

from datetime import UTC, datetime

import pytest

from core.clock import format_wib


@pytest.mark.parametrize(
    ("month", "indonesian", "english"),
    [(1, "Jan", "Jan"), (5, "Mei", "May"), (8, "Agu", "Aug"), (10, "Okt", "Oct"), (12, "Des", "Dec")],
)
def test_month_names_follow_the_language(month, indonesian, english):
    at = datetime(2026, month, 2, 11, 0, tzinfo=UTC)  # 18:00 WIB
    assert format_wib(at, "id") == f"02 {indonesian} 2026 18:00 WIB"
    assert format_wib(at, "en") == f"02 {english} 2026 18:00 WIB"


def test_wib_crosses_midnight_and_naive_times_are_utc():
    assert format_wib(datetime(2026, 12, 31, 20, 30), "id") == "01 Jan 2027 03:30 WIB"
