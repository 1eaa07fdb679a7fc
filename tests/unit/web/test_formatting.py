from __future__ import annotations

from datetime import UTC, datetime

from zhongtai.web import formatting


def test_money_uses_integer_fen() -> None:
    assert formatting.money(12345678) == "¥123,456.78"
    assert formatting.money(-5) == "-¥0.05"
    assert formatting.money(None) == "—"


def test_compact_money_reads_like_chinese_retail() -> None:
    assert formatting.money_compact(44_064_000) == "¥44.06万"
    assert formatting.money_compact(12_345_678_900) == "¥1.23亿"
    assert formatting.money_compact(99_900) == "¥999"
    assert formatting.money_compact(44_064_000, locale="en") == "¥440.64K"


def test_local_time_is_shown_in_the_business_zone() -> None:
    assert formatting.local_time(datetime(2024, 6, 18, 16, 30, tzinfo=UTC)) == "2024-06-19 00:30"


def test_distance() -> None:
    assert formatting.distance_km(0.35) == "350 m"
    assert formatting.distance_km(12.345) == "12.3 km"
