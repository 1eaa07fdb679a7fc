"""The pure order router: eligibility per mode, the cost model, the fast path and CP-SAT. No database."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import replace

import pytest

from zhongtai.orders import routing
from zhongtai.orders.routing import (
    DEFAULT_COSTS,
    Candidate,
    CostModel,
    Plan,
    RouteLine,
    RouteRequest,
    Stock,
    route,
    route_nearest,
)

# People's Square, Shanghai: the delivery point. Distances from it, as the crow flies:
# S-SH01 0.9 km, S-SH02 1.2 km, S-SH03 2.6 km, S-SH04 3.2 km, RDC-EC 82 km, DC-WH 703 km.
HOME = (31.2304, 121.4737)
DC_WH = Candidate(1, "DC-WH", "central_dc", 30.6705, 114.1325, "湖北省", "武汉市", "华中")
RDC_EC = Candidate(2, "RDC-EC", "regional_dc", 31.4325, 120.6420, "江苏省", "苏州市", "华东")
S_SH01 = Candidate(11, "S-SH01", "store", 31.2366, 121.4795, "上海市", "上海市", "华东")
S_SH02 = Candidate(12, "S-SH02", "store", 31.2205, 121.4680, "上海市", "上海市", "华东")
S_SH03 = Candidate(13, "S-SH03", "store", 31.2240, 121.4470, "上海市", "上海市", "华东")
S_SH04 = Candidate(14, "S-SH04", "store", 31.2370, 121.5060, "上海市", "上海市", "华东")
NETWORK = (DC_WH, RDC_EC, S_SH01, S_SH02, S_SH03, S_SH04)


def order(*lines: tuple[int, int], mode: routing.DeliveryMode = "express", **kw: object) -> RouteRequest:
    """Lines as (sku_id, quantity), numbered from 1; delivered to HOME unless told otherwise."""
    kw.setdefault("latitude", HOME[0])
    kw.setdefault("longitude", HOME[1])
    kw.setdefault("province", "上海市")
    kw.setdefault("city", "上海市")
    rows = tuple(RouteLine(n, sku, q) for n, (sku, q) in enumerate(lines, start=1))
    return RouteRequest(lines=rows, mode=mode, **kw)  # type: ignore[arg-type]


def stock(units: dict[tuple[int, int], int], safety: dict[tuple[int, int], int] | None = None) -> Stock:
    return Stock(sellable=units, store_safety=safety or {})


def row(plan: Plan, location_id: int) -> routing.CandidateCost:
    return next(c for c in plan.candidates if c.location_id == location_id)


def taken(plan: Plan) -> dict[tuple[int, int], int]:
    """(location_id, sku_id) -> units, summed over the assignments."""
    out: dict[tuple[int, int], int] = {}
    for leg in plan.legs:
        for a in leg.assignments:
            assert a.location_id == leg.location_id
            out[a.location_id, a.sku_id] = out.get((a.location_id, a.sku_id), 0) + a.quantity
    return out


# --- fast path and splits ----------------------------------------------------------------------


def test_fast_path_takes_the_cheapest_location_that_fills_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given three locations that each hold the whole order
    units = {(1, 7): 5, (2, 7): 5, (11, 7): 5, (1, 8): 5, (2, 8): 5, (11, 8): 5, (12, 7): 1}
    monkeypatch.setattr(routing, "_solve", lambda *a: pytest.fail("the fast path must not call the solver"))
    # When routed for express delivery
    plan = route(order((7, 1), (8, 2)), NETWORK, stock(units))
    # Then the regional DC (700 + 2 fen/km x 82 km) beats the store (1200 + 2) and the central DC
    assert plan.method == "single"
    assert [leg.code for leg in plan.legs] == ["RDC-EC"]
    assert plan.cost_fen == 700 + 164 == row(plan, 2).parcel_cost_fen
    assert row(plan, 11).parcel_cost_fen == 1202
    assert row(plan, 1).parcel_cost_fen == 600 + 1405
    assert not plan.split
    assert not plan.unfilled
    assert taken(plan) == {(2, 7): 1, (2, 8): 2}
    assert row(plan, 12).fills_lines == (1,)
    assert row(plan, 13).excluded == "no_stock"
    assert "RDC-EC fills the whole order at ¥8.64" in plan.reason
    assert plan.solve_ms < 50


def test_split_when_no_single_location_holds_everything() -> None:
    plan = route(order((7, 1), (8, 1)), NETWORK, stock({(11, 7): 3, (2, 8): 3, (1, 8): 3}))
    assert plan.method == "exact"
    assert plan.split
    assert [leg.code for leg in plan.legs] == ["RDC-EC", "S-SH01"]  # cheapest leg first
    assert plan.cost_fen == 1202 + 864 + DEFAULT_COSTS.split_penalty_fen
    assert plan.breakdown == {"legs_fen": 2066, "split_penalty_fen": 1500, "late_penalty_fen": 0, "safety_dip_fen": 0}
    assert "RDC-EC (line 2) + S-SH01 (line 1) fill it at ¥35.66 in 2 legs" in plan.reason


def test_one_line_is_split_across_locations_when_none_holds_enough() -> None:
    plan = route(order((7, 5)), NETWORK, stock({(11, 7): 2, (12, 7): 2, (2, 7): 2}))
    assert plan.method == "exact"
    assert sum(a.quantity for leg in plan.legs for a in leg.assignments) == 5
    assert {leg.code for leg in plan.legs} == {"RDC-EC", "S-SH01", "S-SH02"}
    assert all(a.line_no == 1 for leg in plan.legs for a in leg.assignments)


def test_lines_of_the_same_sku_are_served_together_and_split_back_by_line() -> None:
    # Two lines of SKU 7 (2 + 1 units); only the store has 3 of them.
    plan = route(order((7, 2), (7, 1)), NETWORK, stock({(11, 7): 3, (2, 7): 2}))
    assert plan.method == "single"
    assert [leg.code for leg in plan.legs] == ["S-SH01"]
    assert sorted((a.line_no, a.quantity) for a in plan.legs[0].assignments) == [(1, 2), (2, 1)]


def test_unfilled_lines_report_the_missing_quantity() -> None:
    plan = route(order((7, 5), (8, 1), (9, 1)), NETWORK, stock({(11, 7): 2, (2, 7): 1, (2, 8): 1}))
    assert plan.unfilled == (RouteLine(1, 7, 2), RouteLine(3, 9, 1))
    assert taken(plan) == {(11, 7): 2, (2, 7): 1, (2, 8): 1}
    assert "3 units cannot be filled" in plan.reason


def test_nothing_routable_gives_method_none() -> None:
    plan = route(order((7, 1)), NETWORK, stock({}))
    assert plan.method == "none"
    assert plan.legs == ()
    assert plan.unfilled == (RouteLine(1, 7, 1),)
    assert plan.cost_fen == 0
    assert "6 no_stock" in plan.reason


# --- CP-SAT against brute force ----------------------------------------------------------------


def _splits(total: int, caps: list[int]) -> Iterator[tuple[int, ...]]:
    """Every way to take ``total`` units from locations holding ``caps``."""
    for combo in itertools.product(*(range(c + 1) for c in caps)):
        if sum(combo) == total:
            yield combo


def _brute_force(plan: Plan, req: RouteRequest, cands: list[Candidate], st: Stock, costs: CostModel) -> int:
    """The cheapest cost by enumeration, using only the per-location leg cost and ETA of the table."""
    eligible = [c for c in cands if row(plan, c.location_id).excluded is None]
    demand: dict[int, int] = {}
    for line in req.lines:
        demand[line.sku_id] = demand.get(line.sku_id, 0) + line.quantity
    skus = list(demand)
    caps = {(c.location_id, k): max(0, st.sellable.get((c.location_id, k), 0)) for c in eligible for k in skus}
    per_sku = []
    for k in skus:
        cap = [caps[c.location_id, k] for c in eligible]
        per_sku.append(list(_splits(min(demand[k], sum(cap)), cap)))
    best = None
    for choice in itertools.product(*per_sku):
        used = [i for i in range(len(eligible)) if any(split[i] for split in choice)]
        cost = costs.split_penalty_fen * max(0, len(used) - 1)
        for i in used:
            r = row(plan, eligible[i].location_id)
            assert r.parcel_cost_fen is not None
            assert r.eta_hours is not None
            cost += r.parcel_cost_fen
            if req.promised_hours is not None and r.eta_hours > req.promised_hours:
                cost += costs.late_penalty_fen
        for k, split in zip(skus, choice, strict=True):
            for i, q in enumerate(split):
                c = eligible[i]
                if c.type == "store" and req.mode != "pos":
                    free = max(0, caps[c.location_id, k] - st.store_safety.get((c.location_id, k), 0))
                    cost += costs.safety_dip_fen_per_unit * max(0, q - free)
        best = cost if best is None else min(best, cost)
    return best if best is not None else 0


def _cost_of(plan: Plan, req: RouteRequest, st: Stock, costs: CostModel) -> int:
    """The plan's own cost recomputed from its legs, independently of the router."""
    cost = costs.split_penalty_fen * max(0, len(plan.legs) - 1)
    for leg in plan.legs:
        cost += leg.cost_fen
        if req.promised_hours is not None and leg.eta_hours > req.promised_hours:
            cost += costs.late_penalty_fen
        r = row(plan, leg.location_id)
        for k in {a.sku_id for a in leg.assignments}:
            q = sum(a.quantity for a in leg.assignments if a.sku_id == k)
            assert q <= st.sellable[leg.location_id, k]
            if r.type == "store" and req.mode != "pos":
                free = max(0, st.sellable[leg.location_id, k] - st.store_safety.get((leg.location_id, k), 0))
                cost += costs.safety_dip_fen_per_unit * max(0, q - free)
    return cost


