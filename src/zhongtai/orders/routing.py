"""Order routing: which stock locations fulfil an order, at the lowest total cost.

Pure: plain dataclasses in, a :class:`Plan` out. No database, no web framework; the order
service loads candidates and stock, calls :func:`route` and stores ``Plan.to_json()`` with its
decision. Every amount is an integer number of fen, so the solver works on exact integers.

The method (see ``docs/routing.md``):

1. Each candidate is assessed for the delivery mode: eligible or excluded with a machine reason;
   if eligible, the cost and ETA of one leg (parcel, rider trip or transfer) leaving from it.
2. Fast path: when eligible locations can fill the whole order alone, the cheapest one wins and
   no solver is called (method ``"single"``) when it also beats a lower bound on every split, so
   that it is provably optimal (``CostModel(prove_single=False)`` skips that check).
3. Otherwise a CP-SAT model (fixed-charge transportation problem) over a shortlist of the
   candidates finds the cheapest split (method ``"exact"``, or ``"feasible"`` if the time limit
   stopped it first). Whatever no eligible location holds is reported as ``unfilled``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from ortools.sat.python import cp_model

from zhongtai.inventory.geo import haversine_km

DeliveryMode = Literal["express", "same_city", "click_collect", "pos"]
MODES: tuple[str, ...] = ("express", "same_city", "click_collect", "pos")
LOCATION_TYPES: tuple[str, ...] = ("central_dc", "regional_dc", "store", "supplier")
ZONES: tuple[str, ...] = ("same_city", "same_province", "same_region", "national")
LAST_MILE_HOURS = 2.0  # express: courier delivery after the line haul
SAME_CITY_ETA_HOURS = 1.0  # same-city riders promise one hour

V = TypeVar("V")


def _frozen(values: Mapping[str, V]) -> Mapping[str, V]:
    return MappingProxyType(dict(values))


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stock location that might fulfil."""

    location_id: int
    code: str
    type: str  # "central_dc" | "regional_dc" | "store" | "supplier"
    latitude: float | None
    longitude: float | None
    province: str = ""
    city: str = ""
    region: str = ""
    open_fulfilments: int = 0  # current workload (open fulfilments assigned to it)
    workload_cap: int | None = None  # refuses new work at or above this; None = no cap
    ships_express: bool = True  # False: this store does not ship parcels (ship-from-store off)


@dataclass(frozen=True, slots=True)
class RouteLine:
    line_no: int
    sku_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class RouteRequest:
    lines: tuple[RouteLine, ...]
    mode: DeliveryMode
    latitude: float | None = None  # delivery point (express / same_city)
    longitude: float | None = None
    province: str = ""
    city: str = ""
    pickup_location_id: int | None = None  # click_collect: the store; pos: the selling store
    promised_hours: float | None = None  # hours from now the channel promised; None = no promise
    exclude_location_ids: frozenset[int] = frozenset()  # re-route: locations that rejected the order


