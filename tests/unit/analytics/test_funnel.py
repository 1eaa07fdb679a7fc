"""The JD 4A funnel over a hand-built lake: every member's stage at the start and the end of
November 2026 is placed by hand, so each transition cell and funnel count is known.

``build_member_lake`` is also the small lake of the member dashboard's and API's tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.funnel import STAGES, funnel, member_stages, summarise
from zhongtai.analytics.lake import Lake

START, END = date(2026, 11, 1), date(2026, 11, 30)
NOV = DashboardFilters(START, END)
STORE_A, STORE_B, STORE_C = 101, 102, 103  # S-SH01, S-SH02, S-BJ01


def at(day: date, hour: int = 12) -> datetime:
    """Noon local (Asia/Shanghai, UTC+8) of a day, in UTC."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


def write_events(lake: Lake, rows: Sequence[dict[str, Any]], part: str = "t1") -> None:
    out = []
    for i, r in enumerate(rows, start=1):
        day: date = r["day"]
        hour = int(r.pop("hour", 12))
        out.append(
            {
                "event_pk": i,
                "event_id": f"e{i}",
                "source": "test",
                "occurred_at": at(day, hour),
                "received_at": at(day, hour),
                "hour": hour,
                "identified": r.get("member_id") is not None,
                **r,
            }
        )
    lake.append("events", pl.DataFrame(out, infer_schema_length=None), part)


def write_sales(lake: Lake, lines: Sequence[dict[str, Any]]) -> None:
    """Sales lines: order_id, day, net_fen and optional member_id, channel_code, store, status,
    quantity/returned; the month partitions are written whole."""
    out = []
    for i, r in enumerate(lines, start=1):
        day: date = r["day"]
        quantity, returned = int(r.get("quantity", 1)), int(r.get("returned", 0))
        status = r.get("status", "paid")
        out.append(
            {
                "line_id": i,
                "order_id": r["order_id"],
                "order_number": f"SO{r['order_id']}",
                "channel_code": r.get("channel_code", "pos"),
                "store_location_id": r.get("store"),
                "member_id": r.get("member_id"),
                "placed_at": at(day),
                "paid_at": None if r.get("unpaid") else at(day),
                "day": day,
                "month": day.strftime("%Y-%m"),
                "hour": 12,
                "status": status,
                "sku_id": r.get("sku_id", 1),
                "quantity": quantity,
                "cancelled": quantity if status == "cancelled" else 0,
                "returned": returned,
                "net_quantity": 0 if status == "cancelled" else quantity - returned,
                "total_fen": r.get("total_fen", r["net_fen"]),
                "net_fen": r["net_fen"],
                "currency": "CNY",
            }
        )
    frame = pl.DataFrame(out, infer_schema_length=None)
    for (month,), rows in frame.partition_by("month", as_dict=True).items():
        lake.replace_partition("sales", str(month), rows)


def write_dimensions(lake: Lake, stores: tuple[int, int, int] = (STORE_A, STORE_B, STORE_C)) -> None:
    store_a, store_b, store_c = stores
    lake.replace(
        "channels",
        pl.DataFrame(
            [
                {"code": "pos", "name": "门店POS", "name_en": "Store POS", "kind": "pos", "platform": "own"},
                {"code": "pos-sh", "name": "上海收银", "name_en": "Shanghai tills", "kind": "pos", "platform": "own"},
                {"code": "web", "name": "官网", "name_en": "Web shop", "kind": "web_shop", "platform": "own"},
                {"code": "miniapp", "name": "小程序", "name_en": "Mini program", "kind": "mini_program"},
            ]
        ),
    )
    lake.replace(
        "locations",
        pl.DataFrame(
            [
                {"location_id": 9_999, "code": "DC-WH", "name": "华东仓", "name_en": "East DC", "type": "dc"},
                {
                    "location_id": store_a,
                    "code": "S-SH01",
                    "name": "上海一店",
                    "name_en": "Shanghai 1",
                    "type": "store",
                },
                {
                    "location_id": store_b,
                    "code": "S-SH02",
                    "name": "上海二店",
                    "name_en": "Shanghai 2",
                    "type": "store",
                },
                {"location_id": store_c, "code": "S-BJ01", "name": "北京一店", "name_en": "Beijing 1", "type": "store"},
            ]
        ),
    )