@pytest.mark.parametrize("seed", range(50))
def test_cp_sat_matches_brute_force_on_small_instances(seed: int) -> None:
    rnd = random.Random(seed)
    pool = [DC_WH, RDC_EC, S_SH01, S_SH02, S_SH03, S_SH04, Candidate(21, "SUP", "supplier", 31.0, 121.0)]
    cands = rnd.sample(pool, rnd.choice([1, 2, 3, 3]))
    skus = rnd.sample([7, 8], rnd.randint(1, 2))
    lines = [(k, rnd.randint(1, 3)) for k in skus]
    if rnd.random() < 0.3:
        lines.append((skus[0], 1))  # a second line of the same SKU
    units = {(c.location_id, k): rnd.randint(0, 2) for c in cands for k in skus}
    safety = {key: rnd.randint(0, 2) for key in units if rnd.random() < 0.4}
    modes: list[routing.DeliveryMode] = ["express", "express", "express", "same_city", "click_collect"]
    mode = rnd.choice(modes)
    pickup = rnd.choice([c for c in cands if c.type == "store"] or [S_SH01]).location_id
    req = order(*lines, mode=mode, promised_hours=rnd.choice([None, 4.5, 8.0, 30.0]), pickup_location_id=pickup)
    st = stock(units, safety)
    costs = CostModel(split_penalty_fen=rnd.choice([0, 300, 1500]))

    exact = route(req, cands, st, costs, exact=True)
    best = _brute_force(exact, req, cands, st, costs)
    assert exact.method in ("exact", "none")
    assert exact.cost_fen == _cost_of(exact, req, st, costs) == best
    fast = route(req, cands, st, costs)
    assert fast.cost_fen == _cost_of(fast, req, st, costs) >= best
    if fast.method != "single":
        assert fast.cost_fen == best
    proven = route(req, cands, st, replace(costs, prove_single=True))
    assert proven.cost_fen == best
    assert sum(u.quantity for u in fast.unfilled) == sum(u.quantity for u in exact.unfilled)


