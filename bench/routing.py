"""Order routing: cost against the optimum and against "nearest stock", and decisions per second.

    python bench/routing.py [--orders 2000] [--seed 7] [--skus 300]

Two networks, each with a seeded random stock snapshot and N seeded random orders:

* ``demo``: the demo retailer (``zhongtai.demo.network_data.build_network(seed, "full")``): the
  central and three regional DCs and 35 stores in nine cities (suppliers and the virtual in-transit
  location are left out).
* ``generated_200``: 200 stores clustered around 12 Chinese city centres, one central DC (Wuhan)
  and four regional DCs.

Orders have 1-5 lines (mostly 1-2), SKUs drawn from a Zipf-like popularity over ``--skus`` SKUs,
delivery points scattered around the cities (a tenth in cities without a store), and the mode mix
express 75 % / same-city 15 % / click & collect 10 % with random promises. Like the order service,
each decision gets as candidates the locations holding any ordered SKU, plus the pickup store.
Stock is a snapshot: every order is routed against the same stock (the three routers must see the
same state to be compared).

Per order: ``route()`` (timed: the figure ``decisions_per_s``), ``route(exact=True)`` (CP-SAT over
every eligible location, the optimum) and ``route_nearest()`` (the baseline). Prints the figures and
writes ``bench/results/routing.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zhongtai.demo.network_data import build_network  # noqa: E402
from zhongtai.orders.routing import (  # noqa: E402
    DEFAULT_COSTS,
    Candidate,
    CostModel,
    DeliveryMode,
    Plan,
    RouteLine,
    RouteRequest,
    Stock,
    route,
    route_nearest,
)

RESULTS = ROOT / "bench" / "results" / "routing.json"

# city -> (province, region, latitude, longitude, weight of stores and orders)
CITIES: dict[str, tuple[str, str, float, float, int]] = {
    "上海市": ("上海市", "华东", 31.2304, 121.4737, 26),
    "北京市": ("北京市", "华北", 39.9042, 116.4074, 24),
    "广州市": ("广东省", "华南", 23.1291, 113.2644, 20),
    "深圳市": ("广东省", "华南", 22.5431, 114.0579, 20),
    "杭州市": ("浙江省", "华东", 30.2741, 120.1551, 14),
    "成都市": ("四川省", "西南", 30.5728, 104.0668, 16),
    "重庆市": ("重庆市", "西南", 29.5630, 106.5516, 14),
    "武汉市": ("湖北省", "华中", 30.5928, 114.3055, 14),
    "南京市": ("江苏省", "华东", 32.0603, 118.7969, 14),
    "西安市": ("陕西省", "西北", 34.3416, 108.9398, 12),
    "天津市": ("天津市", "华北", 39.3434, 117.3616, 12),
    "苏州市": ("江苏省", "华东", 31.2989, 120.5853, 14),
}
# Delivery points without a store nearby: express only.
ELSEWHERE: dict[str, tuple[str, str, float, float]] = {
    "郑州市": ("河南省", "华中", 34.7466, 113.6253),
    "长沙市": ("湖南省", "华中", 28.2282, 112.9388),
    "沈阳市": ("辽宁省", "东北", 41.8057, 123.4315),
    "昆明市": ("云南省", "西南", 25.0389, 102.7183),
    "福州市": ("福建省", "华东", 26.0745, 119.2965),
}
GENERATED_DCS = (
    ("DC-WH", "central_dc", "武汉市", 30.6705, 114.1325),
    ("RDC-EC", "regional_dc", "苏州市", 31.4325, 120.6420),
    ("RDC-SC", "regional_dc", "广州市", 23.0580, 113.5900),
    ("RDC-SW", "regional_dc", "成都市", 30.5505, 103.9535),
    ("RDC-NC", "regional_dc", "天津市", 39.2000, 117.1000),
)


@dataclass(slots=True)
class Network:
    name: str
    candidates: list[Candidate]
    stock: Stock
    by_sku: dict[int, set[int]]  # sku -> locations holding it
    cities: dict[str, tuple[str, str, float, float, int]]
    stores_by_city: dict[str, list[Candidate]]


def _jitter(rnd: random.Random, lat: float, lon: float, sigma_km: float) -> tuple[float, float]:
    dlat = rnd.gauss(0, sigma_km) / 111.0
    dlon = rnd.gauss(0, sigma_km) / (111.0 * math.cos(math.radians(lat)))
    return round(lat + dlat, 5), round(lon + dlon, 5)


def _popularity(skus: int) -> list[float]:
    return [1.0 / (k + 1) ** 0.9 for k in range(skus)]


def _workload(rnd: random.Random) -> dict[str, Any]:
    """Stores: a cap of 20 open fulfilments, a few at it; a fifth do not ship parcels."""
    return {"open_fulfilments": rnd.randint(0, 22), "workload_cap": 20, "ships_express": rnd.random() >= 0.2}


def _stock(rnd: random.Random, candidates: Sequence[Candidate], skus: int) -> tuple[Stock, dict[int, set[int]]]:
    """Sparse: a DC holds most of the range (popular SKUs more likely), a store a small part of it."""
    weights = _popularity(skus)
    top = weights[0]
    sellable: dict[tuple[int, int], int] = {}
    safety: dict[tuple[int, int], int] = {}
    by_sku: dict[int, set[int]] = {}
    for c in candidates:
        is_store = c.type == "store"
        for k in range(skus):
            rel = weights[k] / top
            p = 0.02 + 0.30 * rel**0.5 if is_store else 0.30 + 0.45 * rel**0.3
            if rnd.random() >= p:
                continue
            units = rnd.choice((1, 1, 2, 2, 3, 4)) if is_store else rnd.randint(1, 40)
            sellable[c.location_id, k] = units
            by_sku.setdefault(k, set()).add(c.location_id)
            if is_store and rnd.random() < 0.5:
                safety[c.location_id, k] = 1
    return Stock(sellable=sellable, store_safety=safety), by_sku


def demo_network(seed: int, skus: int) -> Network:
    rnd = random.Random(f"bench-routing-demo-{seed}")
    plan = build_network(seed, "full")
    candidates: list[Candidate] = []
    stores_by_city: dict[str, list[Candidate]] = {}
    for n, loc in enumerate(plan.locations, start=1):
        if loc.type in ("in_transit", "supplier"):
            continue
        extra = _workload(rnd) if loc.type == "store" else {}
        c = Candidate(n, loc.code, loc.type, loc.latitude, loc.longitude, loc.province, loc.city, loc.region, **extra)
        candidates.append(c)
        if loc.type == "store":
            stores_by_city.setdefault(loc.city, []).append(c)
    cities = {}
    for city, stores in stores_by_city.items():
        lat = statistics.fmean(s.latitude for s in stores if s.latitude is not None)
        lon = statistics.fmean(s.longitude for s in stores if s.longitude is not None)
        cities[city] = (stores[0].province, stores[0].region, lat, lon, 2 + len(stores))
    stock, by_sku = _stock(rnd, candidates, skus)
    return Network("demo", candidates, stock, by_sku, cities, stores_by_city)


def generated_network(seed: int, skus: int, stores: int) -> Network:
    rnd = random.Random(f"bench-routing-generated-{seed}")
    candidates: list[Candidate] = []
    for n, (code, kind, city, lat, lon) in enumerate(GENERATED_DCS, start=1):
        province, region, *_ = CITIES[city]
        candidates.append(Candidate(n, code, kind, lat, lon, province, city, region))
    names = list(CITIES)
    weights = [CITIES[c][4] for c in names]
    stores_by_city: dict[str, list[Candidate]] = {}
    for i in range(stores):
        city = rnd.choices(names, weights)[0]
        province, region, lat, lon, _ = CITIES[city]
        slat, slon = _jitter(rnd, lat, lon, 7.0)
        c = Candidate(100 + i, f"S{i:03d}", "store", slat, slon, province, city, region, **_workload(rnd))
        candidates.append(c)
        stores_by_city.setdefault(city, []).append(c)
    stock, by_sku = _stock(rnd, candidates, skus)
    return Network(f"generated_{stores}", candidates, stock, by_sku, dict(CITIES), stores_by_city)


def make_orders(rnd: random.Random, net: Network, n: int, skus: int) -> list[RouteRequest]:
    popularity = _popularity(skus)
    names = list(net.cities)
    weights = [net.cities[c][4] for c in names]
    orders = []
    for _ in range(n):
        mode: DeliveryMode = rnd.choices(("express", "same_city", "click_collect"), (75, 15, 10))[0]
        if mode == "express" and rnd.random() < 0.1:
            city = rnd.choice(list(ELSEWHERE))
            province, _, lat, lon = ELSEWHERE[city]
        else:
            city = rnd.choices(names, weights)[0]
            province, _, lat, lon, _ = net.cities[city]
        lat, lon = _jitter(rnd, lat, lon, 5.0)
        count = rnd.choices((1, 2, 3, 4, 5), (50, 25, 12, 8, 5))[0]
        chosen: list[int] = []
        while len(chosen) < count:
            k = rnd.choices(range(skus), popularity)[0]
            if k not in chosen:
                chosen.append(k)
        lines = tuple(RouteLine(i, k, rnd.choices((1, 2, 3), (80, 15, 5))[0]) for i, k in enumerate(chosen, 1))
        pickup = None
        promised: float | None
        if mode == "express":
            promised = rnd.choice((None, None, 12.0, 24.0, 24.0, 48.0))
        elif mode == "same_city":
            promised = 1.0
        else:
            stores = net.stores_by_city.get(city, [])
            pickup = min(stores, key=lambda s: (s.latitude - lat) ** 2 + (s.longitude - lon) ** 2).location_id  # type: ignore[operator]
            promised = rnd.choice((None, 4.0, 24.0))
        orders.append(
            RouteRequest(
                lines=lines,
                mode=mode,
                latitude=lat,
                longitude=lon,
                province=province,
                city=city,
                pickup_location_id=pickup,
                promised_hours=promised,
            )
        )
    return orders


def candidates_for(net: Network, request: RouteRequest, by_id: dict[int, Candidate]) -> list[Candidate]:
    """What the order service passes: the locations holding any ordered SKU, plus the pickup store."""
    ids: set[int] = set()
    for line in request.lines:
        ids |= net.by_sku.get(line.sku_id, set())
    if request.pickup_location_id is not None:
        ids.add(request.pickup_location_id)
    return [by_id[i] for i in sorted(ids)]


def _pct(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


@dataclass(slots=True)
class Outcome:
    fast: Plan  # route(): the figures
    exact: Plan
    nearest: Plan
    seconds: float  # route() wall time
    candidates: int
    proven: Plan | None = None  # route() with CostModel(prove_single=False): the unproven fast path
    proven_seconds: float = 0.0
    cpu_seconds: float = 0.0  # route() CPU time of this thread: robust to other load on the machine
    proven_cpu_seconds: float = 0.0

    def with_proven(self) -> Outcome:
        assert self.proven is not None
        return Outcome(
            self.proven,
            self.exact,
            self.nearest,
            self.proven_seconds,
            self.candidates,
            None,
            0.0,
            self.proven_cpu_seconds,
        )


def run_network(net: Network, orders: list[RouteRequest], costs: CostModel) -> list[Outcome]:
    proving = replace(costs, prove_single=False)
    by_id = {c.location_id: c for c in net.candidates}
    inputs = [(o, candidates_for(net, o, by_id)) for o in orders]
    for o, cands in inputs[:20]:  # warm-up: imports, first CP-SAT call
        route(o, cands, net.stock, costs)
    outcomes = []
    clock, cpu = time.perf_counter, time.thread_time
    for o, cands in inputs:
        c0, t0 = cpu(), clock()
        fast = route(o, cands, net.stock, costs)
        seconds, cpu_seconds = clock() - t0, cpu() - c0
        exact = route(o, cands, net.stock, costs, exact=True)
        nearest = route_nearest(o, cands, net.stock, costs)
        c0, t0 = cpu(), clock()
        proven = route(o, cands, net.stock, proving)
        proven_seconds, proven_cpu = clock() - t0, cpu() - c0
        outcomes.append(
            Outcome(fast, exact, nearest, seconds, len(cands), proven, proven_seconds, cpu_seconds, proven_cpu)
        )
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict[str, Any]:
    gaps: list[float] = []
    savings: list[float] = []
    cost_route = cost_exact = 0
    both_filled = 0
    optimal = 0
    zero_cost = 0
    below_optimum = 0
    solver_orders = solver_suboptimal = late_singles = 0
    for o in outcomes:
        if o.fast.method in ("exact", "feasible"):
            solver_orders += 1
            solver_suboptimal += o.fast.cost_fen > o.exact.cost_fen and not o.exact.unfilled
        elif o.fast.method == "single" and o.fast.cost_fen > o.exact.cost_fen and not o.exact.unfilled:
            late_singles += o.fast.breakdown["late_penalty_fen"] > 0
        if not o.fast.unfilled and not o.exact.unfilled:
            both_filled += 1
            cost_route += o.fast.cost_fen
            cost_exact += o.exact.cost_fen
            optimal += o.fast.cost_fen == o.exact.cost_fen
            below_optimum += o.fast.cost_fen < o.exact.cost_fen and o.exact.method == "exact"
            if o.exact.cost_fen > 0:
                gaps.append((o.fast.cost_fen - o.exact.cost_fen) / o.exact.cost_fen * 100)
            else:
                zero_cost += 1
        if not o.fast.unfilled and not o.nearest.unfilled and o.nearest.cost_fen > 0:
            savings.append((o.nearest.cost_fen - o.fast.cost_fen) / o.nearest.cost_fen * 100)
    n = len(outcomes)
    routed = [o for o in outcomes if o.fast.legs]
    times = sorted(o.seconds for o in outcomes)
    fast_times = sorted(o.seconds for o in outcomes if o.fast.method == "single")
    solver_times = sorted(o.seconds for o in outcomes if o.fast.method in ("exact", "feasible"))
    total_s = sum(times)
    cpu_times = sorted(o.cpu_seconds for o in outcomes)
    cpu_s = sum(cpu_times)
    routed_nearest_cost = sum(o.nearest.cost_fen for o in outcomes if not o.fast.unfilled and not o.nearest.unfilled)
    routed_cost = sum(o.fast.cost_fen for o in outcomes if not o.fast.unfilled and not o.nearest.unfilled)
    return {
        "gap_to_optimal_pct": _pct(gaps),
        "saving_vs_nearest_pct": _pct(savings),
        "split_rate": round(sum(o.fast.split for o in routed) / len(routed), 4) if routed else None,
        "decisions_per_s": round(n / total_s, 1) if total_s else None,
        "fast_path_share": round(sum(o.fast.method == "single" for o in outcomes) / n, 4),
        "p50_ms": round((_quantile(times, 0.5) or 0) * 1000, 3),
        "p99_ms": round((_quantile(times, 0.99) or 0) * 1000, 3),
        "detail": {
            "orders": n,
            "fully_filled_by_route_and_exact": both_filled,
            "optimal_share": round(optimal / both_filled, 4) if both_filled else None,
            "zero_cost_orders": zero_cost,
            "route_below_exact_orders": below_optimum,  # must be 0: exact is the optimum
            "suboptimal_single_orders": sum(
                o.fast.method == "single" and o.fast.cost_fen > o.exact.cost_fen and not o.exact.unfilled
                for o in outcomes
            ),
            "suboptimal_single_orders_late": late_singles,  # of which the single location missed the promise
            "solver_orders": solver_orders,
            "solver_orders_above_exact": solver_suboptimal,  # what the shortlist (or time limit) lost
            "aggregate_gap_pct": round((cost_route - cost_exact) / cost_exact * 100, 3) if cost_exact else None,
            "aggregate_saving_vs_nearest_pct": round((routed_nearest_cost - routed_cost) / routed_nearest_cost * 100, 3)
            if routed_nearest_cost
            else None,
            "nearest_split_rate": round(
                sum(o.nearest.split for o in outcomes if o.nearest.legs)
                / max(1, sum(1 for o in outcomes if o.nearest.legs)),
                4,
            ),
            "orders_with_unfilled_lines": sum(bool(o.fast.unfilled) for o in outcomes),
            "methods": dict(Counter(o.fast.method for o in outcomes)),
            "exact_methods": dict(Counter(o.exact.method for o in outcomes)),
            "fast_path_p50_ms": round((_quantile(fast_times, 0.5) or 0) * 1000, 3),
            "fast_path_p99_ms": round((_quantile(fast_times, 0.99) or 0) * 1000, 3),
            "solver_p50_ms": round((_quantile(solver_times, 0.5) or 0) * 1000, 3),
            "solver_p99_ms": round((_quantile(solver_times, 0.99) or 0) * 1000, 3),
            "mean_candidates": round(statistics.fmean(o.candidates for o in outcomes), 1),
            "route_seconds": round(total_s, 3),
            "route_cpu_seconds": round(cpu_s, 3),
            "decisions_per_cpu_s": round(n / cpu_s, 1) if cpu_s else None,
            "cpu_p50_ms": round((_quantile(cpu_times, 0.5) or 0) * 1000, 3),
            "cpu_p99_ms": round((_quantile(cpu_times, 0.99) or 0) * 1000, 3),
        },
    }


def _plain(value: object) -> object:
    return dict(value) if isinstance(value, Mapping) else value


def _line(name: str, f: dict[str, Any]) -> str:
    return (
        f"{name:>14}: gap to optimal {f['gap_to_optimal_pct']}%, saving vs nearest {f['saving_vs_nearest_pct']}%, "
        f"split rate {f['split_rate']}, {f['decisions_per_s']} decisions/s, fast path {f['fast_path_share']}, "
        f"p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms (CPU: {f['detail']['decisions_per_cpu_s']}/s,"
        f" p50 {f['detail']['cpu_p50_ms']} ms, p99 {f['detail']['cpu_p99_ms']} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000, help="orders per network")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skus", type=int, default=300)
    parser.add_argument("--stores", type=int, default=200, help="stores of the generated network")
    args = parser.parse_args()
    costs = DEFAULT_COSTS
    load_before = round(os.getloadavg()[0], 2)

    networks = [demo_network(args.seed, args.skus), generated_network(args.seed, args.skus, args.stores)]
    per_network: dict[str, Any] = {}
    pooled: list[Outcome] = []
    for net in networks:
        rnd = random.Random(f"bench-routing-orders-{net.name}-{args.seed}")
        orders = make_orders(rnd, net, args.orders, args.skus)
        t0 = time.monotonic()
        outcomes = run_network(net, orders, costs)
        figures = summarise(outcomes)
        figures["detail"]["locations"] = len(net.candidates)
        figures["detail"]["stores"] = sum(c.type == "store" for c in net.candidates)
        figures["detail"]["stock_rows"] = len(net.stock.sellable)
        figures["detail"]["modes"] = dict(Counter(o.mode for o in orders))
        proven = summarise([o.with_proven() for o in outcomes])
        figures["prove_single_off"] = {k: v for k, v in proven.items() if k != "detail"} | {
            "methods": proven["detail"]["methods"],
            "optimal_share": proven["detail"]["optimal_share"],
        }
        per_network[net.name] = figures
        pooled.extend(outcomes)
        print(_line(net.name, figures) + f"  [{time.monotonic() - t0:.1f}s with exact and nearest]")
    overall = summarise(pooled)
    print(_line("overall", overall))
    proven_all = summarise([o.with_proven() for o in pooled])
    print(_line("prove_single=False", proven_all) + f" (methods {proven_all['detail']['methods']})")
    d = overall["detail"]
    print(
        f"methods {d['methods']}, optimal share {d['optimal_share']},"
        f" route below exact {d['route_below_exact_orders']},"
        f" fast path p50/p99 {d['fast_path_p50_ms']}/{d['fast_path_p99_ms']} ms,"
        f" solver p50/p99 {d['solver_p50_ms']}/{d['solver_p99_ms']} ms"
    )
    result = {
        "figures": {
            "gap_to_optimal_pct": overall["gap_to_optimal_pct"],
            "saving_vs_nearest_pct": overall["saving_vs_nearest_pct"],
            "split_rate": overall["split_rate"],
            "decisions_per_s": overall["decisions_per_s"],
            "fast_path_share": overall["fast_path_share"],
            "p50_ms": overall["p50_ms"],
            "p99_ms": overall["p99_ms"],
        },
        "networks": per_network,
        "overall_detail": overall["detail"],
        # The same orders with CostModel(prove_single=False): the fast path whenever one location fills all.
        "prove_single_off": {k: v for k, v in proven_all.items() if k != "detail"}
        | {"methods": proven_all["detail"]["methods"], "optimal_share": proven_all["detail"]["optimal_share"]},
        "orders": args.orders,
        "seed": args.seed,
        "params": {
            "skus": args.skus,
            "generated_stores": args.stores,
            "lines_per_order": "1-5 (50/25/12/8/5 %)",
            "modes": "express 75 %, same_city 15 %, click_collect 10 %",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m_before": load_before,
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        },
        "costs": {f.name: _plain(getattr(costs, f.name)) for f in fields(costs)},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