def _member(
    member_id: int,
    joined: date,
    channel: str,
    enrolled: int | None = None,
    preferred: int | None = None,
    segment: str = "",
    rfm: tuple[int, int, int] | None = None,
    spend_fen: int = 0,
) -> dict[str, Any]:
    r, f, m = rfm or (None, None, None)
    return {
        "member_id": member_id,
        "code": f"M{member_id:03d}",
        "joined_at": at(joined),
        "joined_day": joined,
        "enrolled_channel": channel,
        "enrolled_location_id": enrolled,
        "preferred_location_id": preferred,
        "spend_fen": spend_fen,
        "r_score": r,
        "f_score": f,
        "m_score": m,
        "segment": segment,
    }


JAN = date(2026, 1, 1)


def build_member_lake(root: Path, stores: tuple[int, int, int] = (STORE_A, STORE_B, STORE_C)) -> Lake:
    """Thirteen members. Stage at the start (as of 10-31, window 10-02..10-31) → at the end
    (11-30, window 11-01..11-30) with a 30-day window:

    M1  none → advocate   orders 06-10 and 11-20 (2 in 365 days, the latest in the window)
    M2  aware → act       page_view 10-15; one order 11-05
    M3  act → appeal      order 10-20 (store B); product_view 11-10 (online)
    M4  appeal → aware    search 10-05; store_entry 11-12 (store A)
    M5  advocate → none   orders 03-01 and 10-25: at the end still 2 in 365 days, latest outside
    M6  advocate → advocate  orders 09-01, 10-10 (store B), 11-15 (web), 11-16 (store B)
    M7  aware → aware     page_view 10-03 and 11-29
    M8  none → none       nothing
    M9  aware → appeal    coupon_used 10-30 (not an appeal event); add_to_cart 11-11; a cancelled
                          order 11-10 and a fully returned order 11-11 do not count
    M10 none → aware      joined 11-20; store_entry 11-21 (store B)
    M11 none → none       joined 11-20, nothing
    M12 none → none       joined 11-03, nothing
    M13 left out          joined 12-05, after the end
    """
    lake = Lake(root)
    write_dimensions(lake, stores)
    a, b = stores[0], stores[1]
    lake.replace(
        "members",
        pl.DataFrame(
            [
                _member(1, date(2025, 6, 1), "pos", a, a, "champions", (5, 4, 5), 50_000),
                _member(2, JAN, "web", None, a, "potential", (4, 1, 4), 20_000),
                _member(3, JAN, "pos", b, b, "champions", (5, 5, 5), 30_000),
                _member(4, JAN, "web"),
                _member(5, JAN, "pos", a, a, "at_risk", (2, 4, 4), 40_000),
                _member(6, JAN, "miniapp", None, b, "champions", (5, 5, 4), 60_000),
                _member(7, JAN, "web"),
                _member(8, JAN, "web"),
                _member(9, date(2026, 10, 15), "web", None, None, "newcomers", (4, 1, 1), 1_000),
                _member(10, date(2026, 11, 20), "miniapp"),
                _member(11, date(2026, 11, 20), "pos", b, b),
                _member(12, date(2026, 11, 3), "pos", a, a),
                _member(13, date(2026, 12, 5), "pos", a, a),
            ],
            infer_schema_length=None,
        ),
    )
    d = date
    write_events(
        lake,
        [
            {"member_id": 2, "type": "page_view", "day": d(2026, 10, 15), "channel_code": "web"},
            {"member_id": 3, "type": "product_view", "day": d(2026, 11, 10), "channel_code": "web"},
            {"member_id": 4, "type": "search", "day": d(2026, 10, 5), "channel_code": "web"},
            {"member_id": 4, "type": "store_entry", "day": d(2026, 11, 12), "location_id": a},
            {"member_id": 7, "type": "page_view", "day": d(2026, 10, 3), "channel_code": "web"},
            {"member_id": 7, "type": "page_view", "day": d(2026, 11, 29), "channel_code": "web"},
            {"member_id": 9, "type": "coupon_used", "day": d(2026, 10, 30), "channel_code": "miniapp"},
            {"member_id": 9, "type": "add_to_cart", "day": d(2026, 11, 11), "channel_code": "miniapp"},
            {"member_id": 10, "type": "store_entry", "day": d(2026, 11, 21), "location_id": b},
            # An anonymous shopper: no member, no stage.
            {"member_id": None, "type": "product_view", "day": d(2026, 11, 10), "channel_code": "web"},
        ],
    )
    write_sales(
        lake,
        [
            {"order_id": 11, "member_id": 1, "day": d(2026, 6, 10), "net_fen": 10_000, "store": a},
            # One order, two lines.
            {"order_id": 12, "member_id": 1, "day": d(2026, 11, 20), "net_fen": 5_000, "store": a},
            {"order_id": 12, "member_id": 1, "day": d(2026, 11, 20), "net_fen": 3_000, "store": a},
            {"order_id": 21, "member_id": 2, "day": d(2026, 11, 5), "net_fen": 3_000, "channel_code": "web"},
            {"order_id": 31, "member_id": 3, "day": d(2026, 10, 20), "net_fen": 4_000, "store": b},
            {"order_id": 51, "member_id": 5, "day": d(2026, 3, 1), "net_fen": 2_000, "store": a},
            {"order_id": 52, "member_id": 5, "day": d(2026, 10, 25), "net_fen": 6_000, "store": a},
            {"order_id": 61, "member_id": 6, "day": d(2026, 9, 1), "net_fen": 1_000, "store": b},
            {"order_id": 62, "member_id": 6, "day": d(2026, 10, 10), "net_fen": 1_500, "store": b},
            {"order_id": 63, "member_id": 6, "day": d(2026, 11, 15), "net_fen": 2_500, "channel_code": "web"},
            {"order_id": 64, "member_id": 6, "day": d(2026, 11, 16), "net_fen": 500, "store": b},
            {"order_id": 91, "member_id": 9, "day": d(2026, 11, 10), "net_fen": 0, "status": "cancelled"},
            {"order_id": 92, "member_id": 9, "day": d(2026, 11, 11), "net_fen": 0, "total_fen": 900, "returned": 1},
            # A shopper without a membership.
            {"order_id": 100, "member_id": None, "day": d(2026, 11, 7), "net_fen": 5_000, "store": a},
        ],
    )
    return lake