def test_the_solver_is_deterministic() -> None:
    units = {(c.location_id, k): 1 for c in NETWORK for k in (7, 8, 9)}
    req = order((7, 2), (8, 2), (9, 3))
    plans = [route(req, NETWORK, stock(units)) for _ in range(3)]
    assert len({json.dumps([leg.assignments for leg in p.legs], default=repr) for p in plans}) == 1


def test_shortlist_keeps_every_holder_of_a_scarce_sku() -> None:
    # 40 nearby stores hold SKU 7; SKU 8 is held by one unit in each of three far-away suppliers only.
    stores = [Candidate(100 + i, f"S{i}", "store", 31.23 + i * 0.001, 121.47) for i in range(40)]
    far = [Candidate(200 + i, f"F{i}", "supplier", 45.0 + i, 126.0) for i in range(3)]
    units = {(c.location_id, 7): 1 for c in stores} | {(c.location_id, 8): 1 for c in far}
    costs = CostModel(max_candidates=5)
    req = order((7, 3), (8, 3))
    plan = route(req, [*stores, *far], stock(units), costs)
    # The five best by cost per share of the order, plus the third supplier: SKU 8 would be short without it.
    assert "CP-SAT over 6 of 43 eligible locations" in plan.reason
    assert not plan.unfilled
    assert {200, 201, 202} <= {leg.location_id for leg in plan.legs}
    assert plan.cost_fen == route(req, [*stores, *far], stock(units), costs, exact=True).cost_fen


