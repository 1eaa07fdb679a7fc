"""Analytics HTTP API: the sales and inventory dashboards as JSON and XLSX under /api/v1/analytics.

Every endpoint takes the dashboards' filters (``start``, ``end``, ``channel``, ``store``,
``category``; a store manager sees only their stores) and answers a 422 naming every bad one. The
inventory dashboard ignores ``channel`` (stock is not held per channel). The XLSX files carry the
same figures with machine column names (``net_sales``, ``turnover_days``...).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from zhongtai.analytics.deps import LakeDep
from zhongtai.analytics.export_sales import inventory_xlsx, machine_label, sales_xlsx
from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.inventory_dash import inventory_dashboard
from zhongtai.analytics.params import api_filters
from zhongtai.analytics.sales import sales_dashboard
from zhongtai.analytics.schemas_sales import InventoryDashboard, SalesDashboard
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.http import get_settings_dep, require
from zhongtai.settings import Settings

router = APIRouter(prefix="/analytics", tags=["analytics"])

Reader = Annotated[Principal, Depends(require(Perm.ANALYTICS_READ))]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx(data: bytes, name: str, f: DashboardFilters) -> Response:
    filename = f"{name}-{f.start.isoformat()}-{f.end.isoformat()}.xlsx"
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.get("/sales", response_model=SalesDashboard)
def sales(request: Request, principal: Reader, lake: LakeDep, settings: AppSettings) -> SalesDashboard:
    """Net sales, orders, units, average order value, buyers, members' share and refund rate against
    the previous equal period, with breakdowns by day, channel, store, category, SKU and hour."""
    f = api_filters(request, principal, lake, settings)
    return sales_dashboard(lake, f)


@router.get("/sales.xlsx", response_class=Response)
def sales_export(request: Request, principal: Reader, lake: LakeDep, settings: AppSettings) -> Response:
    """The sales dashboard as an XLSX workbook."""
    f = api_filters(request, principal, lake, settings)
    return _xlsx(sales_xlsx(sales_dashboard(lake, f), machine_label, list(f.as_query().items())), "sales", f)


@router.get("/inventory", response_model=InventoryDashboard)
def inventory(request: Request, principal: Reader, lake: LakeDep, settings: AppSettings) -> InventoryDashboard:
    """Stock value at cost, turnover days, stockouts, slow movers and FIFO stock age."""
    f = api_filters(request, principal, lake, settings)
    return inventory_dashboard(lake, f, tz=settings.default_timezone)


@router.get("/inventory.xlsx", response_class=Response)
def inventory_export(request: Request, principal: Reader, lake: LakeDep, settings: AppSettings) -> Response:
    """The inventory dashboard as an XLSX workbook."""
    f = api_filters(request, principal, lake, settings)
    dash = inventory_dashboard(lake, f, tz=settings.default_timezone)
    return _xlsx(inventory_xlsx(dash, machine_label, list(f.as_query().items())), "inventory", f)