NONE, AWARE, APPEAL, ACT, ADVOCATE = range(5)
EXPECTED = {
    1: (NONE, ADVOCATE),
    2: (AWARE, ACT),
    3: (ACT, APPEAL),
    4: (APPEAL, AWARE),
    5: (ADVOCATE, NONE),
    6: (ADVOCATE, ADVOCATE),
    7: (AWARE, AWARE),
    8: (NONE, NONE),
    9: (AWARE, APPEAL),
    10: (NONE, AWARE),
    11: (NONE, NONE),
    12: (NONE, NONE),
}


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build_member_lake(tmp_path / "lake")


def _stages(frame: pl.DataFrame) -> dict[int, tuple[int, int]]:
    return {int(m): (int(s), int(e)) for m, s, e in frame.select("member_id", "start", "end").iter_rows()}


def test_each_members_stage_at_the_start_and_the_end(lake: Lake) -> None:
    stages = member_stages(lake, NOV, window_days=30)

    assert _stages(stages) == EXPECTED


def test_funnel_counts_conversions_and_transitions(lake: Lake) -> None:
    result = funnel(lake, NOV, window_days=30)

    assert result.population == 12  # M13 joined after the end
    assert result.start_day == date(2026, 10, 31)
    # At the end: none M5 M8 M11 M12 = 4; aware M4 M7 M10 = 3; appeal M3 M9 = 2; act M2 = 1;
    # advocate M1 M6 = 2. Reached: aware+ 8, appeal+ 5, act+ 3, advocate 2.
    assert [(s.stage, s.members, s.reached) for s in result.steps] == [
        ("none", 4, 12),
        ("aware", 3, 8),
        ("appeal", 2, 5),
        ("act", 1, 3),
        ("advocate", 2, 2),
    ]
    # 8/12, 5/8, 3/5, 2/3
    assert [s.conversion for s in result.steps] == [
        None,
        Decimal("0.6667"),
        Decimal("0.6250"),
        Decimal("0.6000"),
        Decimal("0.6667"),
    ]
    expected = [[0] * 5 for _ in range(5)]
    for start, end in EXPECTED.values():
        expected[start][end] += 1
    assert result.matrix == expected
    assert result.matrix[NONE][NONE] == 3  # M8 M11 M12
    assert result.matrix[ADVOCATE][NONE] == 1  # M5
    # Up: M1 M2 M9 M10; stayed: M6 M7 M8 M11 M12; down: M3 M4 M5.
    assert (result.moved_up, result.stayed, result.moved_down) == (4, 5, 3)