# --- eligibility per mode ----------------------------------------------------------------------


def test_same_city_uses_stores_within_3_km_only() -> None:
    units = {(c.location_id, 7): 1 for c in NETWORK}
    plan = route(order((7, 1), mode="same_city"), NETWORK, stock(units))
    assert [leg.code for leg in plan.legs] == ["S-SH01"]  # the nearest: 800 + 150 fen/km
    assert plan.cost_fen == 800 + 132
    assert plan.legs[0].eta_hours == 1.0
    assert row(plan, 13).excluded is None  # 2.6 km
    assert row(plan, 14).excluded == "beyond_same_city_radius"  # 3.2 km
    assert row(plan, 1).excluded == row(plan, 2).excluded == "not_a_store"


def test_same_city_without_a_store_in_range_leaves_the_order_unfilled() -> None:
    units = {(c.location_id, 7): 5 for c in (DC_WH, RDC_EC, S_SH04)}
    plan = route(order((7, 1), mode="same_city"), NETWORK, stock(units))
    assert plan.method == "none"
    assert plan.unfilled == (RouteLine(1, 7, 1),)


def test_workload_cap_excludes_a_busy_store() -> None:
    busy = Candidate(11, "S-SH01", "store", 31.2366, 121.4795, open_fulfilments=8, workload_cap=8)
    units = {(11, 7): 1, (12, 7): 1}
    plan = route(order((7, 1), mode="same_city"), [busy, S_SH02], stock(units))
    assert [leg.code for leg in plan.legs] == ["S-SH02"]
    assert row(plan, 11).excluded == "over_workload_cap"
    below = Candidate(11, "S-SH01", "store", 31.2366, 121.4795, open_fulfilments=7, workload_cap=8)
    assert [leg.code for leg in route(order((7, 1), mode="same_city"), [below, S_SH02], stock(units)).legs] == [
        "S-SH01"
    ]


def test_a_store_that_does_not_ship_parcels_still_serves_same_city() -> None:
    no_parcels = Candidate(11, "S-SH01", "store", 31.2366, 121.4795, ships_express=False)
    units = {(11, 7): 1, (1, 7): 1}
    express = route(order((7, 1)), [no_parcels, DC_WH], stock(units))
    assert [leg.code for leg in express.legs] == ["DC-WH"]
    assert row(express, 11).excluded == "no_express_from_store"
    same_city = route(order((7, 1), mode="same_city"), [no_parcels, DC_WH], stock(units))
    assert [leg.code for leg in same_city.legs] == ["S-SH01"]


def test_click_and_collect_from_the_pickup_store_costs_nothing() -> None:
    units = {(11, 7): 2, (2, 7): 5}
    plan = route(order((7, 2), mode="click_collect", pickup_location_id=11), NETWORK, stock(units))
    assert plan.cost_fen == 0
    assert [(leg.code, leg.transfer_to_location_id) for leg in plan.legs] == [("S-SH01", None)]
    assert plan.legs[0].eta_hours == DEFAULT_COSTS.handling_hours["store"]


def test_click_and_collect_transfers_what_the_pickup_store_lacks() -> None:
    units = {(11, 7): 1, (2, 7): 5, (11, 8): 1}
    req = order((7, 3), (8, 1), mode="click_collect", pickup_location_id=11)
    plan = route(req, NETWORK, stock(units))
    assert [(leg.code, leg.transfer_to_location_id) for leg in plan.legs] == [("S-SH01", None), ("RDC-EC", 11)]
    transfer = plan.legs[1]
    km = row(plan, 2).distance_km  # Suzhou DC to the pickup store
    assert km is not None
    assert 80 < km < 85
    assert transfer.cost_fen == 500 + round(km)
    assert transfer.eta_hours == pytest.approx(4 + km / 40)
    assert plan.cost_fen == transfer.cost_fen + DEFAULT_COSTS.split_penalty_fen
    assert "RDC-EC by transfer (line 1)" in plan.reason


