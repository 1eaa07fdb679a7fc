"""Analytics HTTP API: the touchpoint health dashboard and the five maturity indicators, as JSON
and XLSX, under /api/v1/analytics.

``GET /analytics/touchpoints`` takes the dashboards' filters (start, end, channel, store);
``GET /analytics/maturity`` takes ``as_of`` (a local date, default today) and ``months`` (the
trend's length, 1–36, default 12). Bad parameters are a 422 naming each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from zhongtai.analytics.deps import AnalyticsReader, AppSettings, LakeDep
from zhongtai.analytics.export_touchpoints import health_workbook, maturity_workbook
from zhongtai.analytics.health import touchpoint_health
from zhongtai.analytics.maturity import maturity
from zhongtai.analytics.params import api_filters, local_today
from zhongtai.analytics.schemas_touchpoints import HealthOut, MaturityOut
from zhongtai.analytics.xlsx import dated_filename, xlsx_response
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.errors import FieldProblem, ValidationFailed
from zhongtai.http import require
from zhongtai.settings import Settings

router = APIRouter(prefix="/analytics", tags=["analytics"])
SettingsDep = AppSettings
MAX_MONTHS = 36


@dataclass(frozen=True)
class MaturityParams:
    as_of: date
    months: int


def maturity_params(raw_as_of: str, raw_months: str, today: date) -> tuple[MaturityParams, list[FieldProblem]]:
    """``as_of`` and ``months`` from their raw text; every bad one is a problem (and defaults)."""
    problems: list[FieldProblem] = []
    as_of = today
    if raw_as_of.strip():
        try:
            as_of = date.fromisoformat(raw_as_of.strip())
        except ValueError:
            problems.append(
                FieldProblem("as_of", "date_parsing", f"as_of is a date like 2026-12-05, got {raw_as_of!r}")
            )
        else:
            if as_of > today:
                problems.append(FieldProblem("as_of", "in_future", "as_of is after today"))
                as_of = today
    months = 12
    if raw_months.strip():
        text = raw_months.strip()
        if not text.isdigit():
            problems.append(FieldProblem("months", "int_parsing", f"months is a whole number, got {raw_months!r}"))
        elif not 1 <= int(text) <= MAX_MONTHS:
            problems.append(FieldProblem("months", "out_of_range", f"months is 1 to {MAX_MONTHS}"))
        else:
            months = int(text)
    return MaturityParams(as_of, months), problems


def _maturity_params(request: Request, settings: Settings) -> MaturityParams:
    params, problems = maturity_params(
        request.query_params.get("as_of", ""),
        request.query_params.get("months", ""),
        local_today(settings).date(),
    )
    if problems:
        raise ValidationFailed("some parameters are invalid", problems)
    return params


@router.get("/touchpoints", response_model=HealthOut)
def touchpoints_health(
    request: Request,
    principal: AnalyticsReader,
    lake: LakeDep,
    settings: SettingsDep,
) -> HealthOut:
    """Per touchpoint and overall: uptime, latency, status now, accepted and rejected events,
    valid-event and identity match rates, freshness; events by day and type; rejection reasons."""
    f = api_filters(request, principal, lake, settings)
    return HealthOut.of(touchpoint_health(lake, f, datetime.now(UTC), tz=settings.default_timezone))


@router.get("/touchpoints.xlsx", response_class=Response)
def touchpoints_health_xlsx(
    request: Request,
    principal: AnalyticsReader,
    lake: LakeDep,
    settings: SettingsDep,
) -> Response:
    """The health dashboard as XLSX (same filters)."""
    f = api_filters(request, principal, lake, settings)
    report = touchpoint_health(lake, f, datetime.now(UTC), tz=settings.default_timezone)
    about = [(k, v) for k, v in f.as_query().items()]
    return xlsx_response(
        health_workbook(report, about=about, tz=settings.default_timezone),
        dated_filename("touchpoints", f.start, f.end),
    )


@router.get("/maturity", response_model=MaturityOut)
def touchpoint_maturity(
    request: Request,
    _: Annotated[Principal, Depends(require(Perm.ANALYTICS_READ))],
    lake: LakeDep,
    settings: SettingsDep,
) -> MaturityOut:
    """The five maturity indicators (0–100) with their components and formulas, as of ``as_of``,
    six months earlier, and at each of the last ``months`` month-ends."""
    p = _maturity_params(request, settings)
    return MaturityOut.of(maturity(lake, p.as_of, p.months, tz=settings.default_timezone))


@router.get("/maturity.xlsx", response_class=Response)
def touchpoint_maturity_xlsx(
    request: Request,
    _: Annotated[Principal, Depends(require(Perm.ANALYTICS_READ))],
    lake: LakeDep,
    settings: SettingsDep,
) -> Response:
    """The maturity indicators as XLSX (same parameters)."""
    p = _maturity_params(request, settings)
    report = maturity(lake, p.as_of, p.months, tz=settings.default_timezone)
    about = [("as_of", p.as_of.isoformat()), ("months", str(p.months))]
    return xlsx_response(
        maturity_workbook(report, about=about, tz=settings.default_timezone),
        f"maturity-{p.as_of.isoformat()}.xlsx",
    )