@dataclass(frozen=True, slots=True)
class CostModel:
    """Every amount in fen. The defaults are documented in ``docs/routing.md``."""

    # Parcel (express) base fee by location type: a store costs more to ship from (staff pick and
    # pack between customers, a courier pick-up for a handful of parcels).
    parcel_base_fen: Mapping[str, int] = field(
        default_factory=lambda: _frozen({"central_dc": 600, "regional_dc": 700, "store": 1200, "supplier": 900})
    )
    per_km_fen: int = 2  # per parcel per km of great-circle distance (express)
    # Replaces the per-km part when either side has no coordinates.
    zone_fen: Mapping[str, int] = field(
        default_factory=lambda: _frozen({"same_city": 400, "same_province": 800, "same_region": 1200, "national": 1800})
    )
    split_penalty_fen: int = 1500  # for every leg beyond the first
    late_penalty_fen: int = 5000  # for every leg whose ETA misses promised_hours
    safety_dip_fen_per_unit: int = 800  # per unit taken from a store below its own safety stock
    same_city_radius_km: float = 3.0
    same_city_base_fen: int = 800  # rider fee per store trip ...
    same_city_per_km_fen: int = 150  # ... plus this per km
    transfer_base_fen: int = 500  # click & collect from another location: transfer to the pickup store
    transfer_per_km_fen: int = 1
    handling_hours: Mapping[str, float] = field(
        default_factory=lambda: _frozen({"central_dc": 6.0, "regional_dc": 4.0, "store": 2.0, "supplier": 24.0})
    )
    speed_km_per_h: float = 40.0  # line haul; express ETA = handling + km / speed + 2 h last mile
    max_candidates: int = 25  # shortlist size given to the solver (exact=False)
    time_limit_s: float = 2.0
    # Nominal distance when coordinates are missing (ETA, transfer cost, nearest-first order).
    zone_km: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {"same_city": 15.0, "same_province": 200.0, "same_region": 600.0, "national": 1200.0}
        )
    )
    # True (the default): the cheapest location that fills the whole order is taken without the
    # solver only when it also costs no more than the cheapest conceivable split (the two cheapest
    # legs + split penalty), i.e. when it is provably optimal; else CP-SAT decides. False: always
    # take it (faster, ~4 % dearer on the benchmark, mostly single locations that miss the promise).
    prove_single: bool = True

    def __post_init__(self) -> None:
        for name, keys in (
            ("parcel_base_fen", LOCATION_TYPES),
            ("handling_hours", LOCATION_TYPES),
            ("zone_fen", ZONES),
            ("zone_km", ZONES),
        ):
            values = dict(getattr(self, name))
            missing = [k for k in keys if k not in values]
            if missing:
                raise ValueError(f"CostModel.{name} lacks {', '.join(missing)}")
            if any(v < 0 for v in values.values()):
                raise ValueError(f"CostModel.{name} must not be negative")
            object.__setattr__(self, name, MappingProxyType(values))
        amounts = (
            self.per_km_fen,
            self.split_penalty_fen,
            self.late_penalty_fen,
            self.safety_dip_fen_per_unit,
            self.same_city_base_fen,
            self.same_city_per_km_fen,
            self.transfer_base_fen,
            self.transfer_per_km_fen,
        )
        if any(a < 0 for a in amounts):
            raise ValueError("CostModel amounts must not be negative")
        if self.speed_km_per_h <= 0 or self.time_limit_s <= 0 or self.max_candidates < 1:
            raise ValueError("speed_km_per_h and time_limit_s must be positive, max_candidates at least 1")


DEFAULT_COSTS = CostModel()


@dataclass(frozen=True, slots=True)
class Stock:
    """What the router may take."""

    # (location_id, sku_id) -> units the channel may sell (already net of channel safety stock)
    sellable: Mapping[tuple[int, int], int]
    # (location_id, sku_id) -> the store's own safety stock; soft: dipping below it is costed
    store_safety: Mapping[tuple[int, int], int] = field(default_factory=lambda: MappingProxyType({}))


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CandidateCost:
    """One row of the explanation table."""

    location_id: int
    code: str
    type: str
    distance_km: float | None  # to the delivery point (click & collect: to the pickup store)
    parcel_cost_fen: int | None  # cost of one leg leaving from here (None when excluded)
    eta_hours: float | None
    fills_lines: tuple[int, ...]  # line_nos it can fill completely
    # None, or "excluded_by_request", "unsupported_type", "not_pickup_store", "not_a_store",
    # "no_express_from_store", "no_coordinates", "beyond_same_city_radius", "over_workload_cap",
    # "no_stock"
    excluded: str | None
    late: bool = False  # its ETA misses the promise


@dataclass(frozen=True, slots=True)
class Assignment:
    line_no: int
    sku_id: int
    location_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Leg:
    """One parcel / rider trip / transfer / hand-over: what leaves one location."""

    location_id: int
    code: str
    assignments: tuple[Assignment, ...]
    cost_fen: int  # the leg's own cost (parcel, rider, transfer); penalties are in Plan.breakdown
    eta_hours: float
    transfer_to_location_id: int | None = None  # click & collect from elsewhere: via the pickup store
    late: bool = False
    safety_dip_units: int = 0  # units taken below the store's own safety stock


def _empty_breakdown() -> Mapping[str, int]:
    return MappingProxyType({"legs_fen": 0, "split_penalty_fen": 0, "late_penalty_fen": 0, "safety_dip_fen": 0})


