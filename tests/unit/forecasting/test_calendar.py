"""The calendar's pure parts: event features per series and the measured uplift of past events."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import polars as pl

from zhongtai.forecasting.calendar import DAYS_TO_EVENT_CAP, EventSpan, event_features, measured_uplift

D = date(2026, 6, 1)


def _grid(ids: list[str], days: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "unique_id": [i for i in ids for _ in range(days)],
            "ds": [D + timedelta(days=k) for _ in ids for k in range(days)],
        }
    )


SERIES = pl.DataFrame(
    {
        "unique_id": ["phone@SH", "laptop@BJ"],
        "category_codes": [["phones", "phone"], ["computers", "laptop"]],
        "location_code": ["S-SH", "S-BJ"],
        "channel_codes": [["pos"], ["tmall", "web"]],
    }
)


def test_an_event_for_everything_flags_its_days_counts_down_to_it_and_carries_its_uplift() -> None:
    # given a 618-like event on days 3-4 for everything, +80 %
    events = [EventSpan("618", D + timedelta(days=3), D + timedelta(days=4), "all", "", 8000)]
    # when features are built for 6 days of both series
    out = event_features(_grid(["phone@SH", "laptop@BJ"], 6), SERIES, events)
    # then both series see it the same way
    phone = out.filter(pl.col("unique_id") == "phone@SH")
    assert phone["event_on"].to_list() == [0, 0, 0, 1, 1, 0]
    assert phone["days_to_event"].to_list() == [3, 2, 1, 0, 0, DAYS_TO_EVENT_CAP]
    assert phone["event_uplift"].to_list() == [0.0, 0.0, 0.0, 0.8, 0.8, 0.0]
    assert out.filter(pl.col("unique_id") == "laptop@BJ")["event_on"].to_list() == [0, 0, 0, 1, 1, 0]


def test_scoped_events_reach_only_their_category_subtree_location_or_channel() -> None:
    # given a computers-category event (laptop is under it), a Shanghai store event and a tmall event
    events = [
        EventSpan("school", D, D, "category", "computers", 5000),
        EventSpan("store-day", D + timedelta(days=1), D + timedelta(days=1), "location", "S-SH", 2000),
        EventSpan("tmall-day", D + timedelta(days=2), D + timedelta(days=2), "channel", "tmall", 3000),
    ]
    # when features are built
    out = event_features(_grid(["phone@SH", "laptop@BJ"], 3), SERIES, events)
    # then each series sees only its own events
    assert out.filter(pl.col("unique_id") == "phone@SH")["event_on"].to_list() == [0, 1, 0]
    assert out.filter(pl.col("unique_id") == "laptop@BJ")["event_on"].to_list() == [1, 0, 1]
    assert out.filter(pl.col("unique_id") == "laptop@BJ")["event_uplift"].to_list() == [0.5, 0.0, 0.3]


def test_overlapping_events_take_the_largest_uplift_and_no_events_give_neutral_features() -> None:
    events = [
        EventSpan("a", D, D + timedelta(days=1), "all", "", 1000),
        EventSpan("b", D + timedelta(days=1), D + timedelta(days=1), "all", "", -4000),
        EventSpan("c", D + timedelta(days=1), D + timedelta(days=1), "all", "", 3000),
    ]
    out = event_features(_grid(["phone@SH"], 2), SERIES, events)
    assert out["event_uplift"].to_list() == [0.1, 0.3]
    neutral = event_features(_grid(["phone@SH"], 2), SERIES, [])
    assert neutral["event_on"].to_list() == [0, 0]
    assert neutral["days_to_event"].to_list() == [DAYS_TO_EVENT_CAP, DAYS_TO_EVENT_CAP]


def test_measured_uplift_compares_event_days_with_the_four_weeks_before() -> None:
    # given 28 baseline days selling 2 a day (one day missing: a zero) and a 2-day event selling 9 and 7
    event = EventSpan("e", D, D + timedelta(days=1), "all", "", 0)
    baseline = [(D - timedelta(days=k), 2) for k in range(1, 29) if k != 5]
    demand = pl.DataFrame([*baseline, (D, 9), (D + timedelta(days=1), 7)], schema=["day", "units"], orient="row")
    # when it is measured after the event
    got = measured_uplift(demand, event, today=D + timedelta(days=2))
    # then it is (16 / 2) / (54 / 28) - 1
    assert got == (Decimal(8) / (Decimal(54) / 28) - 1).quantize(Decimal("0.0001"))
    # and an event still running, or without sales before it, has no measured uplift
    assert measured_uplift(demand, event, today=D + timedelta(days=1)) is None
    assert measured_uplift(demand.filter(pl.col("day") >= D), event, today=D + timedelta(days=2)) is None