def test_pos_sells_only_from_the_store_itself() -> None:
    units = {(11, 7): 1, (2, 7): 5}
    plan = route(order((7, 3), mode="pos", pickup_location_id=11), NETWORK, stock(units))
    assert [leg.code for leg in plan.legs] == ["S-SH01"]
    assert plan.cost_fen == 0
    assert plan.unfilled == (RouteLine(1, 7, 2),)
    assert row(plan, 2).excluded == "not_pickup_store"


def test_locations_that_rejected_the_order_are_not_used_again() -> None:
    units = {(2, 7): 1, (11, 7): 1}
    plan = route(order((7, 1), exclude_location_ids=frozenset({2})), NETWORK, stock(units))
    assert [leg.code for leg in plan.legs] == ["S-SH01"]
    assert row(plan, 2).excluded == "excluded_by_request"
    assert row(plan, 2).parcel_cost_fen is None


# --- cost model --------------------------------------------------------------------------------


def test_safety_dip_is_avoided_when_another_store_has_spare_stock() -> None:
    units = {(11, 7): 2, (12, 7): 2}
    safety = {(11, 7): 2}  # the nearest store would go below its own safety stock
    plan = route(order((7, 1), mode="same_city"), NETWORK, stock(units, safety))
    assert [leg.code for leg in plan.legs] == ["S-SH02"]
    assert plan.breakdown["safety_dip_fen"] == 0


def test_safety_dip_is_used_when_it_must_and_costed() -> None:
    units = {(11, 7): 2}
    plan = route(order((7, 2), mode="same_city"), NETWORK, stock(units, {(11, 7): 1}))
    assert [leg.code for leg in plan.legs] == ["S-SH01"]
    assert plan.legs[0].safety_dip_units == 1
    assert plan.breakdown["safety_dip_fen"] == DEFAULT_COSTS.safety_dip_fen_per_unit
    assert plan.cost_fen == 932 + 800
    assert "takes 1 unit below store safety stock" in plan.reason


def test_late_penalty_steers_to_a_faster_location() -> None:
    units = {(2, 7): 1, (11, 7): 1}
    # Without a promise the regional DC (¥8.64, ETA 4 + 82/40 + 2 = 8.1 h) beats the store (¥12.02, 4.0 h).
    assert [leg.code for leg in route(order((7, 1)), NETWORK, stock(units)).legs] == ["RDC-EC"]
    plan = route(order((7, 1), promised_hours=6), NETWORK, stock(units))
    assert [leg.code for leg in plan.legs] == ["S-SH01"]
    assert row(plan, 2).late
    assert not row(plan, 11).late
    # When nobody can make it, the penalty is paid and said.
    late = route(order((7, 1), promised_hours=3), NETWORK, stock(units))
    assert [leg.code for leg in late.legs] == ["RDC-EC"]
    assert late.cost_fen == 864 + DEFAULT_COSTS.late_penalty_fen
    assert "misses the 3.0h promise" in late.reason


def test_fast_path_takes_a_late_single_location_only_when_told_not_to_prove_it() -> None:
    # The regional DC holds both SKUs but misses a 6-hour promise (ETA 8.1 h); two stores hold one each.
    units = {(2, 7): 1, (2, 8): 1, (11, 7): 1, (12, 8): 1}
    req = order((7, 1), (8, 1), promised_hours=6)
    plan = route(req, NETWORK, stock(units), CostModel(prove_single=False))
    assert plan.method == "single"
    assert plan.cost_fen == 864 + 5000
    assert "any split would cost at least ¥39.04" in plan.reason
    proven = route(req, NETWORK, stock(units), CostModel(prove_single=True))
    assert proven.method == "exact"
    assert [leg.code for leg in proven.legs] == ["S-SH01", "S-SH02"]
    assert proven.cost_fen == 1202 + 1202 + 1500
    assert proven.reason.startswith("A split beats the best single location (RDC-EC at ¥58.64)")
    # Without a promise the single location is provably cheapest: no solver.
    assert route(order((7, 1), (8, 1)), NETWORK, stock(units), CostModel(prove_single=True)).method == "single"