@dataclass(frozen=True, slots=True)
class Plan:
    legs: tuple[Leg, ...]
    cost_fen: int  # legs + split, late and safety-dip penalties (see breakdown)
    method: str  # "single", "exact", "feasible", "none" (route_nearest: "nearest")
    unfilled: tuple[RouteLine, ...]  # lines with the quantity nothing eligible can fill
    candidates: tuple[CandidateCost, ...]
    reason: str
    solve_ms: float  # wall time of the whole decision
    breakdown: Mapping[str, int] = field(default_factory=_empty_breakdown)

    @property
    def split(self) -> bool:
        return len(self.legs) > 1

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable explanation, to store with the decision."""
        return {
            "method": self.method,
            "cost_fen": self.cost_fen,
            "split": self.split,
            "reason": self.reason,
            "solve_ms": round(self.solve_ms, 3),
            "breakdown": dict(self.breakdown),
            "legs": [
                {
                    "location_id": leg.location_id,
                    "code": leg.code,
                    "transfer_to_location_id": leg.transfer_to_location_id,
                    "cost_fen": leg.cost_fen,
                    "eta_hours": round(leg.eta_hours, 2),
                    "late": leg.late,
                    "safety_dip_units": leg.safety_dip_units,
                    "assignments": [
                        {"line_no": a.line_no, "sku_id": a.sku_id, "quantity": a.quantity} for a in leg.assignments
                    ],
                }
                for leg in self.legs
            ],
            "unfilled": [{"line_no": u.line_no, "sku_id": u.sku_id, "quantity": u.quantity} for u in self.unfilled],
            "candidates": [
                {
                    "location_id": c.location_id,
                    "code": c.code,
                    "type": c.type,
                    "distance_km": None if c.distance_km is None else round(c.distance_km, 2),
                    "parcel_cost_fen": c.parcel_cost_fen,
                    "eta_hours": None if c.eta_hours is None else round(c.eta_hours, 2),
                    "late": c.late,
                    "fills_lines": list(c.fills_lines),
                    "excluded": c.excluded,
                }
                for c in self.candidates
            ],
        }


# ---------------------------------------------------------------------------------------------
# Assessment of the candidates
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Site:
    """An eligible candidate holding stock of at least one ordered SKU."""

    index: int  # position in the candidates given: the deterministic tie-break
    cand: Candidate
    cost_fen: int  # one leg from here
    eta_hours: float
    late: bool
    fixed_fen: int  # cost_fen + late penalty: what using this location costs before dips
    km: float  # distance, or the zone's nominal distance (nearest-first order)
    transfer_to: int | None
    avail: dict[int, int]  # sku -> units it may give (> 0 only)
    free: dict[int, int]  # sku -> units it gives before dipping below its own safety stock


@dataclass(slots=True)
class _Order:
    lines: tuple[RouteLine, ...]
    demand: dict[int, int]  # sku -> units ordered, in order of first appearance


def _round(x: float) -> int:
    return math.floor(x + 0.5)


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _hours(h: float) -> str:
    return f"{h:.1f}h"


def _zone(city: str, province: str, region: str, ref_city: str, ref_province: str, ref_region: str) -> str:
    if city and city == ref_city and (not province or not ref_province or province == ref_province):
        return "same_city"
    if province and province == ref_province:
        return "same_province"
    if region and region == ref_region:
        return "same_region"
    return "national"


def _order(request: RouteRequest) -> _Order:
    if request.mode not in MODES:
        raise ValueError(f"unknown delivery mode {request.mode!r}")
    if not request.lines:
        raise ValueError("an order to route needs at least one line")
    if request.mode in ("click_collect", "pos") and request.pickup_location_id is None:
        raise ValueError(f"{request.mode} needs pickup_location_id")
    seen: set[int] = set()
    demand: dict[int, int] = {}
    for line in request.lines:
        if line.line_no in seen:
            raise ValueError(f"line_no {line.line_no} appears twice")
        if line.quantity < 1:
            raise ValueError(f"line {line.line_no}: quantity must be at least 1")
        seen.add(line.line_no)
        demand[line.sku_id] = demand.get(line.sku_id, 0) + line.quantity
    return _Order(request.lines, demand)


def _assess(
    request: RouteRequest, order: _Order, candidates: Sequence[Candidate], stock: Stock, costs: CostModel
) -> tuple[tuple[CandidateCost, ...], list[_Site]]:
    """One explanation row per candidate; a site for each eligible one holding an ordered SKU.

    Checks run cheapest first, so the reason given is the first that applies: the request's
    exclusions, the location type and mode rules, the workload cap, stock, then geography.
    """
    mode = request.mode
    pickup_id = request.pickup_location_id if mode in ("click_collect", "pos") else None
    # The reference point: the delivery address, or for click & collect the pickup store.
    ref_lat, ref_lon = request.latitude, request.longitude
    ref_city, ref_province, ref_region = request.city, request.province, ""
    if mode == "click_collect":
        pickup = next((c for c in candidates if c.location_id == pickup_id), None)
        if pickup is not None:
            if pickup.latitude is not None and pickup.longitude is not None:
                ref_lat, ref_lon = pickup.latitude, pickup.longitude
            ref_city, ref_province, ref_region = pickup.city, pickup.province, pickup.region
    promised = request.promised_hours
    sellable, safety = stock.sellable, stock.store_safety
    skus = tuple(order.demand)
    lines = tuple((line.line_no, line.sku_id, line.quantity) for line in order.lines)
    excluded_ids = request.exclude_location_ids
    handling, radius = costs.handling_hours, costs.same_city_radius_km
    late_fen = costs.late_penalty_fen
    dips_allowed = mode != "pos"

    rows: list[CandidateCost] = []
    sites: list[_Site] = []
    for index, c in enumerate(candidates):
        lid = c.location_id
        held: dict[int, int] = {}
        for sku in skus:
            units = sellable.get((lid, sku), 0)
            if units > 0:
                held[sku] = units
        fills = tuple(no for no, sku, qty in lines if held.get(sku, 0) >= qty)
        is_pickup = lid == pickup_id
        excluded: str | None = None
        distance: float | None = None
        cost = 0
        eta = 0.0
        km = 0.0
        if lid in excluded_ids:
            excluded = "excluded_by_request"
        elif c.type not in LOCATION_TYPES:
            excluded = "unsupported_type"
        elif mode == "pos" and not is_pickup:
            excluded = "not_pickup_store"
        elif mode == "same_city" and c.type != "store":
            excluded = "not_a_store"
        elif mode == "express" and c.type == "store" and not c.ships_express:
            excluded = "no_express_from_store"
        elif not is_pickup and c.workload_cap is not None and c.open_fulfilments >= c.workload_cap:
            excluded = "over_workload_cap"
        elif not held:
            excluded = "no_stock"
        elif is_pickup:
            distance = 0.0
            eta = 0.0 if mode == "pos" else handling[c.type]
        else:
            if c.latitude is not None and c.longitude is not None and ref_lat is not None and ref_lon is not None:
                distance = km = haversine_km(ref_lat, ref_lon, c.latitude, c.longitude)
            if mode == "same_city":
                if distance is None:
                    excluded = "no_coordinates"
                elif distance > radius:
                    excluded = "beyond_same_city_radius"
                else:
                    cost = costs.same_city_base_fen + _round(distance * costs.same_city_per_km_fen)
                    eta = SAME_CITY_ETA_HOURS
            else:  # an express parcel, or a click & collect transfer to the pickup store
                zone: str | None = None
                if distance is None:
                    if c.city or c.province or c.region:
                        zone = _zone(c.city, c.province, c.region, ref_city, ref_province, ref_region)
                        km = costs.zone_km[zone]
                    else:
                        excluded = "no_coordinates"
                if excluded is None:
                    haul = handling[c.type] + km / costs.speed_km_per_h
                    if mode == "express":
                        km_fen = costs.zone_fen[zone] if zone else _round(km * costs.per_km_fen)
                        cost = costs.parcel_base_fen[c.type] + km_fen
                        eta = haul + LAST_MILE_HOURS
                    else:
                        cost = costs.transfer_base_fen + _round(km * costs.transfer_per_km_fen)
                        eta = haul
        late = False
        if excluded is None:
            late = promised is not None and eta > promised + 1e-9
            free = held
            if dips_allowed and c.type == "store":
                free = {sku: max(0, units - safety.get((lid, sku), 0)) for sku, units in held.items()}
            sites.append(
                _Site(
                    index=index,
                    cand=c,
                    cost_fen=cost,
                    eta_hours=eta,
                    late=late,
                    fixed_fen=cost + late_fen if late else cost,
                    km=km,
                    transfer_to=pickup_id if mode == "click_collect" and not is_pickup else None,
                    avail=held,
                    free=free,
                )
            )
        rows.append(
            CandidateCost(
                location_id=lid,
                code=c.code,
                type=c.type,
                distance_km=distance,
                parcel_cost_fen=None if excluded else cost,
                eta_hours=None if excluded else eta,
                fills_lines=fills,
                excluded=excluded,
                late=late,
            )
        )
    return tuple(rows), sites


# ---------------------------------------------------------------------------------------------
# Building a plan from an allocation
# ---------------------------------------------------------------------------------------------

Allocation = dict[int, dict[int, int]]  # site index -> sku -> units


@dataclass(slots=True)
class _Built:
    legs: tuple[Leg, ...]
    unfilled: tuple[RouteLine, ...]
    breakdown: dict[str, int]
    cost_fen: int


def _dip_units(site: _Site, sku: int, units: int) -> int:
    return max(0, units - site.free.get(sku, units))


def _single_cost(site: _Site, order: _Order, costs: CostModel) -> int:
    dip = sum(_dip_units(site, sku, min(d, site.avail.get(sku, 0))) for sku, d in order.demand.items())
    return site.fixed_fen + dip * costs.safety_dip_fen_per_unit


def _build(order: _Order, sites: Mapping[int, _Site], alloc: Allocation, costs: CostModel) -> _Built:
    used = [(sites[i], {k: q for k, q in per.items() if q > 0}) for i, per in alloc.items()]
    used = [(s, per) for s, per in used if per]
    used.sort(key=lambda u: (u[0].transfer_to is not None, u[0].cost_fen, u[0].eta_hours, u[0].index))
    # Pour each SKU's units into its lines, in line order, from the legs in order.
    remaining = {line.line_no: line.quantity for line in order.lines}
    per_leg: list[list[Assignment]] = [[] for _ in used]
    for n, (site, per) in enumerate(used):
        for sku, units in per.items():
            for line in order.lines:
                if units == 0:
                    break
                if line.sku_id != sku or remaining[line.line_no] == 0:
                    continue
                q = min(units, remaining[line.line_no])
                remaining[line.line_no] -= q
                units -= q
                per_leg[n].append(Assignment(line.line_no, sku, site.cand.location_id, q))
            if units:
                raise AssertionError(f"{site.cand.code} allocated more of SKU {sku} than ordered")
    legs: list[Leg] = []
    dip_total = 0
    late_legs = 0
    for (site, per), assignments in zip(used, per_leg, strict=True):
        dip = sum(_dip_units(site, sku, q) for sku, q in per.items())
        dip_total += dip
        late_legs += site.late
        legs.append(
            Leg(
                location_id=site.cand.location_id,
                code=site.cand.code,
                assignments=tuple(sorted(assignments, key=lambda a: a.line_no)),
                cost_fen=site.cost_fen,
                eta_hours=site.eta_hours,
                transfer_to_location_id=site.transfer_to,
                late=site.late,
                safety_dip_units=dip,
            )
        )
    breakdown = {
        "legs_fen": sum(leg.cost_fen for leg in legs),
        "split_penalty_fen": costs.split_penalty_fen * max(0, len(legs) - 1),
        "late_penalty_fen": costs.late_penalty_fen * late_legs,
        "safety_dip_fen": costs.safety_dip_fen_per_unit * dip_total,
    }
    unfilled = tuple(
        RouteLine(line.line_no, line.sku_id, remaining[line.line_no])
        for line in order.lines
        if remaining[line.line_no] > 0
    )
    return _Built(tuple(legs), unfilled, breakdown, sum(breakdown.values()))


def _describe(legs: Sequence[Leg]) -> str:
    parts = []
    for leg in legs:
        nos = sorted({a.line_no for a in leg.assignments})
        label = f"line{'s' if len(nos) > 1 else ''} {', '.join(map(str, nos))}"
        via = " by transfer" if leg.transfer_to_location_id is not None else ""
        parts.append(f"{leg.code}{via} ({label})")
    return " + ".join(parts)


def _how(site: _Site, rows: Sequence[CandidateCost], request: RouteRequest) -> str:
    """Click & collect and POS: from the store's own shelves, or by transfer to the pickup store."""
    if site.transfer_to is None:
        return " from its own shelves" if site.cand.location_id == request.pickup_location_id else ""
    code = next((r.code for r in rows if r.location_id == site.transfer_to), f"location {site.transfer_to}")
    return f" by transfer to {code}"


