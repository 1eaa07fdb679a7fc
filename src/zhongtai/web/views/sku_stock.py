"""A SKU's stock for the console: the table across locations, the map and "near a point"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from zhongtai.auth.permissions import Perm
from zhongtai.catalog import service as catalog_service
from zhongtai.errors import ValidationFailed
from zhongtai.inventory import service as inventory_service
from zhongtai.inventory.schemas import LocationStockOut, StockTotals
from zhongtai.web import charts
from zhongtai.web.page import PageContext

LOCATION_TYPES = ("central_dc", "regional_dc", "store", "supplier", "in_transit")
RADIUS_CHOICES = (3, 10, 50, 200, 1000)


@dataclass
class SkuStockView:
    rows: list[LocationStockOut]
    totals: StockTotals
    map_svg: str
    # "Near a point": the point (from a location or typed), the radius, the answer nearest first.
    near_rows: list[LocationStockOut] | None = None
    focus_lat: float | None = None
    focus_lon: float | None = None
    focus_label: str = ""
    radius_km: float = 50.0
    near_code: str = ""
    near_error: str = ""
    origins: list[tuple[str, str]] = field(default_factory=list)
    radius_choices: Sequence[int] = RADIUS_CHOICES

    @property
    def has_safety(self) -> bool:
        # Safety stock per location is on the balance, not yet on the availability answer.
        return any(getattr(r, "safety_stock", None) is not None for r in self.rows)


def sku_totals(ctx: PageContext, codes: Sequence[str]) -> dict[str, int] | None:
    """{sku code: units available across the locations this person sees}; None without the right."""
    if not ctx.can(Perm.INVENTORY_READ):
        return None
    refs = catalog_service.sku_refs_by_codes(ctx.session, codes)
    by_id = {r.id: r.code for r in refs.values()}
    quantities = inventory_service.sellable_quantities(ctx.session, ctx.principal, sku_ids=list(by_id))
    out = dict.fromkeys(codes, 0)
    for (sku_id, _location_id), units in quantities.items():
        out[by_id[sku_id]] += units
    return out


def type_labels(ctx: PageContext) -> dict[str, str]:
    return {t: ctx.t(f"location_type.{t}") for t in LOCATION_TYPES}


def stock_map(
    ctx: PageContext, rows: Sequence[LocationStockOut], *, focus: charts.MapFocus | None = None, title: str
) -> str:
    points = [
        charts.MapPoint(
            label=r.location_name if ctx.locale == "zh-CN" else r.location_code,
            latitude=r.latitude,
            longitude=r.longitude,
            size=r.available,
            group=r.location_type,
            href=f"/locations/{r.location_code}",
            detail=ctx.t("map.tooltip", on_hand=r.on_hand, available=r.available),
        )
        for r in rows
        if r.latitude is not None and r.longitude is not None
    ]
    return charts.location_map(
        points,
        title=title,
        group_labels=type_labels(ctx),
        size_label=ctx.t("map.size_legend"),
        focus=focus,
        size_format=lambda v: f"{round(v):,}",
        empty_message=ctx.t("map.empty"),
    )


def sku_stock(
    ctx: PageContext,
    sku_code: str,
    *,
    lat: float | None,
    lon: float | None,
    radius_km: float,
    near: str,
) -> SkuStockView | None:
    if not ctx.can(Perm.INVENTORY_READ):
        return None
    availability = inventory_service.sku_availability(ctx.session, ctx.principal, sku_code)
    rows = sorted(
        availability.locations,
        key=lambda r: (
            LOCATION_TYPES.index(r.location_type) if r.location_type in LOCATION_TYPES else 9,
            r.location_code,
        ),
    )
    view = SkuStockView(rows=rows, totals=availability.totals, map_svg="", radius_km=radius_km, near_code=near)
    # Any location with coordinates can be the origin: "which stores near our Xidan store have it?"
    origins = [loc for loc in _origin_locations(ctx) if loc[2] is not None and loc[3] is not None]
    view.origins = [(code, name) for code, name, _, _ in origins]
    if near:
        match = next((o for o in origins if o[0] == near), None)
        if match is not None:
            lat, lon, view.focus_label = match[2], match[3], match[1]
    if lat is not None and lon is not None:
        view.focus_lat, view.focus_lon = lat, lon
        view.focus_label = view.focus_label or f"{lat:.4f}, {lon:.4f}"
        try:
            answer = inventory_service.availability_near(
                ctx.session,
                ctx.principal,
                sku_code,
                latitude=lat,
                longitude=lon,
                radius_km=radius_km,
                in_stock_only=False,
            )
            view.near_rows = answer.locations
        except ValidationFailed as error:
            view.near_error = "; ".join(p.message for p in error.errors) or error.detail
    focus = (
        charts.MapFocus(view.focus_lat, view.focus_lon, radius_km, view.focus_label)
        if view.focus_lat is not None and view.focus_lon is not None
        else None
    )
    # With a search, the map zooms to its circle and shows what the search found.
    shown = view.near_rows if focus is not None and view.near_rows is not None else rows
    view.map_svg = stock_map(ctx, shown, focus=focus, title=ctx.t("sku.map_title", code=sku_code))
    return view


def _origin_locations(ctx: PageContext) -> list[tuple[str, str, float | None, float | None]]:
    from zhongtai.web.views.lookups import visible_locations

    return [(loc.code, ctx.name_of(loc), loc.latitude, loc.longitude) for loc in visible_locations(ctx)]
