"""The location network (DCs, stores, suppliers) and one location's hours, stock and movements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response

from zhongtai.auth.permissions import Perm
from zhongtai.catalog import service as catalog_service
from zhongtai.inventory import service as inventory_service
from zhongtai.inventory.schemas import LocationOut
from zhongtai.web import charts
from zhongtai.web.page import Console, PageContext, render
from zhongtai.web.views.lookups import visible_locations
from zhongtai.web.views.sku_stock import LOCATION_TYPES, type_labels

router = APIRouter(include_in_schema=False)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STOCK_PAGE = 50
RECENT_MOVEMENTS = 12
# The network map sizes dots by role, not stock: a DC reads bigger than a store.
TYPE_DOT_SIZE = {"central_dc": 9, "regional_dc": 5, "supplier": 2, "store": 1}


@dataclass(frozen=True, slots=True)
class TypeGroup:
    type: str
    cities: list[tuple[str, list[LocationOut]]]
    count: int


def _type_order(loc: LocationOut) -> int:
    return LOCATION_TYPES.index(loc.type) if loc.type in LOCATION_TYPES else len(LOCATION_TYPES)


def group_locations(locations: list[LocationOut]) -> list[TypeGroup]:
    """By type (central DC first), then by city, then by code."""
    ordered = sorted(locations, key=lambda loc: (_type_order(loc), loc.city, loc.code))
    groups = []
    for loc_type, of_type in groupby(ordered, key=lambda loc: loc.type):
        members = list(of_type)
        cities = [(city, list(locs)) for city, locs in groupby(members, key=lambda loc: loc.city)]
        groups.append(TypeGroup(loc_type, cities, len(members)))
    return groups


@dataclass(frozen=True, slots=True)
class DayHours:
    day: str
    hours: str  # "10:00–22:00", or "" when closed
    today: bool


@dataclass(frozen=True, slots=True)
class Hours:
    days: list[DayHours]
    round_the_clock: bool
    open_now: bool
    local_time: str


def opening_hours(loc: LocationOut, now: datetime | None = None) -> Hours:
    """The week in the location's own zone, today marked, and whether it is open right now."""
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(loc.timezone or "Asia/Shanghai"))
    today = WEEKDAYS[local.weekday()]
    hours = loc.opening_hours or {}
    days = []
    for day in WEEKDAYS:
        interval = hours.get(day) or []
        days.append(DayHours(day, f"{interval[0]}–{interval[1]}" if len(interval) == 2 else "", day == today))
    if not hours:
        return Hours(days, True, True, local.strftime("%H:%M"))
    interval = hours.get(today) or []
    now_hm = local.strftime("%H:%M")
    open_now = len(interval) == 2 and interval[0] <= now_hm < interval[1]
    return Hours(days, False, open_now, now_hm)


@router.get("/locations")
def location_list(ctx: Console, type: Annotated[str, Query(max_length=16)] = "") -> Response:
    ctx.require(Perm.INVENTORY_READ)
    locations = visible_locations(ctx)
    counts = {t: sum(1 for loc in locations if loc.type == t) for t in LOCATION_TYPES}
    shown = [loc for loc in locations if not type or loc.type == type]
    points = [
        charts.MapPoint(
            label=loc.city or ctx.name_of(loc),
            latitude=loc.latitude,
            longitude=loc.longitude,
            size=TYPE_DOT_SIZE.get(loc.type, 1),
            group=loc.type,
            href=f"/locations/{loc.code}",
            detail=ctx.name_of(loc),
        )
        for loc in shown
        if loc.latitude is not None and loc.longitude is not None
    ]
    network_map = charts.location_map(
        _label_cities_once(points),
        title=ctx.t("locations.map_title"),
        group_labels=type_labels(ctx),
        width=720,
        height=460,
        empty_message=ctx.t("map.empty"),
    )
    per_city: dict[str, int] = {}
    for loc in shown:
        if loc.type == "store":
            per_city[loc.city or "—"] = per_city.get(loc.city or "—", 0) + 1
    city_chart = charts.hbar_chart(
        [charts.Datum(city, n) for city, n in sorted(per_city.items(), key=lambda kv: (-kv[1], kv[0]))],
        title=ctx.t("locations.stores_by_city"),
        width=460,
        row_height=34,
        color=charts.PALETTE[2],
        empty_message=ctx.t("locations.none"),
    )
    return render(
        ctx,
        "locations/list.html",
        city_chart=city_chart,
        groups=group_locations(shown),
        counts=counts,
        total=len(locations),
        visible_codes={loc.code for loc in locations},
        selected_type=type,
        network_map=network_map,
        hours={loc.id: opening_hours(loc) for loc in shown},
    )


def _label_cities_once(points: list[charts.MapPoint]) -> list[charts.MapPoint]:
    """At country scale a city's DC and stores sit on one spot: label each city once (the names
    are in the tooltips). Within one city (a store manager's view) each location keeps its name."""
    if len({p.label for p in points}) <= 1:
        return [charts.MapPoint(p.detail, p.latitude, p.longitude, p.size, p.group, p.href, p.detail) for p in points]
    seen: set[str] = set()
    out = []
    for p in sorted(points, key=lambda p: -float(p.size)):
        label = "" if p.label in seen else p.label
        seen.add(p.label)
        out.append(charts.MapPoint(label, p.latitude, p.longitude, p.size, p.group, p.href, p.detail))
    return out


@router.get("/locations/{code}")
def location_detail(
    code: str,
    ctx: Console,
    low: Annotated[str, Query(max_length=1)] = "",
    cursor: str | None = None,
) -> Response:
    ctx.require(Perm.INVENTORY_READ)
    # A store manager asking for another store gets the same 404 as for a code that does not exist.
    loc = inventory_service.get_location(ctx.session, ctx.principal, code)
    parent = None
    if loc.parent_dc_code:
        parent = next((p for p in visible_locations(ctx) if p.code == loc.parent_dc_code), None)
    stock = inventory_service.location_stock(
        ctx.session, ctx.principal, code, below_safety_only=low == "1", cursor=cursor, limit=STOCK_PAGE
    )
    refs = catalog_service.sku_refs_by_codes(ctx.session, [b.sku_code for b in stock.items])
    movements = inventory_service.list_movements(ctx.session, ctx.principal, location_code=code, limit=RECENT_MOVEMENTS)
    return render(
        ctx,
        "locations/detail.html",
        loc=loc,
        parent=parent,
        hours=opening_hours(loc),
        balances=stock.items,
        prices={c: (r.sale_price_fen, r.currency, r.lifecycle) for c, r in refs.items()},
        next_cursor=stock.next_cursor,
        low=low == "1",
        movements=movements.items,
        sku_names=_sku_names(ctx, [m.sku_code for m in movements.items]),
    )


def _sku_names(ctx: PageContext, codes: list[str]) -> dict[str, str]:
    return {c: r.name for c, r in catalog_service.sku_refs_by_codes(ctx.session, codes).items()}