def _tail(built: _Built, promised: float | None) -> str:
    notes = []
    late = [leg for leg in built.legs if leg.late]
    if late and promised is not None:
        etas = ", ".join(f"{leg.code} {_hours(leg.eta_hours)}" for leg in late)
        notes.append(f"misses the {_hours(promised)} promise ({etas})")
    dip = sum(leg.safety_dip_units for leg in built.legs)
    if dip:
        notes.append(f"takes {dip} unit{'s' if dip > 1 else ''} below store safety stock")
    if built.unfilled:
        missing = sum(u.quantity for u in built.unfilled)
        which = ", ".join(f"line {u.line_no}: {u.quantity} × SKU {u.sku_id}" for u in built.unfilled)
        notes.append(f"{missing} unit{'s' if missing > 1 else ''} cannot be filled ({which})")
    return "".join(f"; {n}" for n in notes)


def _plan(
    built: _Built,
    method: str,
    rows: tuple[CandidateCost, ...],
    reason: str,
    started: float,
) -> Plan:
    return Plan(
        legs=built.legs,
        cost_fen=built.cost_fen,
        method=method,
        unfilled=built.unfilled,
        candidates=rows,
        reason=reason,
        solve_ms=(time.perf_counter() - started) * 1000,
        breakdown=MappingProxyType(built.breakdown),
    )


