"""The dashboard: the figures that matter today, two charts and what is below safety stock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from zhongtai.auth.permissions import Perm
from zhongtai.catalog import service as catalog_service
from zhongtai.catalog.schemas import CategoryNode
from zhongtai.inventory import service as inventory_service
from zhongtai.inventory.schemas import BalanceOut, StockSummary
from zhongtai.web import charts, formatting
from zhongtai.web.page import Console, PageContext, render
from zhongtai.web.views.lookups import visible_locations
from zhongtai.web.views.sku_stock import LOCATION_TYPES

router = APIRouter(include_in_schema=False)
LOW_ROWS = 8
# The below-safety list asks location by location (stores and DCs first); this bounds the asking.
LOW_SCAN_LOCATIONS = 60
# The category chart sums stock SKU by SKU; a catalog larger than this shows no category chart
# rather than a slow home page (the inventory summary should grow a by-category figure).
CATEGORY_CHART_MAX_SKUS = 5000


@dataclass(frozen=True, slots=True)
class LowRow:
    location_code: str
    location_name: str
    balance: BalanceOut


def _low_rows(ctx: PageContext) -> list[LowRow]:
    locations = sorted(
        visible_locations(ctx),
        key=lambda loc: (LOCATION_TYPES.index(loc.type) if loc.type in LOCATION_TYPES else 9, loc.code),
    )
    out: list[LowRow] = []
    for loc in locations[:LOW_SCAN_LOCATIONS]:
        if loc.type in ("supplier", "in_transit"):
            continue
        page = inventory_service.location_stock(
            ctx.session, ctx.principal, loc.code, below_safety_only=True, limit=LOW_ROWS - len(out)
        )
        out += [LowRow(loc.code, ctx.name_of(loc), b) for b in page.items]
        if len(out) >= LOW_ROWS:
            break
    return out


def _root_of_categories(ctx: PageContext) -> dict[str, CategoryNode]:
    roots: dict[str, CategoryNode] = {}

    def walk(node: CategoryNode, root: CategoryNode) -> None:
        roots[node.code] = root
        for child in node.children:
            walk(child, root)

    for top in catalog_service.category_tree(ctx.session):
        walk(top, top)
    return roots


def _category_values(ctx: PageContext) -> list[charts.Datum] | None:
    """Available stock value (units × standard cost) by top-level category, largest first."""
    if catalog_service.count_skus(ctx.session) > CATEGORY_CHART_MAX_SKUS:
        return None
    codes: dict[str, str] = {}
    cursor: str | None = None
    while True:
        page = catalog_service.list_skus(ctx.session, cursor=cursor, limit=500)
        codes.update({s.code: s.category_code for s in page.items})
        cursor = page.next_cursor
        if cursor is None:
            break
    refs = catalog_service.sku_refs_by_codes(ctx.session, list(codes))
    by_id = {r.id: r for r in refs.values()}
    units = inventory_service.sellable_quantities(ctx.session, ctx.principal, sku_ids=list(by_id))
    roots = _root_of_categories(ctx)
    totals: dict[str, int] = {}
    names: dict[str, str] = {}
    for (sku_id, _loc), qty in units.items():
        ref = by_id[sku_id]
        root = roots.get(codes[ref.code])
        key = root.code if root else codes[ref.code]
        names[key] = ctx.name_of(root) if root else key
        totals[key] = totals.get(key, 0) + qty * ref.unit_cost_fen
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return [charts.Datum(names[k], v, href=f"/catalog?category={k}") for k, v in ranked]


def _charts(ctx: PageContext, summary: StockSummary) -> dict[str, str]:
    currency = summary.currency

    def money(v: float) -> str:
        return formatting.money_compact(int(v), currency, ctx.locale)

    by_city = [
        charts.Datum(g.key or ctx.t("home.no_city"), g.value_fen) for g in summary.stock_by_city if g.value_fen > 0
    ][:10]
    by_type = [
        charts.Datum(ctx.t.maybe("location_type", g.key), g.value_fen, href=f"/locations?type={g.key}")
        for g in summary.stock_by_location_type
    ]
    out = {
        "city": charts.bar_chart(
            by_city, title=ctx.t("home.chart_city"), value_format=money, empty_message=ctx.t("home.no_stock")
        ),
        "type": charts.donut_chart(
            by_type,
            title=ctx.t("home.chart_type"),
            value_format=money,
            center_label=ctx.t("home.stock_value"),
            other_label=ctx.t("home.other"),
            empty_message=ctx.t("home.no_stock"),
        ),
    }
    categories = _category_values(ctx)
    if categories is not None:
        out["category"] = charts.donut_chart(
            categories,
            title=ctx.t("home.chart_category"),
            value_format=money,
            center_label=ctx.t("home.available_value"),
            other_label=ctx.t("home.other"),
            empty_message=ctx.t("home.no_stock"),
        )
    return out


@router.get("/")
def home(ctx: Console) -> Response:
    values: dict[str, Any] = {"summary": None, "charts": {}, "low_rows": [], "on_sale": None, "sku_count": None}
    if ctx.can(Perm.INVENTORY_READ):
        summary = inventory_service.stock_summary(ctx.session, ctx.principal)
        values.update(summary=summary, charts=_charts(ctx, summary), low_rows=_low_rows(ctx))
    if ctx.can(Perm.CATALOG_READ):
        values.update(
            on_sale=catalog_service.count_skus(ctx.session, lifecycle="on_sale"),
            sku_count=catalog_service.count_skus(ctx.session),
        )
    return render(ctx, "home/index.html", **values)