def test_zone_fallback_when_coordinates_are_missing() -> None:
    near = Candidate(31, "S-NOGEO", "store", None, None, "上海市", "上海市")
    province = Candidate(32, "DC-JS", "regional_dc", None, None, "江苏省", "南京市", "华东")
    nowhere = Candidate(33, "S-BLANK", "store", None, None)
    units = {(31, 7): 1, (32, 7): 1, (33, 7): 1}
    plan = route(order((7, 1)), [near, province, nowhere], stock(units))
    assert row(plan, 31).distance_km is None
    assert row(plan, 31).parcel_cost_fen == 1200 + 400  # same city
    assert row(plan, 32).parcel_cost_fen == 700 + 1800  # another province; the address has no region
    assert row(plan, 33).excluded == "no_coordinates"
    assert [leg.code for leg in plan.legs] == ["S-NOGEO"]
    assert row(plan, 31).eta_hours == pytest.approx(2 + 15 / 40 + 2)
    # The address without coordinates: the same rule from the other side.
    no_point = route(order((7, 1), latitude=None, longitude=None), [RDC_EC, S_SH01], stock({(2, 7): 1, (11, 7): 1}))
    assert row(no_point, 11).parcel_cost_fen == 1200 + 400
    assert row(no_point, 2).parcel_cost_fen == 700 + 1800


# --- baseline and explanation ------------------------------------------------------------------


def test_route_nearest_takes_each_line_from_the_nearest_stock() -> None:
    units = {(11, 7): 1, (2, 7): 5, (2, 8): 5, (12, 8): 1}
    req = order((7, 1), (8, 1))
    nearest = route_nearest(req, NETWORK, stock(units))
    assert nearest.method == "nearest"
    assert taken(nearest) == {(11, 7): 1, (12, 8): 1}  # two stores, 0.9 and 1.2 km away
    assert nearest.cost_fen == 1202 + 1202 + 1500
    best = route(req, NETWORK, stock(units))
    assert taken(best) == {(2, 7): 1, (2, 8): 1}  # one parcel from the regional DC
    assert best.cost_fen < nearest.cost_fen
    # A line no single location holds is poured across the nearest ones.
    poured = route_nearest(order((7, 4)), NETWORK, stock({(11, 7): 1, (12, 7): 1, (2, 7): 2, (1, 7): 9}))
    assert taken(poured) == {(1, 7): 4}
    split = route_nearest(order((7, 4)), NETWORK, stock({(11, 7): 1, (12, 7): 1, (2, 7): 2}))
    assert taken(split) == {(11, 7): 1, (12, 7): 1, (2, 7): 2}


def test_to_json_is_serialisable_and_explains_every_candidate() -> None:
    units = {(11, 7): 1, (2, 8): 1}
    plan = route(order((7, 1), (8, 1), (9, 1), promised_hours=24), NETWORK, stock(units))
    data = json.loads(json.dumps(plan.to_json(), ensure_ascii=False))
    assert data["method"] == "exact"
    assert data["split"] is True
    assert len(data["candidates"]) == len(NETWORK)
    assert data["unfilled"] == [{"line_no": 3, "sku_id": 9, "quantity": 1}]
    assert sum(leg["cost_fen"] for leg in data["legs"]) + data["breakdown"]["split_penalty_fen"] == data["cost_fen"]
    assert {c["excluded"] for c in data["candidates"]} == {None, "no_stock"}


def test_invalid_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="pickup_location_id"):
        route(order((7, 1), mode="pos"), NETWORK, stock({}))
    with pytest.raises(ValueError, match="at least one line"):
        route(RouteRequest(lines=(), mode="express"), NETWORK, stock({}))
    with pytest.raises(ValueError, match="quantity"):
        route(order((7, 0)), NETWORK, stock({}))
    with pytest.raises(ValueError, match="lacks"):
        CostModel(zone_fen={"national": 1})


def test_cost_model_mappings_are_read_only() -> None:
    costs = CostModel(parcel_base_fen={"central_dc": 1, "regional_dc": 2, "store": 3, "supplier": 4})
    with pytest.raises(TypeError):
        costs.parcel_base_fen["store"] = 0  # type: ignore[index]