def _nothing(
    order: _Order, rows: tuple[CandidateCost, ...], costs: CostModel, started: float, method: str = "none"
) -> Plan:
    built = _build(order, {}, {}, costs)
    counts = Counter(r.excluded for r in rows if r.excluded)
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    detail = f" (of {len(rows)} candidates: {why})" if rows else " (no candidates given)"
    return _plan(built, method, rows, f"No eligible location holds any of the ordered SKUs{detail}", started)


# ---------------------------------------------------------------------------------------------
# Solving
# ---------------------------------------------------------------------------------------------


def _shortlist(sites: list[_Site], order: _Order, costs: CostModel, keep: _Site | None = None) -> list[_Site]:
    """At most ``max_candidates`` sites for the solver, plus every holder of a scarce SKU.

    Ranked by estimated cost per share of the order covered, after the two cheapest holders of
    every SKU; a SKU whose stock (or stock above safety) across the shortlist falls short of the
    demand brings in every location holding it (above safety), so the solver never loses units.
    """
    if len(sites) <= costs.max_candidates:
        return sites
    total = sum(order.demand.values())
    dip_fen = costs.safety_dip_fen_per_unit

    def per_share(s: _Site) -> tuple[float, int, int]:
        covered = sum(min(a, order.demand[k]) for k, a in s.avail.items())
        dips = sum(_dip_units(s, k, min(a, order.demand[k])) for k, a in s.avail.items())
        return ((s.fixed_fen + dips * dip_fen) * total / covered, s.fixed_fen, s.index)

    chosen: dict[int, _Site] = {keep.index: keep} if keep else {}
    for sku, d in order.demand.items():
        holders = [s for s in sites if sku in s.avail]
        holders.sort(key=lambda s: (s.fixed_fen + _dip_units(s, sku, min(d, s.avail[sku])) * dip_fen, s.index))
        for s in holders[:2]:
            chosen[s.index] = s
    for s in sorted(sites, key=per_share):
        if len(chosen) >= costs.max_candidates:
            break
        chosen.setdefault(s.index, s)
    for sku, d in order.demand.items():
        if sum(s.avail.get(sku, 0) for s in chosen.values()) < d:
            chosen.update((s.index, s) for s in sites if sku in s.avail)
        elif dip_fen and sum(s.free.get(sku, 0) for s in chosen.values()) < d:
            chosen.update((s.index, s) for s in sites if s.free.get(sku, 0) > 0)
    return sorted(chosen.values(), key=lambda s: s.index)


