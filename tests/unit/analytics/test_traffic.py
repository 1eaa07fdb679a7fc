"""Store traffic over a hand-built lake: stores A and B over 2026-11-02..03, one visitor at
store C, and one day of the previous period (11-01 at store A).

Store A, 11-02: entries v1 10h, v1 14h (again), v2 10h, v3 11h -> 4 entries, 3 visitors;
               exits v1 600 s, v2 1200 s, v3 200 s; POS orders o1 (3000 + 2000) and o2 (1000).
Store A, 11-03: entries v1 10h, v4 15h -> 2 visitors; exits v1 4000 s, v4 (no dwell);
               POS o3 4000; a web order picked up there (9000) and a cancelled POS order do not count.
Store B, 11-02: entries v5 10h, v6 10h; exits v5 1800 s, v6 900 s; no orders.
Store B, 11-03: entry v7 11h; exit v7 299 s; o4 2500 on the "pos-sh" channel (kind pos).
Store C, 11-02: entry v8 10h.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.unit.analytics.test_funnel import STORE_A, STORE_B, STORE_C, write_dimensions, write_events, write_sales
from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.traffic import store_days, traffic_dashboard

D1, D2, PREV = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 1)
PERIOD = DashboardFilters(D1, D2)


def entry(store: int, day: date, hour: int, visitor: str, gender: str | None, age: str | None) -> dict[str, Any]:
    return {
        "type": "store_entry",
        "location_id": store,
        "day": day,
        "hour": hour,
        "anonymous_id": visitor,
        "gender": gender,
        "age_band": age,
    }


def leave(store: int, day: date, visitor: str, dwell_s: int | None) -> dict[str, Any]:
    return {"type": "store_exit", "location_id": store, "day": day, "anonymous_id": visitor, "dwell_s": dwell_s}


def build_traffic_lake(root: Path, stores: tuple[int, int, int] = (STORE_A, STORE_B, STORE_C)) -> Lake:
    lake = Lake(root)
    write_dimensions(lake, stores)
    A, B, C = stores
    write_events(
        lake,
        [
            entry(A, D1, 10, "v1", "female", "25-34"),
            entry(A, D1, 14, "v1", "female", "25-34"),
            entry(A, D1, 10, "v2", "male", "35-44"),
            entry(A, D1, 11, "v3", "female", "18-24"),
            leave(A, D1, "v1", 600),
            leave(A, D1, "v2", 1200),
            leave(A, D1, "v3", 200),
            entry(A, D2, 10, "v1", "female", "25-34"),
            entry(A, D2, 15, "v4", None, None),
            leave(A, D2, "v1", 4000),
            leave(A, D2, "v4", None),
            entry(B, D1, 10, "v5", "female", "25-34"),
            entry(B, D1, 10, "v6", "male", "25-34"),
            leave(B, D1, "v5", 1800),
            leave(B, D1, "v6", 900),
            entry(B, D2, 11, "v7", "female", "55+"),
            leave(B, D2, "v7", 299),
            entry(C, D1, 10, "v8", "male", "45-54"),
            # The previous period and a zone dwell (not a store exit).
            entry(A, PREV, 9, "v9", "female", "25-34"),
            {"type": "dwell", "location_id": A, "day": D1, "anonymous_id": "v1", "dwell_s": 50},
        ],
    )
    write_sales(
        lake,
        [
            {"order_id": 1, "day": D1, "net_fen": 3_000, "store": A},
            {"order_id": 1, "day": D1, "net_fen": 2_000, "store": A},
            {"order_id": 2, "day": D1, "net_fen": 1_000, "store": A},
            {"order_id": 3, "day": D2, "net_fen": 4_000, "store": A},
            {"order_id": 5, "day": D2, "net_fen": 0, "total_fen": 700, "store": A, "status": "cancelled"},
            {"order_id": 6, "day": D2, "net_fen": 9_000, "store": A, "channel_code": "web"},
            {"order_id": 4, "day": D2, "net_fen": 2_500, "store": B, "channel_code": "pos-sh"},
            {"order_id": 7, "day": PREV, "net_fen": 1_000, "store": A},
        ],
    )
    return lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build_traffic_lake(tmp_path / "lake")


def test_store_days(lake: Lake) -> None:
    rows = {(r["location_id"], r["day"]): r for r in store_days(lake, PERIOD).iter_rows(named=True)}

    a1 = rows[(STORE_A, D1)]
    assert (a1["visitors"], a1["entries"], a1["exits"], a1["buyers"], a1["sales_fen"]) == (3, 4, 3, 2, 6_000)
    assert (a1["dwell_sum"], a1["dwell_n"]) == (2_000, 3)
    a2 = rows[(STORE_A, D2)]
    assert (a2["visitors"], a2["buyers"], a2["sales_fen"], a2["dwell_n"]) == (2, 1, 4_000, 1)
    b2 = rows[(STORE_B, D2)]
    assert (b2["visitors"], b2["buyers"], b2["sales_fen"]) == (1, 1, 2_500)
    assert set(rows) == {(STORE_A, D1), (STORE_A, D2), (STORE_B, D1), (STORE_B, D2), (STORE_C, D1)}


def test_totals_and_previous_period(lake: Lake) -> None:
    dash = traffic_dashboard(lake, PERIOD)
    t = dash.total

    # Visitors: A 3 + 2, B 2 + 1, C 1 = 9; entries 4 + 2 + 2 + 1 + 1 = 10; exits 3 + 2 + 2 + 1 = 8.
    assert (t.visitors, t.entries, t.exits) == (9, 10, 8)
    # Buyers: A o1 o2 o3, B o4 = 4; conversion 4 / 9.
    assert (t.buyers, t.conversion) == (4, Decimal("0.4444"))
    # Dwell: (600 + 1200 + 200 + 4000 + 1800 + 900 + 299) / 7 = 8999 / 7 = 1285.57
    assert t.avg_dwell_s == Decimal("1285.6")
    # POS sales 6000 + 4000 + 2500 = 12500; per visitor 12500 / 9 = 1388.9
    assert (t.pos_sales_fen, t.sales_per_visitor_fen) == (12_500, 1_389)
    # 10-31..11-01: v9 and o7 at store A.
    p = dash.previous
    assert (p.visitors, p.buyers, p.conversion, p.pos_sales_fen, p.avg_dwell_s) == (
        1,
        1,
        Decimal("1.0000"),
        1_000,
        None,
    )
    assert not dash.lake_empty


def test_by_day_and_hour(lake: Lake) -> None:
    dash = traffic_dashboard(lake, PERIOD)

    # 11-02: 3 + 2 + 1 visitors, 2 buyers; 11-03: 2 + 1 visitors, 2 buyers.
    assert [(d.day, d.visitors, d.buyers, d.conversion) for d in dash.by_day] == [
        (D1, 6, 2, Decimal("0.3333")),
        (D2, 3, 2, Decimal("0.6667")),
    ]
    hours = {h.hour: (h.visitors, h.per_day) for h in dash.by_hour if h.visitors}
    # 10h: v1 v2 (A, 11-02), v1 (A, 11-03), v5 v6 (B), v8 (C) = 6 over 2 days; v1 at 14h counts there.
    assert hours == {
        10: (6, Decimal("3.00")),
        11: (2, Decimal("1.00")),
        14: (1, Decimal("0.50")),
        15: (1, Decimal("0.50")),
    }
    assert len(dash.by_hour) == 24


def test_dwell_buckets_and_demographics(lake: Lake) -> None:
    dash = traffic_dashboard(lake, PERIOD)

    # <5 min: 200, 299; 5-15: 600; 15-30: 1200, 900; 30-60: 1800; >=60: 4000. v4's exit has no dwell.
    assert [(b.bucket, b.exits) for b in dash.dwell] == [
        ("lt5", 2),
        ("5_15", 1),
        ("15_30", 2),
        ("30_60", 1),
        ("gt60", 1),
    ]
    demo = {(d.age_band, d.gender): d.visitors for d in dash.demographics}
    # v1 twice (two days) + v5 are women of 25-34; v4 reported nothing.
    assert demo == {
        ("18-24", "female"): 1,
        ("25-34", "female"): 3,
        ("25-34", "male"): 1,
        ("35-44", "male"): 1,
        ("45-54", "male"): 1,
        ("55+", "female"): 1,
        ("unknown", "unknown"): 1,
    }
    assert sum(demo.values()) == dash.total.visitors


def test_stores_sorted_by_conversion(lake: Lake) -> None:
    stores = traffic_dashboard(lake, PERIOD).stores

    assert [s.code for s in stores] == ["S-SH01", "S-SH02", "S-BJ01"]
    a, b, c = stores
    # A: 3 buyers / 5 visitors; dwell (600 + 1200 + 200 + 4000) / 4 = 1500; 10000 / 5 = 2000 per visitor.
    assert (a.visitors, a.buyers, a.conversion, a.avg_dwell_s, a.pos_sales_fen, a.sales_per_visitor_fen) == (
        5,
        3,
        Decimal("0.6000"),
        Decimal("1500.0"),
        10_000,
        2_000,
    )
    # B: 1 / 3; dwell (1800 + 900 + 299) / 3 = 999.67; 2500 / 3 = 833.3
    assert (b.visitors, b.buyers, b.conversion, b.avg_dwell_s, b.sales_per_visitor_fen) == (
        3,
        1,
        Decimal("0.3333"),
        Decimal("999.7"),
        833,
    )
    assert (c.visitors, c.buyers, c.conversion, c.avg_dwell_s) == (1, 0, Decimal("0.0000"), None)
    assert (a.name, a.name_en) == ("上海一店", "Shanghai 1")


def test_store_filter_and_scope(lake: Lake) -> None:
    both = traffic_dashboard(lake, DashboardFilters(D1, D2, stores=(STORE_A, STORE_B)))
    scoped = traffic_dashboard(lake, DashboardFilters(D1, D2, scope=(STORE_B,)))

    # Without store C: 8 visitors, 4 buyers -> 50 %.
    assert (both.total.visitors, both.total.buyers, both.total.conversion) == (8, 4, Decimal("0.5000"))
    assert [s.code for s in both.stores] == ["S-SH01", "S-SH02"]
    assert (scoped.total.visitors, scoped.total.buyers, scoped.total.pos_sales_fen) == (3, 1, 2_500)
    assert [s.code for s in scoped.stores] == ["S-SH02"]
    assert sum(h.visitors for h in scoped.by_hour) == 3


def test_an_empty_lake(tmp_path: Path) -> None:
    empty = Lake(tmp_path / "none")
    write_dimensions(empty)

    dash = traffic_dashboard(empty, PERIOD)

    assert dash.lake_empty
    assert (dash.total.visitors, dash.total.conversion, dash.total.sales_per_visitor_fen) == (0, None, None)
    # Every store still listed, with nothing.
    assert {s.code for s in dash.stores} == {"S-SH01", "S-SH02", "S-BJ01"}
    assert [d.visitors for d in dash.by_day] == [0, 0]
