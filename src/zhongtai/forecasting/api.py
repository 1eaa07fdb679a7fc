"""Forecast endpoints: runs (and starting one), the forecast of a pair, the event calendar, the
weekly accuracy. Reading needs planning:read (store roles: their stores' pairs and accuracy);
starting runs and editing events needs planning:write."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.forecasting import accuracy, calendar, service
from zhongtai.forecasting.models import ForecastEvent
from zhongtai.forecasting.schemas import (
    AccuracyOut,
    DayPointOut,
    EventIn,
    EventOut,
    EventPatch,
    PairSeriesOut,
    PairTotalOut,
    RunAccepted,
    RunIn,
    RunOut,
    SeriesEventOut,
    bp_to_rate,
)
from zhongtai.http import DbSession, Paging, require
from zhongtai.pagination import PageOut

router = APIRouter(tags=["forecasting"])

Read = Annotated[Principal, Depends(require(Perm.PLANNING_READ))]
Write = Annotated[Principal, Depends(require(Perm.PLANNING_WRITE))]


# ---------------------------------------------------------------- runs


@router.get("/forecasts/runs", response_model=PageOut[RunOut])
def list_runs(session: DbSession, _: Read, paging: Paging) -> PageOut[RunOut]:
    page = service.list_runs(session, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=[RunOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor)


@router.post("/forecasts/runs", response_model=RunAccepted, status_code=202)
def start_run(body: RunIn, session: DbSession, actor: Write) -> RunAccepted:
    """Forecasts every active SKU x location now, as a background job (progress on
    /api/v1/jobs/{id}); the same work as the nightly schedule."""
    job = service.start_forecast_job(session, actor, body.model_dump(exclude_none=True))
    return RunAccepted(job_id=job.id, status_url=f"/api/v1/jobs/{job.id}")


@router.get("/forecasts/runs/{run_id}", response_model=RunOut)
def get_run(run_id: int, session: DbSession, _: Read) -> RunOut:
    return RunOut.model_validate(service.get_run(session, run_id))


@router.get("/forecasts/pairs", response_model=list[PairTotalOut])
def top_pairs(
    session: DbSession,
    principal: Read,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[PairTotalOut]:
    """Pairs of the latest succeeded run by forecast units over the horizon."""
    rows, _ = service.top_pairs(session, principal, offset=offset, limit=limit)
    return [
        PairTotalOut(
            sku_code=r.sku_code,
            sku_name=r.sku_name,
            location_code=r.location_code,
            location_name=r.location_name,
            units=r.units,
            p10=r.p10,
            p90=r.p90,
        )
        for r in rows
    ]


@router.get("/forecasts/series", response_model=PairSeriesOut)
def pair_series(
    session: DbSession,
    principal: Read,
    sku: Annotated[str, Query(max_length=64)],
    location: Annotated[str, Query(max_length=64)],
    history_days: Annotated[int, Query(ge=7, le=730)] = 90,
    locale: Literal["zh-CN", "en"] = "zh-CN",
) -> PairSeriesOut:
    """The last days of actual demand and the latest forecast (mean, p10/p50/p90) of one SKU at
    one location, with the calendar events that apply to it."""
    s = service.pair_series(session, principal, sku, location, history_days=history_days)
    return PairSeriesOut(
        sku_code=s.sku_code,
        location_code=s.location_code,
        run_id=s.run_id,
        points=[
            DayPointOut(day=p.day, actual=p.actual, yhat=p.yhat, p10=p.p10, p50=p.p50, p90=p.p90) for p in s.points
        ],
        events=[
            SeriesEventOut(
                code=e.code,
                name=s.event_names[e.code][0 if locale == "zh-CN" else 1],
                start_day=e.start_day,
                end_day=e.end_day,
            )
            for e in s.events
        ],
    )


# ---------------------------------------------------------------- events


def _event_out(e: ForecastEvent) -> EventOut:
    out = EventOut.model_validate(e)
    out.measured_uplift = bp_to_rate(e.measured_uplift_bp)
    return out


@router.get("/forecasts/events", response_model=PageOut[EventOut])
def list_events(
    session: DbSession,
    _: Read,
    paging: Paging,
    overlapping_from: date | None = None,
    overlapping_to: date | None = None,
    kind: Annotated[str | None, Query(max_length=24)] = None,
) -> PageOut[EventOut]:
    window = None
    if overlapping_from or overlapping_to:
        window = (overlapping_from or date.min, overlapping_to or date.max)
    page = calendar.list_events(session, overlapping=window, kind=kind, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=[_event_out(e) for e in page.items], next_cursor=page.next_cursor)


@router.post("/forecasts/events", response_model=EventOut, status_code=201)
def create_event(body: EventIn, session: DbSession, actor: Write) -> EventOut:
    return _event_out(calendar.create_event(session, actor, body.model_dump()))


@router.get("/forecasts/events/{code}", response_model=EventOut)
def get_event(code: str, session: DbSession, _: Read) -> EventOut:
    return _event_out(calendar.get_event(session, code))


@router.patch("/forecasts/events/{code}", response_model=EventOut)
def update_event(code: str, body: EventPatch, session: DbSession, actor: Write) -> EventOut:
    return _event_out(calendar.update_event(session, actor, code, body.model_dump(exclude_unset=True)))


@router.delete("/forecasts/events/{code}", status_code=204)
def delete_event(code: str, session: DbSession, actor: Write) -> Response:
    calendar.delete_event(session, actor, code)
    return Response(status_code=204)


# ---------------------------------------------------------------- accuracy


@router.get("/forecasts/accuracy", response_model=list[AccuracyOut])
def get_accuracy(
    session: DbSession,
    principal: Read,
    level: Literal["overall", "category", "location"] = "overall",
    weeks: Annotated[int, Query(ge=1, le=104)] = 12,
) -> list[AccuracyOut]:
    """WAPE and bias per closed week, overall, per category or per location (store roles: their
    stores' location rows only)."""
    rows = accuracy.report(session, principal, level=level, weeks=weeks)
    return [
        AccuracyOut(
            week_start=r.week_start,
            level=r.level,
            category_code=r.key_code if level == "category" else None,
            category_name=r.key_name if level == "category" else None,
            location_code=r.key_code if level == "location" else None,
            location_name=r.key_name if level == "location" else None,
            run_id=r.run_id,
            units_actual=r.units_actual,
            units_forecast=round(r.units_forecast, 1),
            wape=bp_to_rate(r.wape_bp),
            bias=bp_to_rate(r.bias_bp),
        )
        for r in rows
    ]