def _greedy(order: _Order, sites: Sequence[_Site], *, per_line: bool) -> Allocation:
    """Lines in order, each from the first site (in the given order) that still holds all of it,
    else poured across sites in order. ``per_line=False`` serves the whole SKU at once."""
    left = {(s.index, k): a for s in sites for k, a in s.avail.items()}
    alloc: Allocation = {}
    wants = [(line.sku_id, line.quantity) for line in order.lines] if per_line else list(order.demand.items())
    for sku, qty in wants:
        whole = next((s for s in sites if left.get((s.index, sku), 0) >= qty), None)
        for s in [whole] if whole else sites:
            take = min(qty, left.get((s.index, sku), 0))
            if take:
                left[s.index, sku] -= take
                per = alloc.setdefault(s.index, {})
                per[sku] = per.get(sku, 0) + take
                qty -= take
            if qty == 0:
                break
    return alloc


_LOCAL = threading.local()


def _solver() -> cp_model.CpSolver:
    """One solver per thread, reused: building a CpSolver costs about a millisecond of Python."""
    solver: cp_model.CpSolver | None = getattr(_LOCAL, "solver", None)
    if solver is None:
        solver = cp_model.CpSolver()
        # Single-threaded search is deterministic: the same order and stock give the same plan.
        solver.parameters.num_workers = 1
        # Presolve costs more than it saves on models this small (it doubled the solve time).
        solver.parameters.cp_model_presolve = False
        _LOCAL.solver = solver
    return solver


