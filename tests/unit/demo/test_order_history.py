"""The two-year order history and its stock ledger, as plain data (no database)."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from zhongtai.demo.catalog_data import ACCESSORY_CATEGORIES
from zhongtai.demo.network_data import CENTRAL_DC
from zhongtai.demo.order_history import (
    HISTORY_DAYS,
    ONLINE,
    SPRING_FESTIVAL,
    HistOrder,
    OrderHistory,
    beijing_date,
    build_order_history,
    day_start,
    festival,
    launch_day,
    timeline,
)
from zhongtai.demo.plan import DemoPlan, build_demo_plan
from zhongtai.demo.stock_history import StockHistory, build_stock_history

SEED = 7
TODAY = date(2026, 11, 22)


@pytest.fixture(scope="module")
def plan() -> DemoPlan:
    return build_demo_plan(SEED, "small")


@pytest.fixture(scope="module")
def history(plan: DemoPlan) -> OrderHistory:
    # The small plan at about three times its usual order volume: enough orders for the
    # statistics below, still quick.
    return build_order_history(SEED, plan.catalog, plan.network, plan.stock, TODAY, volume=0.35)


@pytest.fixture(scope="module")
def ledger(plan: DemoPlan, history: OrderHistory) -> StockHistory:
    return build_stock_history(history, plan.catalog, plan.network, plan.stock)


def km(a: tuple[float, float], b: tuple[float | None, float | None]) -> float:
    assert b[0] is not None
    assert b[1] is not None
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def per_day(orders: list[HistOrder], first: date) -> list[int]:
    counts = [0] * HISTORY_DAYS
    for o in orders:
        counts[(beijing_date(o.placed_at) - first).days] += 1
    return counts


def ordinary(day: date) -> bool:
    """Not a festival, holiday or Spring Festival season day."""
    near_sf = any(abs((day - sf).days) <= 30 for sf in SPRING_FESTIVAL.values())
    return not festival(day) and not near_sf and day.month not in (6, 10, 11, 12)


def test_same_seed_and_date_same_history_other_seed_other_history(plan: DemoPlan) -> None:
    def small(seed: int, today: date) -> OrderHistory:
        return build_order_history(seed, plan.catalog, plan.network, plan.stock, today, volume=0.02)

    a, b = small(3, TODAY), small(3, TODAY)
    assert a.orders == b.orders
    assert a.customers == b.customers
    assert [o.number for o in small(4, TODAY).orders] != [o.number for o in a.orders]
    # another load date shifts the window
    assert small(3, TODAY + timedelta(days=1)).last_day == TODAY


def test_two_years_ending_yesterday_nothing_at_or_after_midnight(history: OrderHistory) -> None:
    assert history.last_day == TODAY - timedelta(days=1)
    assert (history.last_day - history.first_day).days == HISTORY_DAYS - 1
    assert history.cutoff == day_start(TODAY)
    start = day_start(history.first_day)
    for o in history.orders:
        times = [o.placed_at, o.paid_at, o.shipped_at, o.delivered_at, o.completed_at, o.cancelled_at]
        times += [t for r in o.returns for t in (r.requested_at, r.decided_at, r.received_at)]
        times += [t for f in o.refunds for t in (f.created_at, f.settled_at)]
        assert all(start <= t < history.cutoff for t in times if t is not None), o.number
    assert [o.placed_at for o in history.orders] == sorted(o.placed_at for o in history.orders)


def test_every_channel_and_every_store_sells(plan: DemoPlan, history: OrderHistory) -> None:
    by_channel = Counter(o.channel_code for o in history.orders)
    assert set(by_channel) == {*ONLINE, "pos"}
    assert {o.store_code for o in history.orders if o.channel_code == "pos"} == {s.code for s in plan.network.stores}
    modes = defaultdict(set)
    for o in history.orders:
        modes[o.channel_code].add(o.delivery_mode)
    assert modes["pos"] == {"pos"}
    assert modes["meituan"] == {"same_city"}
    assert modes["jd"] == {"express"}
    assert modes["miniapp"] == {"express", "same_city", "click_collect"}


def test_the_full_demo_has_a_plausible_number_of_orders() -> None:
    # Counted from the rates rather than generated (that takes seconds): the full scale's
    # expected orders over two years.
    full = build_demo_plan(42, "full")
    h = build_order_history(42, full.catalog, full.network, full.stock, TODAY, volume=0.1)
    assert 4_000 <= len(h.orders) <= 7_000  # x10 at volume 1: 40k-70k


def test_618_and_double_11_are_at_least_four_times_an_ordinary_online_day(history: OrderHistory) -> None:
    online = [o for o in history.orders if o.channel_code in ("jd", "tmall", "web", "miniapp")]
    counts = per_day(online, history.first_day)
    days = [history.first_day + timedelta(days=i) for i in range(HISTORY_DAYS)]
    normal = statistics.median(c for c, d in zip(counts, days, strict=True) if ordinary(d))
    peaks = [c for c, d in zip(counts, days, strict=True) if (d.month, d.day) in ((6, 18), (11, 11))]
    assert len(peaks) == 4  # two 618s and two Double 11s in two years
    assert all(p >= 4 * normal for p in peaks), (peaks, normal)


def test_festival_days_carry_deeper_discounts(history: OrderHistory) -> None:
    def share(orders: list[HistOrder]) -> float:
        return sum(o.discount_fen for o in orders) / sum(o.goods_fen for o in orders)

    online = [o for o in history.orders if o.channel_code in ("jd", "tmall", "web")]
    peak = [o for o in online if (o.placed_at + timedelta(hours=8)).timetuple()[1:3] in ((6, 18), (11, 11))]
    plain = [o for o in online if ordinary(beijing_date(o.placed_at))]
    assert share(peak) > 0.08
    assert share(peak) > 3 * share(plain)


def test_stores_are_busier_at_the_weekend(history: OrderHistory) -> None:
    pos = [o for o in history.orders if o.channel_code == "pos"]
    counts = per_day(pos, history.first_day)
    weekend, weekday = [], []
    for i, c in enumerate(counts):
        d = history.first_day + timedelta(days=i)
        if ordinary(d):
            (weekend if d.weekday() >= 5 else weekday).append(c)
    assert statistics.mean(weekend) > 1.4 * statistics.mean(weekday)


def test_couriers_stop_for_the_spring_festival(history: OrderHistory) -> None:
    online = [o for o in history.orders if o.channel_code in ("jd", "tmall", "web")]
    counts = per_day(online, history.first_day)
    for sf in SPRING_FESTIVAL.values():
        i = (sf - history.first_day).days
        if 30 <= i < HISTORY_DAYS - 10:
            holiday = statistics.mean(counts[i - 5 : i + 6])
            before = statistics.mean(counts[i - 24 : i - 7])
            assert holiday < 0.5 * before, sf


def test_phones_launched_in_september_spike_then_decay(plan: DemoPlan, history: OrderHistory) -> None:
    launch = launch_day(TODAY, 0)
    assert launch.month == 9
    assert launch.weekday() == 1
    q60 = {s.code for s in plan.catalog.skus if s.spu_code == "YQ-Q60P"}
    units = Counter(beijing_date(o.placed_at) for o in history.orders for ln in o.lines if ln.sku_code in q60)
    assert all(d >= launch for d in units)
    assert units[launch] > 0
    online = Counter(
        beijing_date(o.placed_at)
        for o in history.orders
        if o.channel_code != "pos"
        for ln in o.lines
        if ln.sku_code in q60
    )
    # The first fortnight against the fortnight from the fourth week (before the Double 11
    # presale starts on October 20).
    first_two_weeks = sum(online[launch + timedelta(days=i)] for i in range(14))
    a_month_later = sum(online[launch + timedelta(days=24 + i)] for i in range(14))
    assert first_two_weeks > 1.5 * a_month_later > 0


def test_orders_add_up(history: OrderHistory) -> None:
    for o in history.orders:
        assert 1 <= len(o.lines) <= 4
        assert len({ln.sku_code for ln in o.lines}) == len(o.lines)
        assert o.goods_fen == sum(ln.unit_price_fen * ln.quantity for ln in o.lines)
        for ln in o.lines:
            assert ln.total_fen == ln.unit_price_fen * ln.quantity - ln.discount_fen >= 0
            assert ln.shipped + ln.cancelled <= ln.quantity
            assert ln.returned <= ln.shipped
        assert o.total_fen == o.goods_fen - o.discount_fen + o.shipping_fen > 0
        assert o.refunded_fen <= o.paid_fen
        assert sum(f.amount_fen for f in o.refunds if f.settled_at) == o.refunded_fen
        if o.status == "cancelled":
            assert o.shipped_at is None
            assert all(ln.cancelled == ln.quantity for ln in o.lines)
            assert o.payment_status in ("unpaid", "refunded")
        else:
            assert o.shipped_at is not None
            assert all(ln.shipped == ln.quantity for ln in o.lines)


def test_multi_line_orders_and_accessories_with_phones(plan: DemoPlan, history: OrderHistory) -> None:
    skus = plan.catalog.sku_by_code()
    multi = sum(1 for o in history.orders if len(o.lines) > 1) / len(history.orders)
    assert 0.15 <= multi <= 0.45
    with_phone = [o for o in history.orders if skus[o.lines[0].sku_code].category_code == "phone"]
    attached = [o for o in with_phone if any(skus[ln.sku_code].category_code in ACCESSORY_CATEGORIES for ln in o.lines)]
    assert len(attached) > 0.3 * len(with_phone)


def test_buyers_come_back_and_carry_their_channel_ids(history: OrderHistory) -> None:
    known = [o for o in history.orders if o.customer_id is not None]
    per_customer = Counter(o.customer_id for o in known)
    repeat = sum(1 for o in known if per_customer[o.customer_id] > 1) / len(known)
    assert 0.4 <= repeat <= 0.95
    # Pareto-like: the busiest tenth of the buyers place a third of the orders or more.
    top = sorted(per_customer.values(), reverse=True)[: max(1, len(per_customer) // 10)]
    assert sum(top) >= 0.3 * len(known)
    for o in history.orders:
        if o.channel_code in ("jd", "tmall"):
            assert o.buyer_marketplace_id.startswith("jd_" if o.channel_code == "jd" else "AAH")
            assert o.buyer_phone == ""
        elif o.channel_code == "miniapp":
            assert o.buyer_unionid.startswith("o")
            assert len(o.buyer_unionid) == 28
        if o.buyer_phone:
            assert len(o.buyer_phone) == 11
            assert o.buyer_phone.startswith("1")
    anonymous = sum(1 for o in history.orders if o.channel_code == "pos" and o.customer_id is None)
    assert anonymous > 0


def test_deliveries_go_to_the_network_cities_and_leave_from_the_right_place(
    plan: DemoPlan, history: OrderHistory
) -> None:
    locations = plan.network.location_by_code()
    stores = plan.network.stores
    express = [o for o in history.orders if o.delivery_mode == "express"]
    from_dc = sum(1 for o in express if locations[o.location_code].type != "store")
    assert from_dc >= 0.9 * len(express)
    assert any(o.location_code == CENTRAL_DC for o in express)
    for o in history.orders:
        if o.delivery_mode in ("pos", "click_collect"):
            assert o.location_code == o.store_code
        if o.delivery_mode in ("express", "same_city"):
            assert o.ship_latitude is not None
            assert o.ship_longitude is not None
            assert o.ship_city
            assert o.ship_address
        if o.delivery_mode == "same_city":
            store = locations[o.location_code]
            assert store.type == "store"
            assert o.ship_city == store.city
            assert o.ship_latitude is not None
            assert o.ship_longitude is not None
            here = (o.ship_latitude, o.ship_longitude)
            nearest = min(
                (s for s in stores if s.city == o.ship_city), key=lambda s: km(here, (s.latitude, s.longitude))
            )
            assert nearest.code == store.code
            assert km(here, (store.latitude, store.longitude)) < 3.0


def test_returns_come_within_seven_days_at_the_expected_rates(history: OrderHistory) -> None:
    shipped_lines: Counter[str] = Counter()
    returned_lines: Counter[str] = Counter()
    dispositions: Counter[str] = Counter()
    for o in history.orders:
        kind = "pos" if o.channel_code == "pos" else "online"
        if o.delivered_at is not None:
            shipped_lines[kind] += len(o.lines)
        for r in o.returns:
            assert o.delivered_at is not None
            assert o.delivered_at < r.requested_at <= o.delivered_at + timedelta(days=7)
            assert r.received_at is None or r.received_at >= r.requested_at
            assert r.location_code == o.location_code
            returned_lines[kind] += len(r.lines)
            dispositions.update(rl.disposition for rl in r.lines if rl.disposition)
            assert r.refund_fen == sum(rl.refund_fen for rl in r.lines) <= o.total_fen
    assert 0.06 <= returned_lines["online"] / shipped_lines["online"] <= 0.085
    assert 0.005 <= returned_lines["pos"] / shipped_lines["pos"] <= 0.03
    assert dispositions["restock"] > 4 * dispositions["scrap"] > 0


def test_the_timeline_tells_each_order_in_order(history: OrderHistory) -> None:
    for o in history.orders[:2_000]:
        entries = timeline(o)
        assert entries[0].to_status == "created"
        assert [e.at for e in entries] == sorted(e.at for e in entries)
        statuses = [e.to_status for e in entries if e.kind == "status"]
        assert statuses[-1] == o.status or (o.status == "delivered" and statuses[-1] == "delivered")
        if o.status == "completed" and o.delivery_mode != "pos":
            assert statuses == ["created", "routed", "shipped", "delivered", "completed"]


def test_the_ledger_never_goes_below_zero_and_ends_at_the_stock_plan(
    plan: DemoPlan, history: OrderHistory, ledger: StockHistory
) -> None:
    running: dict[tuple[str, str], int] = defaultdict(int)
    for m in ledger.movements:
        key = (m.sku_code, m.location_code)
        running[key] += m.on_hand_delta
        assert running[key] == m.on_hand_after >= 0
        assert m.occurred_at < history.cutoff
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for r in plan.stock.receipts:
        expected[(r.sku_code, r.location_code)] += r.quantity
    assert {k: v for k, v in running.items() if v} == dict(expected)
    assert [m.occurred_at for m in ledger.movements] == sorted(m.occurred_at for m in ledger.movements)
    # one sale per fulfilment and SKU, at the location that shipped
    sales = Counter((m.reference_id, m.sku_code, m.location_code) for m in ledger.movements if m.type == "sale")
    shipped = {
        (o.fulfilment_number, ln.sku_code, o.location_code) for o in history.orders if o.shipped_at for ln in o.lines
    }
    assert set(sales) == shipped
    assert max(sales.values()) == 1
    receipts = [m for m in ledger.movements if m.type == "receipt"]
    assert sum(1 for m in receipts if m.reference_id.startswith("OB-")) >= len(
        {r.location_code for r in plan.stock.receipts}
    )
    assert sum(1 for m in receipts if not m.reference_id.startswith("OB-")) > 100  # replenishment


def test_serials_follow_the_units(plan: DemoPlan, history: OrderHistory, ledger: StockHistory) -> None:
    skus = plan.catalog.sku_by_code()
    keys = [(s.sku_code, s.serial) for s in ledger.serials]
    assert len(keys) == len(set(keys))
    in_stock: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in ledger.serials:
        if s.state == "in_stock":
            in_stock[(s.sku_code, s.location_code)].add(s.serial)
    planned = {(r.sku_code, r.location_code): set(r.serials) for r in plan.stock.receipts if r.serials}
    assert dict(in_stock) == planned
    state = {(s.sku_code, s.serial): s.state for s in ledger.serials}
    for o in history.orders:
        for ln in o.lines:
            if skus[ln.sku_code].serial_tracked and ln.shipped:
                assert len(ln.serials) == ln.shipped
                assert all((ln.sku_code, x) in state for x in ln.serials)
            else:
                assert ln.serials == []
        for r in o.returns:
            for rl in r.lines:
                line = o.lines[rl.line_no - 1]
                if skus[line.sku_code].serial_tracked and rl.disposition == "scrap":
                    assert all(state[(line.sku_code, x)] == "returned" for x in rl.serials)


@pytest.mark.parametrize("today", [date(2026, 2, 20), date(2026, 6, 19), date(2026, 11, 12), date(2027, 1, 5)])
def test_any_load_date_gives_a_consistent_ledger(plan: DemoPlan, today: date) -> None:
    h = build_order_history(SEED, plan.catalog, plan.network, plan.stock, today, volume=0.15)
    ledger = build_stock_history(h, plan.catalog, plan.network, plan.stock)  # checks itself as it goes
    assert ledger.movements
    assert ledger.returns_scrapped <= 5
