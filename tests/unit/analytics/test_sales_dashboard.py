"""The sales dashboard over the hand-built lake of ``test_sales_lake`` (read its docstring: every
figure below is computed by hand from those orders)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.unit.analytics.test_sales_lake import PERIOD, S1, S2, build_lake
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.sales import OTHERS, fold_others, sales_dashboard
from zhongtai.analytics.schemas_sales import BreakdownRowOut


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build_lake(tmp_path / "lake")


def test_headline_figures_against_the_previous_period(lake: Lake) -> None:
    d = sales_dashboard(lake, PERIOD)
    c = d.current
    # Counted lines: L1-L9, L12, L13 (L10's order is cancelled, L11's never paid).
    # net = 1000 + 200 + 100 + 1000 + 300 + 500 + 1000 + 150 + 0 + 2000 + 0 = 6250
    assert c.net_fen == 6250
    # gross = 1000 + 200 + 100 + 1000 + 450 + 500 + 1000 + 150 + 100 + 2000 + 100 = 6600
    assert c.gross_fen == 6600
    # units = 1 + 2 + 1 + 1 + 2 + 1 + 1 + 1 + 0 + 2 + 0 = 12
    assert c.units == 12
    # orders with a line of net quantity > 0: O1 O2 O3 O4 O5 O6 O10 (O7 was fully returned)
    assert c.orders == 7
    assert c.aov_fen == 893  # 6250 / 7 = 892.86
    # buyers: m501 (O1, O4), m502 (O3; its O7 nets to 0), m503 (O5, O10)
    assert c.buyers == 3
    # members' net: O1 1200 + O3 1000 + O4 300 + O5 500 + O10 2000 = 5000 of 6250
    assert c.member_net_fen == 5000
    assert c.member_share == Decimal("0.8000")
    # refund rate: (6600 - 6250) / 6600 = 0.05303
    assert c.refund_rate == Decimal("0.0530")
    p = d.previous
    assert (d.previous_start, d.previous_end) == (date(2026, 2, 22), date(2026, 2, 28))
    # P1 1000 + P3 300 + P2 2000; units 1 + 2 + 2; 3 orders; only P1 has a member (m501)
    assert (p.net_fen, p.units, p.orders, p.buyers, p.member_net_fen) == (3300, 5, 3, 1, 1000)
    assert p.aov_fen == 1100
    assert p.member_share == Decimal("0.3030")  # 1000 / 3300
    assert p.refund_rate == Decimal("0.0000")
    assert d.has_data is True
    assert d.currency == "CNY"


def test_days_line_up_with_the_previous_period_by_index(lake: Lake) -> None:
    d = sales_dashboard(lake, PERIOD)
    assert [x.day.day for x in d.by_day] == [1, 2, 3, 4, 5, 6, 7]
    # 03-01 O1 1200; 03-02 O2 100 + O3 1000; 03-03 O4 300; 03-04 O5 500; 03-05 O6 1150;
    # 03-06 O7 nets to 0; 03-07 O10 2000
    assert [x.net_fen for x in d.by_day] == [1200, 1100, 300, 500, 1150, 0, 2000]
    assert [x.orders for x in d.by_day] == [1, 2, 1, 1, 1, 0, 1]
    # index 3 = 02-25 (P1 1000), 4 = 02-26 (P3 300), 5 = 02-27 (P2 2000)
    assert [x.previous_net_fen for x in d.by_day] == [0, 0, 0, 1000, 300, 2000, 0]
    assert d.by_day[3].previous_day == date(2026, 2, 25)
    assert sum(x.net_fen for x in d.by_day) == d.current.net_fen


def test_channels_stores_and_categories(lake: Lake) -> None:
    d = sales_dashboard(lake, PERIOD)
    # pos: O1 1200 + O2 100 + O7 0 + O10 2000 = 3300, orders O1 O2 O10, units 3 + 1 + 2
    # mini: O5 500 + O6 1150 = 1650; tmall: O3 1000 + O4 300 = 1300
    assert [(r.key, r.net_fen, r.orders, r.units) for r in d.by_channel] == [
        ("pos", 3300, 3, 6),
        ("mini", 1650, 2, 3),
        ("tmall", 1300, 2, 3),
    ]
    assert [r.share for r in d.by_channel] == [Decimal("0.5280"), Decimal("0.2640"), Decimal("0.2080")]
    assert d.by_channel[1].name_en == "Mini program"
    # S1: O1 1200 + O5 500 + O10 2000 = 3700; no store (tmall): 1300; S2: O2 100 + O6 1150 = 1250
    assert [(r.key, r.code, r.net_fen, r.orders) for r in d.by_store] == [
        (str(S1), "S1", 3700, 3),
        (None, "", 1300, 2),
        (str(S2), "S2", 1250, 2),
    ]
    # Phones (101, 104): 1000 + 1000 + 500 + 1000 + 2000 = 5500 over O1 O3 O5 O6 O10;
    # Accessories (102, 103): 200 + 100 + 300 + 150 = 750 over O1 O2 O4 O6
    assert [(r.key, r.name, r.net_fen, r.orders, r.units) for r in d.by_category] == [
        ("10", "手机", 5500, 5, 6),
        ("20", "配件", 750, 4, 6),
    ]
    assert d.category_parent is None


def test_a_selected_category_breaks_down_into_its_children(lake: Lake) -> None:
    d = sales_dashboard(lake, replace(PERIOD, category_id=10))
    # Smartphones (101): 1000 + 1000 + 1000 + 2000; the lite phone sits in Phones itself: 500
    assert [(r.key, r.net_fen, r.units) for r in d.by_category] == [("11", 5000, 5), ("10", 500, 1)]
    assert d.current.net_fen == 5500
    assert d.current.orders == 5
    assert d.category_parent == 10


def test_top_skus_with_margin(lake: Lake) -> None:
    d = sales_dashboard(lake, PERIOD)
    got = [(s.sku_id, s.units, s.net_fen, s.cost_fen, s.margin_fen, s.margin_rate) for s in d.top_skus]
    assert got == [
        # 101: L1 1 + L4 1 + L7 1 + L12 2 = 5 units, 5000, cost 5 × 600
        (101, 5, 5000, 3000, 2000, Decimal("0.4000")),
        # 104: L6 has no line cost: the SKU's 300
        (104, 1, 500, 300, 200, Decimal("0.4000")),
        # 103: L5 2 + L8 1 = 3 units, 300 + 150, cost 3 × 100
        (103, 3, 450, 300, 150, Decimal("0.3333")),
        # 102: L2 2 + L3 1 = 3 units (L9, L13 net 0), 200 + 100, cost 3 × 50
        (102, 3, 300, 150, 150, Decimal("0.5000")),
    ]


def test_hour_of_day_profile(lake: Lake) -> None:
    d = sales_dashboard(lake, PERIOD)
    assert len(d.by_hour) == 24
    busy = {h.hour: (h.net_fen, h.orders) for h in d.by_hour if h.net_fen or h.orders}
    # 10h: O1 1200 + O5 500 (+ O7 0); 14h: O2 100 + O6 1150 + O10 2000; 20h: O3 1000 + O4 300
    assert busy == {10: (1700, 2), 14: (3250, 3), 20: (1300, 2)}


def test_filters_change_the_figures(lake: Lake) -> None:
    pos = sales_dashboard(lake, replace(PERIOD, channels=("pos",)))
    assert (pos.current.net_fen, pos.current.orders) == (3300, 3)
    assert [r.key for r in pos.by_channel] == ["pos"]
    # previous pos: P1 1000
    assert pos.previous.net_fen == 1000
    two_channels = sales_dashboard(lake, replace(PERIOD, channels=("pos", "tmall")))
    assert two_channels.current.net_fen == 3300 + 1300
    s2 = sales_dashboard(lake, replace(PERIOD, stores=(S2,)))
    assert (s2.current.net_fen, s2.current.orders, s2.current.buyers) == (1250, 2, 0)
    accessories = sales_dashboard(lake, replace(PERIOD, category_id=20))
    assert (accessories.current.net_fen, accessories.current.units) == (750, 6)
    # 03-01 .. 03-02: O1 1200 + O2 100 + O3 1000; previous: 02-27 .. 02-28: P2 2000
    two_days = sales_dashboard(lake, replace(PERIOD, end=date(2026, 3, 2)))
    assert (two_days.current.net_fen, two_days.current.orders) == (2300, 3)
    assert two_days.previous.net_fen == 2000
    assert len(two_days.by_day) == 2


def test_store_scope_limits_every_figure(lake: Lake) -> None:
    # A manager of S1 without a store filter sees S1 only.
    scoped = sales_dashboard(lake, replace(PERIOD, scope=(S1,)))
    assert scoped.current.net_fen == 3700
    assert [r.key for r in scoped.by_store] == [str(S1)]
    # Asking for S2 within an S1 scope gives nothing (the parser reports it; the query never widens).
    assert sales_dashboard(lake, replace(PERIOD, stores=(S2,), scope=(S1,))).current.net_fen == 0
    # A store role without stores sees nothing at all.
    nothing = sales_dashboard(lake, replace(PERIOD, scope=()))
    assert (nothing.current.net_fen, nothing.by_store, nothing.top_skus) == (0, [], [])


def test_an_empty_lake_says_so(tmp_path: Path) -> None:
    d = sales_dashboard(Lake(tmp_path / "empty"), PERIOD)
    assert d.has_data is False
    assert d.current.net_fen == 0
    assert d.current.aov_fen is None
    assert d.current.refund_rate is None
    assert len(d.by_day) == 7


def test_others_row_folds_the_tail() -> None:
    rows = [BreakdownRowOut(key=str(i), net_fen=100 * i, orders=i, units=i, share=None) for i in (5, 4, 3, 2, 1)]
    folded = fold_others(rows, 2, 1500)
    assert [r.key for r in folded] == ["5", "4", OTHERS]
    # 300 + 200 + 100 of 1500
    assert (folded[-1].net_fen, folded[-1].orders, folded[-1].merged, folded[-1].share) == (
        600,
        6,
        3,
        Decimal("0.4000"),
    )
    assert fold_others(rows, 5, 1500) == rows