def _solve(order: _Order, sites: Sequence[_Site], costs: CostModel) -> tuple[Allocation, str]:
    """CP-SAT: the cheapest allocation of the (capped) demand over the given sites."""
    model = cp_model.CpModel()
    dip_fen = costs.safety_dip_fen_per_unit
    have = {k: sum(s.avail.get(k, 0) for s in sites) for k in order.demand}
    demand = {k: min(d, have[k]) for k, d in order.demand.items()}
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    by_sku: dict[int, list[cp_model.IntVar]] = {k: [] for k in demand}
    ys: list[cp_model.IntVar] = []
    y_cost: list[int] = []
    dips: list[cp_model.IntVar] = []
    for s in sites:
        y = model.new_bool_var(f"y{s.index}")
        own: list[cp_model.IntVar] = []
        for sku, units in s.avail.items():
            ub = min(units, demand[sku])
            if ub == 0:
                continue
            v = model.new_int_var(0, ub, f"x{s.index}_{sku}")
            model.add(v <= ub * y)
            x[s.index, sku] = v
            own.append(v)
            by_sku[sku].append(v)
            free = s.free.get(sku, units)
            if dip_fen and free < ub:
                dv = model.new_int_var(0, ub - free, f"d{s.index}_{sku}")
                model.add(dv >= v - free)
                dips.append(dv)
        if not own:
            continue
        model.add(cp_model.LinearExpr.sum(own) >= y)
        ys.append(y)
        y_cost.append(s.fixed_fen + costs.split_penalty_fen)
    for sku, d in demand.items():
        if d:
            model.add(cp_model.LinearExpr.sum(by_sku[sku]) == d)
    model.minimize(
        cp_model.LinearExpr.weighted_sum(ys, y_cost) + cp_model.LinearExpr.weighted_sum(dips, [dip_fen] * len(dips))
    )
    solver = _solver()
    solver.parameters.max_time_in_seconds = costs.time_limit_s
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # No solution within the time limit (never seen on real orders): serve greedily.
        ranked = sorted(sites, key=lambda s: (s.fixed_fen, s.index))
        return _greedy(_Order(order.lines, demand), ranked, per_line=False), "feasible"
    alloc: Allocation = {}
    for (index, sku), v in x.items():
        q = int(solver.value(v))
        if q:
            alloc.setdefault(index, {})[sku] = q
    return alloc, "exact" if status == cp_model.OPTIMAL else "feasible"


