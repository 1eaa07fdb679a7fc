"""The dashboards' filters on the API: query parameters in, ``DashboardFilters`` out, or a 422
naming every bad parameter."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import Request

from zhongtai.analytics.filters import DashboardFilters, parse_filters
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.options import filter_options
from zhongtai.auth.principal import Principal
from zhongtai.errors import ValidationFailed
from zhongtai.settings import Settings


def local_today(settings: Settings) -> datetime:
    return datetime.now(ZoneInfo(settings.default_timezone))


def api_filters(request: Request, principal: Principal, lake: Lake, settings: Settings) -> DashboardFilters:
    """Filters from ``start``, ``end``, ``channel``, ``store``, ``category`` (comma-separated lists
    for channel and store); unknown channels and stores outside the caller's scope are errors."""
    params = {k: ",".join(request.query_params.getlist(k)) for k in ("start", "end", "channel", "store", "category")}
    known = filter_options(lake).channel_codes()
    parsed = parse_filters(
        params, today=local_today(settings).date(), principal=principal, known_channels=known or None
    )
    if parsed.problems:
        raise ValidationFailed("some filters are invalid", parsed.problems)
    return parsed.filters
