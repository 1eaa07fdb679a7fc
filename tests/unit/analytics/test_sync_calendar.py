"""The sink's pure pieces: local calendar columns, month bounds, the flattening of event data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import polars as pl

from zhongtai.analytics.sync import month_bounds, month_of, months_between, with_calendar
from zhongtai.touchpoints.export import _flatten

TZ = "Asia/Shanghai"


def test_local_day_hour_and_month_of_utc_times() -> None:
    # 31 Jan 16:30 UTC is 1 Feb 00:30 in Shanghai (UTC+8); 31 Jan 15:59 is still 31 Jan 23:59
    frame = pl.DataFrame(
        {"at": [datetime(2026, 1, 31, 16, 30, tzinfo=UTC), datetime(2026, 1, 31, 15, 59, tzinfo=UTC)]},
        schema={"at": pl.Datetime("us", "UTC")},
    )
    out = with_calendar(frame, "at", TZ, hour="hour", month="month")
    assert out["day"].to_list() == [date(2026, 2, 1), date(2026, 1, 31)]
    assert out["hour"].to_list() == [0, 23]
    assert out["month"].to_list() == ["2026-02", "2026-01"]


def test_month_bounds_are_local_midnights_in_utc() -> None:
    # December 2026 in Shanghai: 30 Nov 16:00 UTC to 31 Dec 16:00 UTC
    assert month_bounds("2026-12", TZ) == (
        datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )
    assert month_of(datetime(2026, 12, 31, 16, 0, tzinfo=UTC), TZ) == "2027-01"


def test_months_between_crosses_the_year() -> None:
    first = datetime(2025, 11, 15, tzinfo=UTC)
    last = datetime(2026, 2, 1, tzinfo=UTC)
    assert months_between(first, last, TZ) == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_known_data_keys_become_columns_and_the_rest_stays_json() -> None:
    values, rest = _flatten({"dwell_s": "120", "gender": "female", "zone": "A3", "value_fen": 990})
    # DATA_COLUMNS order: quantity, value_fen, query, results, dwell_s, gender, age_band, coupon, order_number
    assert values == [None, 990, None, None, 120, "female", None, None, None]
    assert rest is not None
    assert json.loads(rest) == {"zone": "A3"}
    assert _flatten({}) == ([None] * 9, None)
    # a non-number where a number belongs is dropped, not crashed on
    assert _flatten({"quantity": "many"})[0][0] is None
