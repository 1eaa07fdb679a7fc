"""Catalog pages: the SKU list with search and filters, and a SKU's detail with its stock."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from zhongtai.auth.permissions import Perm
from zhongtai.catalog import service as catalog_service
from zhongtai.catalog.schemas import CategoryNode
from zhongtai.channels import service as channels_service
from zhongtai.web.page import Console, PageContext, render
from zhongtai.web.views import sku_stock

router = APIRouter(include_in_schema=False)
LIFECYCLES = ("draft", "on_sale", "off_sale")
PAGE_SIZE = 30


def category_options(ctx: PageContext) -> list[tuple[str, str]]:
    """(code, indented name) in tree order, for a <select>."""
    out: list[tuple[str, str]] = []

    def walk(nodes: list[CategoryNode]) -> None:
        for node in nodes:
            out.append((node.code, "\u3000" * node.depth + ctx.name_of(node)))
            walk(node.children)

    walk(catalog_service.category_tree(ctx.session))
    return out


@router.get("/catalog")
def sku_list(
    ctx: Console,
    q: Annotated[str, Query(max_length=100)] = "",
    category: Annotated[str, Query(max_length=64)] = "",
    brand: Annotated[str, Query(max_length=64)] = "",
    lifecycle: Annotated[str, Query(max_length=16)] = "",
    cursor: str | None = None,
) -> Response:
    ctx.require(Perm.CATALOG_READ)
    filters: dict[str, Any] = {
        "q": q.strip() or None,
        "category_code": category or None,
        "brand_code": brand or None,
        "lifecycle": lifecycle if lifecycle in LIFECYCLES else None,
    }
    page = catalog_service.list_skus(ctx.session, cursor=cursor, limit=PAGE_SIZE, **filters)
    total = catalog_service.count_skus(ctx.session, **filters)
    stock = sku_stock.sku_totals(ctx, [s.code for s in page.items])
    return render(
        ctx,
        "catalog/list.html",
        skus=page.items,
        next_cursor=page.next_cursor,
        total=total,
        stock=stock,
        categories=category_options(ctx),
        brands=[(b.code, ctx.name_of(b)) for b in catalog_service.list_brands(ctx.session)],
        lifecycles=[(v, ctx.t(f"lifecycle.{v}")) for v in LIFECYCLES],
        filters={"q": q, "category": category, "brand": brand, "lifecycle": lifecycle},
    )


def margin_pct(sale_fen: int, cost_fen: int) -> Decimal | None:
    """Gross margin on the sale price, as a percentage with one decimal (no floats)."""
    if sale_fen <= 0 or cost_fen <= 0:
        return None
    return (Decimal(sale_fen - cost_fen) * 100 / Decimal(sale_fen)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _coordinate(text: str) -> float | None:
    """A typed coordinate; blank or unreadable is "not given" (the form says which one is used)."""
    try:
        return float(text.strip()) if text.strip() else None
    except ValueError:
        return None


@router.get("/catalog/skus/{code}")
def sku_detail(
    code: str,
    ctx: Console,
    lat: Annotated[str, Query(max_length=32)] = "",
    lon: Annotated[str, Query(max_length=32)] = "",
    radius_km: Annotated[float, Query(gt=0, le=5000)] = 50.0,
    near: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    ctx.require(Perm.CATALOG_READ)
    sku = catalog_service.get_sku_detail(ctx.session, code)
    channel_names = {c.code: ctx.name_of(c) for c in channels_service.list_channels(ctx.session)}
    stock = sku_stock.sku_stock(
        ctx, sku.code, lat=_coordinate(lat), lon=_coordinate(lon), radius_km=radius_km, near=near
    )
    return render(
        ctx,
        "catalog/sku.html",
        sku=sku,
        channel_names=channel_names,
        margin=margin_pct(sku.sale_price_fen, sku.unit_cost_fen),
        stock=stock,
    )
