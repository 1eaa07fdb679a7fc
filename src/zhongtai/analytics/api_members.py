"""Analytics HTTP API: the member and store-traffic dashboards as JSON and XLSX under /api/v1/analytics.

Every endpoint takes the dashboards' filters (``start``, ``end``, ``channel``, ``store``,
``category``; a store manager sees only their stores) and answers a 422 naming every bad one. The
member endpoints also take ``window``: the 4A funnel's lookback in days. The XLSX files carry the
same figures with machine column names (``visitors``, ``repeat_rate``...).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from zhongtai.analytics.deps import AnalyticsReader, AppSettings, LakeDep
from zhongtai.analytics.export_members import machine_label, members_xlsx, traffic_xlsx
from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.funnel import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, MIN_WINDOW_DAYS
from zhongtai.analytics.members_dash import members_dashboard
from zhongtai.analytics.params import api_filters
from zhongtai.analytics.schemas_members import MembersDashboardOut, TrafficDashboardOut
from zhongtai.analytics.traffic import traffic_dashboard
from zhongtai.analytics.xlsx import dated_filename, xlsx_response

router = APIRouter(prefix="/analytics", tags=["analytics"])

Reader = AnalyticsReader
Window = Annotated[
    int,
    Query(ge=MIN_WINDOW_DAYS, le=MAX_WINDOW_DAYS, description="the 4A funnel's lookback window in days"),
]


def _about(f: DashboardFilters, **extra: str) -> list[tuple[str, str]]:
    return [*f.as_query().items(), *extra.items()]


@router.get("/members", response_model=MembersDashboardOut)
def members(
    request: Request, principal: Reader, lake: LakeDep, settings: AppSettings, window: Window = DEFAULT_WINDOW_DAYS
) -> MembersDashboardOut:
    """Member growth, buyers, RFM and the JD 4A funnel with its start → end transitions."""
    f = api_filters(request, principal, lake, settings)
    return members_dashboard(lake, f, window_days=window)


@router.get("/members.xlsx", response_class=Response)
def members_export(
    request: Request, principal: Reader, lake: LakeDep, settings: AppSettings, window: Window = DEFAULT_WINDOW_DAYS
) -> Response:
    """The member dashboard as an XLSX workbook."""
    f = api_filters(request, principal, lake, settings)
    dash = members_dashboard(lake, f, window_days=window)
    return xlsx_response(
        members_xlsx(dash, machine_label, _about(f, window=str(window))), dated_filename("members", f.start, f.end)
    )


@router.get("/traffic", response_model=TrafficDashboardOut)
def traffic(request: Request, principal: Reader, lake: LakeDep, settings: AppSettings) -> TrafficDashboardOut:
    """Store traffic: visitors, buyers, conversion, dwell, hours and demographics per store and day."""
    f = api_filters(request, principal, lake, settings)
    return traffic_dashboard(lake, f)


@router.get("/traffic.xlsx", response_class=Response)
def traffic_export(request: Request, principal: Reader, lake: LakeDep, settings: AppSettings) -> Response:
    """The store-traffic dashboard as an XLSX workbook."""
    f = api_filters(request, principal, lake, settings)
    return xlsx_response(
        traffic_xlsx(traffic_dashboard(lake, f), machine_label, _about(f)), dated_filename("traffic", f.start, f.end)
    )
