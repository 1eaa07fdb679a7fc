"""The stock movement ledger with filters (SKU, location, type, dates) and cursor paging."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response

from zhongtai.auth.permissions import Perm
from zhongtai.catalog import service as catalog_service
from zhongtai.inventory import service as inventory_service
from zhongtai.web.page import Console, render
from zhongtai.web.views.lookups import visible_locations

router = APIRouter(include_in_schema=False)
MOVEMENT_TYPES = ("receipt", "sale", "return", "transfer_out", "transfer_in", "adjustment", "count", "scrap")
PAGE_SIZE = 50


def local_day_start(day: date, tz: str) -> datetime:
    """Midnight of ``day`` in the business time zone, as UTC (the ledger stores UTC)."""
    return datetime.combine(day, time.min, ZoneInfo(tz)).astimezone(UTC)


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/stock/movements")
def movements(
    ctx: Console,
    sku: Annotated[str, Query(max_length=64)] = "",
    location: Annotated[str, Query(max_length=32)] = "",
    type: Annotated[str, Query(max_length=16)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    cursor: str | None = None,
) -> Response:
    ctx.require(Perm.INVENTORY_READ)
    tz = ctx.settings.default_timezone
    since_day, until_day = _parse_day(since), _parse_day(until)
    page = inventory_service.list_movements(
        ctx.session,
        ctx.principal,
        sku_code=sku.strip() or None,
        location_code=location or None,
        type=type if type in MOVEMENT_TYPES else None,
        since=local_day_start(since_day, tz) if since_day else None,
        # "until" is the last day shown, inclusive: the ledger's bound is the next midnight.
        until=local_day_start(until_day + timedelta(days=1), tz) if until_day else None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    locations = visible_locations(ctx)
    sku_names = {
        c: r.name for c, r in catalog_service.sku_refs_by_codes(ctx.session, [m.sku_code for m in page.items]).items()
    }
    return render(
        ctx,
        "stock/movements.html",
        movements=page.items,
        next_cursor=page.next_cursor,
        sku_names=sku_names,
        location_names={loc.code: ctx.name_of(loc) for loc in locations},
        locations=[(loc.code, ctx.name_of(loc)) for loc in locations],
        types=[(v, ctx.t(f"movement.{v}")) for v in MOVEMENT_TYPES],
        filters={"sku": sku, "location": location, "type": type, "since": since, "until": until},
        bad_dates=(since and since_day is None) or (until and until_day is None),
    )
