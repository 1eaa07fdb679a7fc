"""The inventory dashboard over the hand-built lake of ``test_sales_lake`` (its docstring lists the
balances, the ledger and the sales every figure below is computed from).

Daily end-of-day stock in the period 03-01 .. 03-07, value at cost per day:
  (101,1) 2,2,2,2,2,2,0 × 600 -> 7200      (102,1) 10 × 7 days × 50 -> 3500
  (104,1) no ledger: 4 all along × 300 -> 8400
  (101,2) 4,4,4,4,3,3,3 × 600 -> 15000     (103,2) 0,1,1,1,0,0,0 × 100 -> 300
  (101,9) 4,3,3,3,3,5,5 × 600 -> 15600     (103,9) 8,8,5,6,9,9,9 × 100 -> 5400
  (102,9) 0
  Σ = 55400 stock-days in fen; COGS of the period (fulfilled from): L1 600 + L2 100 + L3 50 + L4 600
  + L5 200 + L6 300 + L7 600 + L8 100 + L12 1200 = 3750
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.unit.analytics.test_sales_lake import DC, PERIOD, S1, S2, build_lake
from zhongtai.analytics.inventory_dash import inventory_dashboard
from zhongtai.analytics.lake import Lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build_lake(tmp_path / "lake")


def test_stock_now_and_turnover(lake: Lake) -> None:
    d = inventory_dashboard(lake, PERIOD)
    assert d.as_of == date(2026, 3, 7)
    # (102,1) 10×50 + (104,1) 4×300 + (101,2) 3×600 + (101,9) 5×600 + (103,9) 9×100
    assert (d.now.value_fen, d.now.units, d.now.pairs, d.now.locations) == (7400, 31, 5, 3)
    t = d.turnover
    assert t.avg_stock_value_fen == 7914  # 55400 / 7 = 7914.3
    assert t.cogs_fen == 3750
    assert t.turnover_days == Decimal("14.8")  # 55400 / 3750 = 14.77
    assert d.has_data is True


def test_turnover_by_location_and_category(lake: Lake) -> None:
    d = inventory_dashboard(lake, PERIOD)
    got = [(r.key, r.stock_value_fen, r.avg_stock_value_fen, r.cogs_fen, r.turnover_days) for r in d.by_location]
    assert got == [
        # DC: now 3000 + 900; stock-days 15600 + 5400 = 21000 (/7 = 3000); COGS L4 600 + L5 200;
        # 21000 / 800 = 26.25
        (str(DC), 3900, 3000, 800, Decimal("26.3")),
        # S2: now 1800; 15000 + 300 = 15300 (/7 = 2185.7); COGS L3 50 + L7 600 + L8 100; 15300 / 750
        (str(S2), 1800, 2186, 750, Decimal("20.4")),
        # S1: now 500 + 1200; 7200 + 3500 + 8400 = 19100 (/7 = 2728.6); COGS 600 + 100 + 300 + 1200
        (str(S1), 1700, 2729, 2200, Decimal("8.7")),
    ]
    cats = [(r.key, r.stock_value_fen, r.avg_stock_value_fen, r.cogs_fen, r.turnover_days) for r in d.by_category]
    assert cats == [
        # Phones (101, 104): 7200 + 8400 + 15000 + 15600 = 46200 (/7 = 6600); COGS 3000 + 300
        ("10", 6000, 6600, 3300, Decimal("14.0")),
        # Accessories (102, 103): 3500 + 300 + 5400 = 9200 (/7 = 1314.3); COGS 150 + 300; 20.44
        ("20", 1400, 1314, 450, Decimal("20.4")),
    ]


def test_stockouts_now_and_by_day(lake: Lake) -> None:
    d = inventory_dashboard(lake, PERIOD)
    # (101,1) has a safety stock; (101,2) is all reserved and sold L7; (103,2) sold L8;
    # (102,9) is empty but neither assorted nor sold: not a stockout.
    assert d.stockout_count == 3
    got = [(s.sku_id, s.location_id, s.available, s.sold_28d, s.last_sale_day) for s in d.stockouts]
    assert got == [
        # 28 days up to 03-07: P1 1 + L1 1 + L12 2
        (101, S1, 0, 4, date(2026, 3, 7)),
        (101, S2, 0, 1, date(2026, 3, 5)),
        (103, S2, 0, 1, date(2026, 3, 5)),
    ]
    assert d.stockouts[0].location_name == "上海一店"
    # Assorted: every balance except (102,9) (no safety stock, no sales since 02-01).
    assert d.assorted_pairs == 7
    # (103,2) is at 0 on 03-01 (before its receipt) and from 03-05; (101,1) on 03-07.
    assert [x.pairs for x in d.stockout_days] == [1, 0, 0, 0, 1, 1, 2]
    assert d.stockout_pair_days == 5


def test_slow_movers(lake: Lake) -> None:
    d = inventory_dashboard(lake, PERIOD)
    got = [(s.sku_id, s.location_id, s.value_fen, s.sold_90d, s.cover_days, s.last_sale_day) for s in d.slow_movers]
    assert got == [
        # 1 unit in 90 days (< 3): slow; cover 3 × 90 / 1
        (101, S2, 1800, 1, Decimal("270.0"), date(2026, 3, 5)),
        (104, S1, 1200, 1, Decimal("360.0"), date(2026, 3, 4)),
        # 4 units sold (P3 2 + L5 2) but 9 on hand: 9 × 90 / 4 = 202.5 days of cover > 180
        (103, DC, 900, 4, Decimal("202.5"), date(2026, 3, 3)),
        # L2 2 units (L9 and L13 net 0): last sale 03-01
        (102, S1, 500, 2, Decimal("450.0"), date(2026, 3, 1)),
    ]
    # (101,9): 3 units (P2 2 + L4 1), 5 on hand: 150 days of cover, not slow.
    assert (d.slow_count, d.slow_value_fen) == (4, 1800 + 1200 + 900 + 500)


def test_fifo_ages(lake: Lake) -> None:
    d = inventory_dashboard(lake, PERIOD)
    # (102,1) 10: 4 from 02-25 (10 days) + 6 of the 8 from 2025-10-01 (157 days)
    # (101,2) 3 of the transfer in on 2025-12-01 (96 days)
    # (101,9) 5: 2 from 03-06 (1 day) + 3 of 01-10 (56 days)
    # (103,9) 9 of the 10 received 02-01 (34 days; the return and the adjustment are no receipts)
    # (104,1) 4 without any ledger: the oldest bucket
    assert [(b.bucket, b.units, b.value_fen) for b in d.age_buckets] == [
        ("0-30", 6, 4 * 50 + 2 * 600),
        ("31-60", 12, 3 * 600 + 9 * 100),
        ("61-90", 0, 0),
        ("91-180", 9, 6 * 50 + 3 * 600),
        ("181+", 4, 4 * 300),
    ]
    assert sum(b.value_fen for b in d.age_buckets) == d.now.value_fen
    assert [(a.location_id, a.value_fen) for a in d.aged_by_location] == [
        (DC, [1200, 2700, 0, 0, 0]),
        (S2, [0, 0, 0, 1800, 0]),
        (S1, [200, 0, 0, 300, 1200]),
    ]
    assert [(a.sku_id, a.location_id, a.aged_units, a.aged_value_fen, a.oldest_days) for a in d.aged_top] == [
        (101, S2, 3, 1800, 96),
        (104, S1, 4, 1200, None),
        (102, S1, 6, 300, 157),
    ]


def test_store_and_category_filters_apply_channel_does_not(lake: Lake) -> None:
    everything = inventory_dashboard(lake, PERIOD)
    assert inventory_dashboard(lake, replace(PERIOD, channels=("pos",))) == everything
    s1 = inventory_dashboard(lake, replace(PERIOD, stores=(S1,)))
    assert (s1.now.value_fen, s1.now.units) == (1700, 14)
    assert s1.turnover.cogs_fen == 2200
    assert s1.turnover.turnover_days == Decimal("8.7")
    assert [s.location_id for s in s1.stockouts] == [S1]
    assert [b.value_fen for b in s1.age_buckets] == [200, 0, 0, 300, 1200]
    acc = inventory_dashboard(lake, replace(PERIOD, category_id=20))
    # (102,1) 500 + (103,9) 900; stock-days 9200 over COGS 450
    assert (acc.now.value_fen, acc.turnover.cogs_fen, acc.turnover.turnover_days) == (1400, 450, Decimal("20.4"))
    assert [r.key for r in acc.by_category] == ["20"]
    scoped = inventory_dashboard(lake, replace(PERIOD, scope=(S2,)))
    assert scoped.now.value_fen == 1800
    assert {s.location_id for s in scoped.stockouts} == {S2}


def test_an_empty_lake(tmp_path: Path) -> None:
    d = inventory_dashboard(Lake(tmp_path / "empty"), PERIOD)
    assert d.has_data is False
    assert d.as_of == PERIOD.end
    assert d.turnover.turnover_days is None
    assert d.stockouts == []
    assert d.aged_top == []