def test_a_longer_window_keeps_older_activity(lake: Lake) -> None:
    # 90 days: the end window is 09-02..11-30, the start window 08-03..10-31.
    stages = _stages(member_stages(lake, NOV, window_days=90))

    # M5: orders 03-01 and 10-25, the latest now inside the window -> still an advocate.
    assert stages[5] == (ADVOCATE, ADVOCATE)
    # M3: order 10-20 is inside the end window -> act, beating the product view.
    assert stages[3] == (ACT, ACT)
    # M4: search 10-05 is inside the end window too -> appeal at both ends.
    assert stages[4] == (APPEAL, APPEAL)


def test_store_filter_counts_only_that_stores_events_and_orders(lake: Lake) -> None:
    # Store B: attached M3 (enrolled), M6 (preferred), M11 (enrolled); active there M10 (entry).
    result = member_stages(lake, DashboardFilters(START, END, stores=(STORE_B,)), window_days=30)

    assert _stages(result) == {
        3: (ACT, NONE),  # the online product view does not count for the store
        6: (ADVOCATE, ADVOCATE),  # 09-01, 10-10, 11-16 at store B (the web order is left out)
        10: (NONE, AWARE),
        11: (NONE, NONE),
    }


def test_a_store_managers_scope_is_the_store_filter(lake: Lake) -> None:
    scoped = DashboardFilters(START, END, scope=(STORE_B,))

    assert _stages(member_stages(lake, scoped, window_days=30)) == _stages(
        member_stages(lake, DashboardFilters(START, END, stores=(STORE_B,)), window_days=30)
    )


def test_channel_filter_counts_only_that_channels_activity(lake: Lake) -> None:
    # Web: attached M2 M4 M7 M8 M9 (enrolled on web); active on web M3 (the product view) and M6
    # (the web order 11-15).
    stages = _stages(member_stages(lake, DashboardFilters(START, END, channels=("web",)), window_days=30))

    assert stages == {
        2: (AWARE, ACT),
        3: (NONE, APPEAL),
        4: (APPEAL, NONE),  # the store entry has no channel
        6: (NONE, ACT),  # one web order in the window
        7: (AWARE, AWARE),
        8: (NONE, NONE),
        9: (NONE, NONE),  # its events came from the mini program; its orders were POS
    }


def test_summarise_an_empty_population() -> None:
    empty = pl.DataFrame(
        {"member_id": [], "start": [], "end": []}, schema={"member_id": pl.Int64, "start": pl.Int32, "end": pl.Int32}
    )

    result = summarise(empty, window_days=30, start_day=START, end_day=END)

    assert result.population == 0
    assert all(s.conversion is None for s in result.steps)
    assert result.matrix == [[0] * len(STAGES) for _ in STAGES]


def test_an_empty_lake_has_no_population(tmp_path: Path) -> None:
    result = funnel(Lake(tmp_path / "nothing"), NOV)

    assert result.population == 0
    assert [s.members for s in result.steps] == [0, 0, 0, 0, 0]
