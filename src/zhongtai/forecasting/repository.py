"""Queries of the forecasting context. All its SQL lives here."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session

from zhongtai.forecasting.models import ForecastAccuracy, ForecastError, ForecastEvent, ForecastRun, ForecastValue

# Rows per INSERT: PostgreSQL takes 65535 bind parameters, a value row has 8.
_INSERT_CHUNK = 5000


# ---------------------------------------------------------------- runs and values


def latest_run(session: Session, *, status: str | None = "succeeded") -> ForecastRun | None:
    stmt = select(ForecastRun).order_by(ForecastRun.id.desc()).limit(1)
    if status is not None:
        stmt = stmt.where(ForecastRun.status == status)
    return session.scalar(stmt)


def forecast_run_since(session: Session, since: datetime) -> bool:
    """Whether a forward-looking run (not a backfill) has succeeded or is running since ``since``."""
    found = session.scalar(
        select(ForecastRun.id)
        .where(
            ForecastRun.started_at >= since,
            ForecastRun.status.in_(("succeeded", "running")),
            ForecastRun.trigger != "backfill",
        )
        .limit(1)
    )
    return found is not None


def get_run(session: Session, run_id: int) -> ForecastRun | None:
    return session.get(ForecastRun, run_id)


def runs_stmt() -> Select[Any]:
    return select(ForecastRun)


def running_run(session: Session) -> ForecastRun | None:
    return session.scalar(select(ForecastRun).where(ForecastRun.status == "running").order_by(ForecastRun.id))


def _insert_chunked(session: Session, table: Any, rows: Iterable[dict[str, Any]]) -> int:
    """Bulk insert: one executemany per chunk of ``_INSERT_CHUNK`` rows, never an ORM object per row."""
    count = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _INSERT_CHUNK:
            session.execute(insert(table), chunk)
            count += len(chunk)
            chunk = []
    if chunk:
        session.execute(insert(table), chunk)
        count += len(chunk)
    return count


def insert_values(
    session: Session, run_id: int, rows: Iterable[tuple[int, int, date, float, float, float, float]]
) -> int:
    """(sku, location, day, yhat, p10, p50, p90) of one run."""
    names = ("sku_id", "location_id", "day", "yhat", "p10", "p50", "p90")
    return _insert_chunked(
        session, ForecastValue, ({"run_id": run_id, **dict(zip(names, r, strict=True))} for r in rows)
    )


def values_between(
    session: Session,
    run_id: int,
    first_day: date,
    last_day: date,
    *,
    sku_ids: Collection[int] | None = None,
    location_ids: Collection[int] | None = None,
) -> list[tuple[int, int, date, float, float, float, float]]:
    """(sku, location, day, yhat, p10, p50, p90) of one run, ordered by pair and day. Filtering by
    SKU and location separately over-selects for a sparse pair list; callers drop the extra pairs."""
    stmt = select(
        ForecastValue.sku_id,
        ForecastValue.location_id,
        ForecastValue.day,
        ForecastValue.yhat,
        ForecastValue.p10,
        ForecastValue.p50,
        ForecastValue.p90,
    ).where(ForecastValue.run_id == run_id, ForecastValue.day >= first_day, ForecastValue.day <= last_day)
    if sku_ids is not None:
        stmt = stmt.where(ForecastValue.sku_id.in_(sorted(sku_ids)))
    if location_ids is not None:
        stmt = stmt.where(ForecastValue.location_id.in_(sorted(location_ids)))
    stmt = stmt.order_by(ForecastValue.sku_id, ForecastValue.location_id, ForecastValue.day)
    return [
        (int(s), int(lo), d, float(y), float(a), float(b), float(c)) for s, lo, d, y, a, b, c in session.execute(stmt)
    ]


def pair_totals(
    session: Session, run_id: int, *, location_ids: Collection[int] | None, offset: int, limit: int
) -> tuple[list[tuple[int, int, float, float, float]], int]:
    """Pairs of one run by forecast volume over the horizon: (sku, location, Σyhat, Σp10, Σp90)."""
    base = select(ForecastValue.sku_id, ForecastValue.location_id).where(ForecastValue.run_id == run_id)
    if location_ids is not None:
        base = base.where(ForecastValue.location_id.in_(sorted(location_ids)))
    total = int(session.scalar(select(func.count()).select_from(base.distinct().subquery())) or 0)
    volume = func.sum(ForecastValue.yhat)
    stmt = (
        select(
            ForecastValue.sku_id,
            ForecastValue.location_id,
            volume,
            func.sum(ForecastValue.p10),
            func.sum(ForecastValue.p90),
        )
        .where(ForecastValue.run_id == run_id)
        .group_by(ForecastValue.sku_id, ForecastValue.location_id)
        .order_by(volume.desc(), ForecastValue.sku_id, ForecastValue.location_id)
        .offset(offset)
        .limit(limit)
    )
    if location_ids is not None:
        stmt = stmt.where(ForecastValue.location_id.in_(sorted(location_ids)))
    rows = [(int(s), int(lo), float(v), float(a), float(b)) for s, lo, v, a, b in session.execute(stmt)]
    return rows, total


def insert_errors(session: Session, run_id: int, rows: Iterable[tuple[int, int, int, float, int]]) -> int:
    """(sku, location, block_days, sum_rmse, blocks) of one run."""
    names = ("sku_id", "location_id", "block_days", "sum_rmse", "blocks")
    return _insert_chunked(
        session, ForecastError, ({"run_id": run_id, **dict(zip(names, r, strict=True))} for r in rows)
    )


def errors_of(
    session: Session,
    run_id: int,
    *,
    sku_ids: Collection[int] | None = None,
    location_ids: Collection[int] | None = None,
) -> dict[tuple[int, int], tuple[float, int]]:
    """{(sku, location): (sum_rmse, block_days)} of one run; like ``values_between`` the two id
    filters over-select for a sparse pair list."""
    stmt = select(
        ForecastError.sku_id, ForecastError.location_id, ForecastError.sum_rmse, ForecastError.block_days
    ).where(ForecastError.run_id == run_id)
    if sku_ids is not None:
        stmt = stmt.where(ForecastError.sku_id.in_(sorted(sku_ids)))
    if location_ids is not None:
        stmt = stmt.where(ForecastError.location_id.in_(sorted(location_ids)))
    return {(int(s), int(lo)): (float(e), int(d)) for s, lo, e, d in session.execute(stmt)}


def delete_errors(session: Session, run_ids: Sequence[int]) -> int:
    if not run_ids:
        return 0
    result = session.execute(delete(ForecastError).where(ForecastError.run_id.in_(sorted(run_ids))))
    return int(getattr(result, "rowcount", 0) or 0)


def runs_with_values(session: Session) -> list[int]:
    return [
        int(r) for r in session.scalars(select(ForecastValue.run_id).distinct().order_by(ForecastValue.run_id.desc()))
    ]


def delete_values(session: Session, run_ids: Sequence[int]) -> int:
    if not run_ids:
        return 0
    result = session.execute(delete(ForecastValue).where(ForecastValue.run_id.in_(sorted(run_ids))))
    return int(getattr(result, "rowcount", 0) or 0)


def run_for_week(session: Session, week_start: date) -> ForecastRun | None:
    """The forecast on hand when a week began: the succeeded run with values whose history ended
    before the week (first forecast day on or before its Monday), the most recent such."""
    has_values = select(ForecastValue.run_id).where(ForecastValue.run_id == ForecastRun.id).exists()
    return session.scalar(
        select(ForecastRun)
        .where(ForecastRun.status == "succeeded", ForecastRun.first_day <= week_start, has_values)
        .order_by(ForecastRun.first_day.desc(), ForecastRun.id.desc())
        .limit(1)
    )


def run_totals_by_pair(session: Session, run_id: int, first_day: date, last_day: date) -> list[tuple[int, int, float]]:
    """(sku, location, Σyhat) over [first_day, last_day] of one run."""
    stmt = (
        select(ForecastValue.sku_id, ForecastValue.location_id, func.sum(ForecastValue.yhat))
        .where(ForecastValue.run_id == run_id, ForecastValue.day >= first_day, ForecastValue.day <= last_day)
        .group_by(ForecastValue.sku_id, ForecastValue.location_id)
    )
    return [(int(s), int(lo), float(v)) for s, lo, v in session.execute(stmt)]


# ---------------------------------------------------------------- events


def event_by_code(session: Session, code: str) -> ForecastEvent | None:
    return session.scalar(select(ForecastEvent).where(ForecastEvent.code == code))


def event_by_id(session: Session, event_id: int) -> ForecastEvent | None:
    return session.get(ForecastEvent, event_id)


def events_stmt(*, overlapping: tuple[date, date] | None = None, kind: str | None = None) -> Select[Any]:
    stmt = select(ForecastEvent)
    if overlapping is not None:
        first, last = overlapping
        stmt = stmt.where(ForecastEvent.start_day <= last, ForecastEvent.end_day >= first)
    if kind:
        stmt = stmt.where(ForecastEvent.kind == kind)
    return stmt


def list_events(
    session: Session,
    *,
    overlapping: tuple[date, date] | None = None,
    kind: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[ForecastEvent], int]:
    stmt = events_stmt(overlapping=overlapping, kind=kind)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page = stmt.order_by(ForecastEvent.start_day, ForecastEvent.code).offset(offset)
    if limit is not None:
        page = page.limit(limit)
    return list(session.scalars(page)), total


# ---------------------------------------------------------------- accuracy


def replace_accuracy(session: Session, week_start: date, rows: Sequence[ForecastAccuracy]) -> None:
    session.execute(delete(ForecastAccuracy).where(ForecastAccuracy.week_start == week_start))
    session.add_all(rows)
    session.flush()


def accuracy_rows(
    session: Session,
    *,
    level: str,
    first_week: date | None = None,
    last_week: date | None = None,
    category_id: int | None = None,
    location_ids: Collection[int] | None = None,
) -> list[ForecastAccuracy]:
    stmt = select(ForecastAccuracy).where(ForecastAccuracy.level == level)
    if first_week is not None:
        stmt = stmt.where(ForecastAccuracy.week_start >= first_week)
    if last_week is not None:
        stmt = stmt.where(ForecastAccuracy.week_start <= last_week)
    if category_id is not None:
        stmt = stmt.where(ForecastAccuracy.category_id == category_id)
    if location_ids is not None:
        stmt = stmt.where(ForecastAccuracy.location_id.in_(sorted(location_ids)))
    return list(session.scalars(stmt.order_by(ForecastAccuracy.week_start, ForecastAccuracy.id)))


def accuracy_weeks(session: Session) -> set[date]:
    return set(session.scalars(select(ForecastAccuracy.week_start).distinct()))