def route(
    request: RouteRequest,
    candidates: Sequence[Candidate],
    stock: Stock,
    costs: CostModel = DEFAULT_COSTS,
    *,
    exact: bool = False,
) -> Plan:
    """The cheapest way to fulfil ``request`` from ``candidates`` under ``costs``.

    ``exact=True`` skips the fast path and the shortlist: CP-SAT over every eligible candidate.
    """
    started = time.perf_counter()
    order = _order(request)
    rows, sites = _assess(request, order, candidates, stock, costs)
    if not sites:
        return _nothing(order, rows, costs, started)
    by_index = {s.index: s for s in sites}
    promised = request.promised_hours

    single: _Built | None = None
    keep: _Site | None = None
    if not exact:
        full = [s for s in sites if all(s.avail.get(k, 0) >= d for k, d in order.demand.items())]
        if full:
            ranked = sorted(full, key=lambda s: (_single_cost(s, order, costs), s.eta_hours, s.index))
            best = ranked[0]
            single = _build(order, by_index, {best.index: dict(order.demand)}, costs)
            extra = []
            if len(ranked) > 1:
                nxt = ranked[1]
                extra.append(f"next best single location {nxt.cand.code} at {_yuan(_single_cost(nxt, order, costs))}")
            bound: int | None = None
            if len(sites) > 1:
                two = sorted(s.fixed_fen for s in sites)[:2]
                bound = sum(two) + costs.split_penalty_fen
                extra.append(f"any split would cost at least {_yuan(bound)}")
            if not costs.prove_single or bound is None or single.cost_fen <= bound:
                alt = f" ({'; '.join(extra)})" if extra else ""
                how = _how(best, rows, request)
                total = _yuan(single.cost_fen)
                reason = f"{best.cand.code} fills the whole order{how} at {total}{alt}{_tail(single, promised)}"
                return _plan(single, "single", rows, reason, started)
            keep = best  # a split might be cheaper: the solver compares, with the best single location in
        elif len(sites) == 1:
            only = sites[0]
            alloc = {only.index: {k: min(d, only.avail.get(k, 0)) for k, d in order.demand.items()}}
            built = _build(order, by_index, alloc, costs)
            reason = (
                f"{only.cand.code} is the only eligible location holding the ordered SKUs and ships what it has "
                f"at {_yuan(built.cost_fen)}{_tail(built, promised)}"
            )
            return _plan(built, "single", rows, reason, started)

    pool = sites if exact else _shortlist(sites, order, costs, keep)
    alloc, method = _solve(order, pool, costs)
    built = _build(order, by_index, alloc, costs)
    if single is not None and single.cost_fen <= built.cost_fen:
        built = single  # the time limit stopped the solver before it matched the single location
    scope = f"CP-SAT over {len(pool)} of {len(sites)} eligible locations"
    if len(pool) == len(sites):
        scope = f"CP-SAT over all {len(sites)} eligible locations"
    quality = "optimal" if method == "exact" else f"best found within {costs.time_limit_s:g}s"
    if len(built.legs) == 1:
        leg = built.legs[0]
        whole = "the whole order" if not built.unfilled else "what can be filled"
        reason = f"{leg.code} fills {whole} at {_yuan(built.cost_fen)} ({scope}, {quality}){_tail(built, promised)}"
    else:
        lead = ""
        if single is not None and keep is not None:
            lead = f"A split beats the best single location ({keep.cand.code} at {_yuan(single.cost_fen)}): "
        elif not exact:
            lead = "No single eligible location holds the whole order, so "
        reason = (
            f"{lead}{_describe(built.legs)} fill it at {_yuan(built.cost_fen)} in {len(built.legs)} legs, including "
            f"{_yuan(built.breakdown['split_penalty_fen'])} split penalty ({scope}, {quality}){_tail(built, promised)}"
        )
        reason = reason[0].upper() + reason[1:]
    return _plan(built, method, rows, reason, started)


def route_nearest(
    request: RouteRequest,
    candidates: Sequence[Candidate],
    stock: Stock,
    costs: CostModel = DEFAULT_COSTS,
) -> Plan:
    """Baseline: each line from the nearest eligible location that still holds all of it (else
    poured across the nearest ones), costed with the same cost model. Safety stock is not avoided."""
    started = time.perf_counter()
    order = _order(request)
    rows, sites = _assess(request, order, candidates, stock, costs)
    if not sites:
        return _nothing(order, rows, costs, started)
    by_index = {s.index: s for s in sites}
    nearest = sorted(sites, key=lambda s: (s.km, s.index))
    built = _build(order, by_index, _greedy(order, nearest, per_line=True), costs)
    reason = (
        f"Nearest stock: {_describe(built.legs)} at {_yuan(built.cost_fen)}"
        f" in {len(built.legs)} leg{'s' if len(built.legs) > 1 else ''}{_tail(built, request.promised_hours)}"
    )
    return _plan(built, "nearest", rows, reason, started)
