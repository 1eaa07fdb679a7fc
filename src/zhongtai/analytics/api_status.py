"""Analytics HTTP API: the sink's status and the near-real-time event counts under /api/v1/analytics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from zhongtai.analytics import service
from zhongtai.analytics.deps import LakeDep
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import allowed_location_ids
from zhongtai.db import Database
from zhongtai.errors import FieldProblem, ValidationFailed
from zhongtai.http import get_db, require

router = APIRouter(prefix="/analytics", tags=["analytics"])
Reader = Annotated[Principal, Depends(require(Perm.ANALYTICS_READ))]


class TableStatusOut(BaseModel):
    name: str
    mode: str
    rows: int
    files: int
    partitions: int
    watermark: int | None
    synced_at: datetime | None


class LakeStatusOut(BaseModel):
    lake_id: str
    synced_at: datetime | None
    last_run: dict[str, Any]
    pending_events: int
    lag_s: float
    newest_staged_id: int
    tables: list[TableStatusOut]


class EventSummaryOut(BaseModel):
    touchpoint: str | None
    start: date | None
    end: date | None
    by_type: dict[str, int]
    total: int
    synced_at: datetime | None


@router.get("/status", response_model=LakeStatusOut)
def lake_status(_: Reader, lake: LakeDep, db: Annotated[Database, Depends(get_db)]) -> LakeStatusOut:
    """Rows, files and last sync per lake table, and how far the lake is behind the staged events."""
    st = service.status(db, lake)
    return LakeStatusOut(
        lake_id=st.lake_id,
        synced_at=st.synced_at,
        last_run=st.last_run,
        pending_events=st.pending_events,
        lag_s=round(st.lag_s, 3),
        newest_staged_id=st.newest_staged_id,
        tables=[TableStatusOut(**t.__dict__) for t in st.tables],
    )


@router.get("/events/summary", response_model=EventSummaryOut)
def events_summary(
    principal: Reader,
    lake: LakeDep,
    touchpoint: Annotated[str | None, Query(max_length=48)] = None,
    start: date | None = None,
    end: date | None = None,
) -> EventSummaryOut:
    """Events per type (and in total) in the lake, for a touchpoint code and local days
    [start, end]; store-scoped callers count the events of their stores only."""
    if start is not None and end is not None and end < start:
        raise ValidationFailed("invalid period", [FieldProblem("end", "before_start", "end is before start")])
    scope = allowed_location_ids(principal)
    counts = service.event_counts(
        lake,
        touchpoint=touchpoint,
        start=start,
        end=end,
        location_ids=sorted(scope) if scope is not None else None,
    )
    return EventSummaryOut(
        touchpoint=touchpoint,
        start=start,
        end=end,
        by_type=counts.by_type,
        total=counts.total,
        synced_at=counts.synced_at,
    )
