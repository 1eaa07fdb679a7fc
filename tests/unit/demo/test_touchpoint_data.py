"""The demo's touchpoint registry and event history: deterministic and consistent with the orders."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from zhongtai.demo.network_data import build_network
from zhongtai.demo.order_history import OrderHistory, beijing_date, build_order_history, day_start
from zhongtai.demo.plan import DemoPlan, build_demo_plan
from zhongtai.demo.touchpoint_data import (
    FLAKY,
    ORDER_SOURCE,
    WINDOW_DAYS,
    Refs,
    TouchpointHistory,
    build_registry,
    build_touchpoint_history,
    window,
)

TODAY = date(2026, 11, 20)
NOW = day_start(TODAY) + timedelta(hours=9)
LOCAL = "Asia/Shanghai"


def _refs(plan: DemoPlan, history: OrderHistory) -> Refs:
    # Made-up ids: SKU i -> i + 1, location i -> i + 1, customer c's orders -> member 1000 + c.
    return Refs(
        sku_ids={s.code: i + 1 for i, s in enumerate(plan.catalog.skus)},
        location_ids={loc.code: i + 1 for i, loc in enumerate(plan.network.locations)},
        member_of_order={o.number: 1000 + o.customer_id for o in history.orders if o.customer_id is not None},
    )


@pytest.fixture(scope="module")
def world() -> tuple[DemoPlan, OrderHistory, Refs, TouchpointHistory]:
    plan = build_demo_plan(7, "small")
    history = build_order_history(plan.seed, plan.catalog, plan.network, plan.stock, TODAY)
    refs = _refs(plan, history)
    return plan, history, refs, build_touchpoint_history(plan, history, TODAY, refs, now=NOW)


def test_same_inputs_give_the_same_history(world: tuple[DemoPlan, OrderHistory, Refs, TouchpointHistory]) -> None:
    plan, history, refs, first = world
    second = build_touchpoint_history(plan, history, TODAY, refs, now=NOW)
    assert second.touchpoints == first.touchpoints
    assert second.events.equals(first.events)
    assert second.heartbeats.equals(first.heartbeats)
    assert second.rejections.equals(first.rejections)


def test_events_fall_in_the_window_with_unique_ids(
    world: tuple[DemoPlan, OrderHistory, Refs, TouchpointHistory],
) -> None:
    _, _, _, th = world
    ev = th.events
    first, last = window(TODAY)
    assert (first, last) == (TODAY - timedelta(days=WINDOW_DAYS), TODAY - timedelta(days=1))
    assert ev.height > 20_000
    assert ev.select(pl.struct("source", "event_id").is_unique().all()).item()
    assert ev["occurred_at"].min() >= day_start(first)  # type: ignore[operator]
    assert ev["occurred_at"].max() < day_start(TODAY)  # type: ignore[operator]
    # received after it happened: mostly within seconds, a few late batches
    delay = (ev["received_at"] - ev["occurred_at"]).dt.total_seconds()
    assert delay.min() >= 0  # type: ignore[operator]
    assert 0.9 < (delay < 120).mean() < 1.0  # type: ignore[operator]
    # every payload is a JSON object
    assert all(isinstance(json.loads(d), dict) for d in ev["data"].head(500))


def test_every_pos_buyer_walked_into_the_store_that_day(
    world: tuple[DemoPlan, OrderHistory, Refs, TouchpointHistory],
) -> None:
    plan, history, refs, th = world
    first, _ = window(TODAY)
    loc_code = {i: c for c, i in refs.location_ids.items()}
    entries = (
        th.events.filter(pl.col("type") == "store_entry")
        .with_columns(day=pl.col("occurred_at").dt.convert_time_zone(LOCAL).dt.date())
        .group_by("location_id", "day")
        .len()
    )
    visitors = {(loc_code[r["location_id"]], r["day"]): r["len"] for r in entries.iter_rows(named=True)}
    buyers: dict[tuple[str, date], int] = {}
    for o in history.orders:
        store = o.store_code or ""
        counted_from = th.camera_stores.get(store)
        if o.channel_code == "pos" and counted_from is not None and beijing_date(o.placed_at) >= counted_from:
            key = (store, beijing_date(o.placed_at))
            buyers[key] = buyers.get(key, 0) + 1
    assert len(buyers) > 50  # store-days with camera and till both live: enough to judge
    for key, n in buyers.items():
        assert visitors.get(key, 0) >= n, key
    # a conversion between 15 and 35 % overall: visitors on days with buyers over buyers
    ratio = sum(buyers.values()) / sum(visitors[k] for k in buyers)
    assert 0.15 <= ratio <= 0.36
    # stores without a camera system have no footfall
    assert set(th.camera_stores) <= {s.code for s in plan.network.stores}
    counted = {loc_code[i] for i in entries["location_id"].unique()}
    assert counted == set(th.camera_stores)
    assert all(first <= d for d in th.camera_stores.values())


def test_store_entries_pair_with_exits_and_carry_bands(
    world: tuple[DemoPlan, OrderHistory, Refs, TouchpointHistory],
) -> None:
    _, _, _, th = world
    store = th.events.filter(pl.col("type").is_in(["store_entry", "store_exit"]))
    pairs = store.group_by("anonymous_id").agg(pl.col("type").sort()).get_column("type").to_list()
    assert all(p == ["store_entry", "store_exit"] for p in pairs)
    sample = [json.loads(d) for d in th.events.filter(pl.col("type") == "store_exit")["data"].head(200)]
    assert all(d["gender"] in ("female", "male", "unknown") and d["dwell_s"] > 0 for d in sample)
    # busier at lunch and in the evening than in the first opening hour
    hours = store.filter(pl.col("type") == "store_entry")["occurred_at"].dt.convert_time_zone(LOCAL).dt.hour()
    assert (hours.is_between(11, 12)).sum() > 2 * (hours == 10).sum()


def test_members_come_from_the_orders_and_some_identifiers_match_nobody(
    world: tuple[DemoPlan, OrderHistory, Refs, TouchpointHistory],
) -> None:
    _, history, refs, th = world
    ev = th.events
    known = set(refs.member_of_order.values())
    members = set(ev["member_id"].drop_nulls().to_list())
    assert members
    assert members <= known
    assert ev.filter(pl.col("identified") & pl.col("member_id").is_null()).height > 0
    assert ev.filter(~pl.col("identified") & pl.col("member_id").is_not_null()).height == 0
    # a member's web order is preceded by views and add-to-carts of what they bought, as that member
    first, _ = window(TODAY)
    order = next(
        o
        for o in history.orders
        if o.channel_code == "web"
        and o.number in refs.member_of_order
        and o.placed_at >= day_start(first) + timedelta(days=60)
    )
    path = ev.filter(pl.col("session_id") == f"s-{order.number}")
    assert set(path["member_id"].to_list()) == {refs.member_of_order[order.number]}
    assert path["occurred_at"].max() <= order.placed_at  # type: ignore[operator]
    carted = set(path.filter(pl.col("type") == "add_to_cart")["sku_id"].to_list())
    assert carted == {refs.sku_ids[ln.sku_code] for ln in order.lines}
    assert {"page_view", "product_view"} <= set(path["type"].to_list())
    # the order center's events for it
    placed = ev.filter((pl.col("source") == ORDER_SOURCE) & (pl.col("event_id") == f"hist-{order.number}-placed"))
    assert placed.height == 1
    assert placed["member_id"].item() == refs.member_of_order[order.number]


def test_some_searches_find_nothing(world: tuple[DemoPlan, OrderHistory, Refs, TouchpointHistory]) -> None:
    _, _, _, th = world
    searches = th.events.filter(pl.col("type") == "search")["data"].map_elements(
        lambda d: json.loads(d)["results"], return_dtype=pl.Int64
    )
    assert 0 < (searches == 0).mean() < 0.2  # type: ignore[operator]


def test_registry_coverage_statuses_and_silence(world: tuple[DemoPlan, OrderHistory, Refs, TouchpointHistory]) -> None:
    _, _, _, th = world
    tps = {t.code: t for t in th.touchpoints}
    factors = {f for t in th.touchpoints for f in t.factors}
    assert "manufacturing" not in factors
    assert len(factors) == 6
    assert sorted(t.status for t in th.touchpoints if t.status != "active") == ["paused", "planned", "planned"]
    assert all(t.cost_fen_month > 0 for t in th.touchpoints)
    year_ago = day_start(TODAY) - timedelta(days=366)
    assert all(year_ago <= t.registered_at < day_start(TODAY) for t in th.touchpoints)
    assert all(t.connected_on is None or t.connected_on > beijing_date(t.registered_at) for t in th.touchpoints)
    # planned ones are silent; the paused one stopped on its day
    silent = [c for c, t in tps.items() if t.status == "planned"]
    assert th.events.filter(pl.col("touchpoint").is_in(silent)).height == 0
    assert th.heartbeats.filter(pl.col("touchpoint").is_in(silent)).height == 0
    paused = next(t for t in th.touchpoints if t.status == "paused")
    assert paused.paused_on is not None
    after = day_start(paused.paused_on)
    assert th.events.filter((pl.col("touchpoint") == paused.code) & (pl.col("occurred_at") >= after)).height == 0
    assert th.heartbeats.filter((pl.col("touchpoint") == paused.code) & (pl.col("at") >= after)).height == 0
    assert th.events.filter(pl.col("touchpoint") == paused.code).height > 0


def test_heartbeats_follow_intervals_with_outages(
    world: tuple[DemoPlan, OrderHistory, Refs, TouchpointHistory],
) -> None:
    _, _, _, th = world
    hb = th.heartbeats
    web = next(t for t in th.touchpoints if t.code == "TP-WEB-TRACK")
    beats = hb.filter(pl.col("touchpoint") == web.code)
    # every day at the touchpoint's own interval (30 min): 48 beats a day, outages aside
    assert web.heartbeat_interval_s == 1800
    recent = beats.filter(pl.col("at") >= NOW - timedelta(days=1))
    assert 47 <= recent.height <= 48
    week = beats.filter(pl.col("at").is_between(NOW - timedelta(days=8), NOW - timedelta(days=1)))
    outage_beats = sum(
        int((min(b, NOW - timedelta(days=1)) - max(a, NOW - timedelta(days=8))).total_seconds() // 1800)
        for a, b in web.outages
        if b > NOW - timedelta(days=8) and a < NOW - timedelta(days=1)
    )
    assert 7 * 48 - outage_beats - 7 <= week.height <= 7 * 48
    for start, end in web.outages:
        assert beats.filter(pl.col("at").is_between(start, end, closed="left")).height == 0
        assert (
            th.events.filter(
                (pl.col("touchpoint") == web.code) & pl.col("occurred_at").is_between(start, end, closed="left")
            ).height
            == 0
        )
    assert set(hb["status"].unique()) == {"ok", "degraded"}
    assert hb["latency_ms"].min() > 0  # type: ignore[operator]
    assert hb["at"].max() < NOW  # type: ignore[operator]


def test_rejections_are_a_few_percent_of_flaky_touchpoints(
    world: tuple[DemoPlan, OrderHistory, Refs, TouchpointHistory],
) -> None:
    _, _, _, th = world
    rej = th.rejections
    assert set(rej["touchpoint"].unique()) <= set(FLAKY)
    for code, count in rej.group_by("touchpoint").len().iter_rows():
        sent = th.events.filter(pl.col("touchpoint") == code).height
        assert 0.005 <= count / sent <= 0.035
    codes = {e["code"] for errs in rej["errors"] for e in json.loads(errs)}
    assert codes <= {"unknown_sku", "in_future", "timezone_aware", "missing"}
    assert len(codes) >= 3
    # rejected ids never collide with accepted ones
    assert not set(rej["event_id"]) & set(th.events["event_id"])


def test_full_network_leaves_some_stores_without_cameras() -> None:
    stores = build_network(42, "full").stores
    registry = build_registry(42, stores, TODAY)
    cameras = {t.store_code for t in registry if t.kind == "camera"}
    assert 0.7 * len(stores) <= len(cameras) < len(stores)
    assert registry == build_registry(42, stores, TODAY)
    assert len({t.code for t in registry}) == len(registry)
    assert all(t.registered_at.tzinfo is UTC or t.registered_at.utcoffset() == timedelta(0) for t in registry)
    assert max(t.registered_at for t in registry) < datetime(2026, 11, 20, tzinfo=UTC)
