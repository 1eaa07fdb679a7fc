"""Analytics HTTP API: the sales and inventory dashboards as JSON and XLSX under /api/v1/analytics.

Every endpoint takes the dashboards' filters (``start``, ``end``, ``channel``, ``store``,
``category``; a store manager sees only their stores) and answers a 422 naming every bad one. The
inventory dashboard ignores ``channel`` (stock is not held per channel). The XLSX files carry the
same figures with machine column names (``net_sales``, ``turnover_days``...).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from zhongtai.analytics.deps import AnalyticsReader, AppSettings, LakeDep
from zhongtai.analytics.export_sales import inventory_xlsx, machine_label, sales_xlsx
from zhongtai.analytics.inventory_dash import inventory_dashboard
from zhongtai.analytics.params import api_filters
from zhongtai.analytics.sales import sales_dashboard
from zhongtai.analytics.schemas_sales import InventoryDashboard, SalesDashboard
from zhongtai.analytics.xlsx import dated_filename, xlsx_response

router = APIRouter(prefix="/analytics", tags=["analytics"])

Reader = AnalyticsReader


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
    return xlsx_response(
        sales_xlsx(sales_dashboard(lake, f), machine_label, list(f.as_query().items())),
        dated_filename("sales", f.start, f.end),
    )


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
    return xlsx_response(
        inventory_xlsx(dash, machine_label, list(f.as_query().items())), dated_filename("inventory", f.start, f.end)
    )
