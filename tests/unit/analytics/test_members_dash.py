"""The member dashboard over the hand-built lake of ``test_funnel`` (November 2026)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from tests.unit.analytics.test_funnel import END, NOV, START, STORE_B, build_member_lake
from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.members_dash import bucket_of, buckets, granularity_for, members_dashboard


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build_member_lake(tmp_path / "lake")


def test_kpis(lake: Lake) -> None:
    k = members_dashboard(lake, NOV, window_days=30).kpis

    assert k.total_members == 12  # M1..M12; M13 joins 12-05
    assert (k.new_members, k.new_members_previous) == (3, 1)  # M10 M11 M12; before: M9 (10-15)
    # Paid November orders with a unit left: M1 (12), M2 (21), M6 (63, 64); M9's are cancelled
    # or fully returned. M6 bought twice.
    assert (k.active_buyers, k.repeat_buyers, k.repeat_rate) == (3, 1, Decimal("0.3333"))
    # Previous period 10-02..10-31: M3 (31), M5 (52), M6 (62), once each.
    assert (k.active_buyers_previous, k.repeat_rate_previous) == (3, Decimal("0.0000"))
    # Members 8000 + 3000 + 2500 + 500 + 0 (returned) = 14000 of 14000 + 5000 anonymous = 19000.
    assert (k.member_sales_fen, k.sales_fen) == (14_000, 19_000)
    assert k.member_share == Decimal("0.7368")
    assert k.member_share_previous == Decimal("1.0000")  # 4000 + 6000 + 1500, all members


def test_growth_by_day_and_channel(lake: Lake) -> None:
    dash = members_dashboard(lake, NOV, window_days=30)

    assert dash.granularity == "day"
    assert len(dash.growth) == 30
    assert dash.channels == ["pos", "miniapp"]  # 2 new on POS (M11, M12), 1 on the mini program (M10)
    by_day = {g.start: g for g in dash.growth}
    assert by_day[date(2026, 11, 3)].new_by_channel == {"pos": 1, "miniapp": 0}
    assert by_day[date(2026, 11, 20)].new_by_channel == {"pos": 1, "miniapp": 1}
    assert sum(g.new_members for g in dash.growth) == 3
    # Cumulative: M1..M9 joined before November.
    assert by_day[date(2026, 11, 1)].cumulative == 9
    assert by_day[date(2026, 11, 3)].cumulative == 10
    assert by_day[date(2026, 11, 19)].cumulative == 10
    assert by_day[date(2026, 11, 20)].cumulative == 12
    assert dash.growth[-1].cumulative == 12


def test_long_ranges_are_grouped_by_week_or_month(lake: Lake) -> None:
    assert (granularity_for(92), granularity_for(93), granularity_for(366), granularity_for(367)) == (
        "day",
        "week",
        "week",
        "month",
    )
    assert bucket_of(date(2026, 11, 5), "week") == date(2026, 11, 2)  # a Thursday -> its Monday
    assert buckets(date(2026, 10, 15), date(2026, 12, 2), "month") == [
        date(2026, 10, 1),
        date(2026, 11, 1),
        date(2026, 12, 1),
    ]
    # 2026-06-01 .. 2026-11-30 (183 days): weekly; 10-15 (M9) falls in the week of 10-12.
    dash = members_dashboard(lake, DashboardFilters(date(2026, 6, 1), END), window_days=30)
    assert dash.granularity == "week"
    weeks = {g.start: g.new_members for g in dash.growth}
    assert weeks[date(2026, 10, 12)] == 1
    assert weeks[date(2026, 11, 16)] == 2  # M10 and M11 on Friday 11-20
    assert weeks[date(2026, 11, 2)] == 1  # M12 on 11-03
    assert dash.growth[0].cumulative == 8  # M1 (2025) + M2..M8 (January)


def test_rfm_segments_and_grid(lake: Lake) -> None:
    dash = members_dashboard(lake, NOV, window_days=30)

    segments = {s.segment: (s.members, s.avg_spend_fen, s.share) for s in dash.segments}
    # Champions M1 M3 M6: (50000 + 30000 + 60000) / 3 = 46666.67 -> 46667; 3 of 6 scored.
    assert segments == {
        "champions": (3, 46_667, Decimal("0.5000")),
        "potential": (1, 20_000, Decimal("0.1667")),
        "at_risk": (1, 40_000, Decimal("0.1667")),
        "newcomers": (1, 1_000, Decimal("0.1667")),
    }
    assert dash.segments[0].segment == "champions"
    assert dash.unscored == 6  # M4 M7 M8 M10 M11 M12
    grid = dash.rfm_grid
    assert grid[4][3] == 1  # R5 F4: M1
    assert grid[3][0] == 2  # R4 F1: M2, M9
    assert grid[4][4] == 2  # R5 F5: M3, M6
    assert grid[1][3] == 1  # R2 F4: M5
    assert sum(map(sum, grid)) == 6


def test_store_filter_limits_members_buyers_and_funnel(lake: Lake) -> None:
    dash = members_dashboard(lake, DashboardFilters(START, END, stores=(STORE_B,)), window_days=30)

    # Enrolled at or preferring store B: M3, M6, M11.
    assert dash.kpis.total_members == 3
    assert dash.kpis.new_members == 1  # M11
    # Store B's November orders: M6's 64 only (500 fen).
    assert (dash.kpis.active_buyers, dash.kpis.sales_fen, dash.kpis.member_share) == (1, 500, Decimal("1.0000"))
    assert {s.segment: s.members for s in dash.segments} == {"champions": 2}
    assert dash.funnel.population == 4  # M3 M6 M11 + M10 (entered store B)
    assert (dash.funnel.moved_up, dash.funnel.stayed, dash.funnel.moved_down) == (1, 2, 1)


def test_category_filter_limits_sales_figures(lake: Lake) -> None:
    lake.replace(
        "skus",
        pl.DataFrame([{"sku_id": 1, "code": "A", "name": "A", "category_path": "/1/7/"}]),
    )

    in_category = members_dashboard(lake, DashboardFilters(START, END, category_id=7), window_days=30)
    other = members_dashboard(lake, DashboardFilters(START, END, category_id=8), window_days=30)

    assert in_category.kpis.sales_fen == 19_000  # every line is SKU 1 in category 7
    assert (other.kpis.sales_fen, other.kpis.active_buyers, other.kpis.member_share) == (0, 0, None)
    assert other.kpis.total_members == 12  # the category does not narrow members


def test_the_funnel_is_part_of_the_dashboard(lake: Lake) -> None:
    dash = members_dashboard(lake, NOV, window_days=30)

    assert dash.funnel.window_days == 30
    assert [s.members for s in dash.funnel.steps] == [4, 3, 2, 1, 2]
    assert dash.funnel.matrix[0][4] == 1  # M1: none -> advocate


def test_an_empty_lake_says_so(tmp_path: Path) -> None:
    dash = members_dashboard(Lake(tmp_path / "empty"), NOV)

    assert dash.lake_empty
    assert dash.kpis.total_members == 0
    assert dash.kpis.member_share is None
    assert all(g.cumulative == 0 for g in dash.growth)
