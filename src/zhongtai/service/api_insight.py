"""Customer service HTTP API: the bot's metrics under /api/v1/service/metrics.

Read-only (``service:read``). Days are business days in the platform's timezone
(``settings.default_timezone``); without ``start``/``end`` the last 14 days, today included.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.http import DbSession, get_settings_dep, require
from zhongtai.service import metrics
from zhongtai.service.schemas_metrics import DailyMetricsOut, PeriodMetricsOut, UnansweredOut
from zhongtai.settings import Settings

router = APIRouter(prefix="/service/metrics", tags=["service"])

Read = Annotated[Principal, Depends(require(Perm.SERVICE_READ))]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
Start = Annotated[date | None, Query(description="first business day (default: 13 days before end)")]
End = Annotated[date | None, Query(description="last business day, included (default: today)")]
Channel = Annotated[str | None, Query(max_length=32, description="one channel's figures only")]
DEFAULT_DAYS = 14


def _period(settings: Settings, start: date | None, end: date | None) -> tuple[date, date]:
    last = end or datetime.now(ZoneInfo(settings.default_timezone)).date()
    return start or last - timedelta(days=DEFAULT_DAYS - 1), last


@router.get("/daily", response_model=list[DailyMetricsOut])
def daily(
    session: DbSession,
    principal: Read,
    settings: AppSettings,
    start: Start = None,
    end: End = None,
    channel_code: Channel = None,
) -> list[DailyMetricsOut]:
    """One row per business day and channel with any conversation or customer message:
    self-resolution, intent hit and hand-off rates, satisfaction, queue waits."""
    first, last = _period(settings, start, end)
    return metrics.daily_metrics(
        session, principal, start=first, end=last, channel_code=channel_code, tz=settings.default_timezone
    )


@router.get("/period", response_model=PeriodMetricsOut)
def period(
    session: DbSession,
    principal: Read,
    settings: AppSettings,
    start: Start = None,
    end: End = None,
    channel_code: Channel = None,
) -> PeriodMetricsOut:
    """The period's totals beside the equally long period before it, per channel and per day."""
    first, last = _period(settings, start, end)
    return metrics.period_metrics(
        session, principal, start=first, end=last, channel_code=channel_code, tz=settings.default_timezone
    )


@router.get("/unanswered", response_model=list[UnansweredOut])
def unanswered(
    session: DbSession,
    principal: Read,
    settings: AppSettings,
    start: Start = None,
    end: End = None,
    channel_code: Channel = None,
    limit: Annotated[int, Query(ge=1, le=metrics.MAX_UNANSWERED)] = 20,
) -> list[UnansweredOut]:
    """The questions the bot could not answer (fallbacks and the trainer's queue), grouped by
    their normalised text, most asked first."""
    first, last = _period(settings, start, end)
    return metrics.top_unanswered(
        session, principal, start=first, end=last, channel_code=channel_code, limit=limit, tz=settings.default_timezone
    )
