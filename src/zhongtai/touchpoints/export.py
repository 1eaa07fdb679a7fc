"""Reads of the touchpoints tables for the analytics sink, as frames with the lake's columns.

The staged stream (``touchpoint_events``), the rejections and the heartbeats only grow, so the
sink reads them in id order after its watermark; the registry is small and is read whole. An
event's type-specific ``data`` is flattened: the keys every dashboard filters or sums on become
columns, whatever else the touchpoint sent stays in ``data`` as JSON text.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, text
from sqlalchemy.orm import Session

from zhongtai.touchpoints.models import EventRejection, Touchpoint, TouchpointEvent, TouchpointHeartbeat

UTC_TS = pl.Datetime("us", "UTC")

# data key -> lake column type; these keys leave ``data`` and become columns.
DATA_COLUMNS: dict[str, Any] = {
    "quantity": pl.Int32,
    "value_fen": pl.Int64,
    "query": pl.Utf8,
    "results": pl.Int32,
    "dwell_s": pl.Int32,
    "gender": pl.Utf8,
    "age_band": pl.Utf8,
    "coupon": pl.Utf8,
    "order_number": pl.Utf8,
}

EVENT_COLUMNS: dict[str, Any] = {
    "event_pk": pl.Int64,
    "event_id": pl.Utf8,
    "source": pl.Utf8,
    "touchpoint_id": pl.Int32,
    "type": pl.Utf8,
    "occurred_at": UTC_TS,
    "received_at": UTC_TS,
    "channel_code": pl.Utf8,
    "location_id": pl.Int32,
    "member_id": pl.Int64,
    "identified": pl.Boolean,
    "anonymous_id": pl.Utf8,
    "session_id": pl.Utf8,
    "sku_id": pl.Int32,
    **DATA_COLUMNS,
    "data": pl.Utf8,
}


# On PostgreSQL an id is drawn before its transaction commits: a row with a higher id can be
# visible while a lower one is still in flight. The sink reads only up to the first row written
# by a transaction not older than the oldest one still running in this database (looked up in a
# statement of its own, before the rows are read), so its watermark never passes a row that
# commits later. Transaction ids are compared modulo 2**32. SQLite has one writer at a time.
OLDEST_RUNNING_XID = (
    "SELECT backend_xid::text::bigint FROM pg_stat_activity WHERE datname = current_database() "
    "AND backend_xid IS NOT NULL ORDER BY age(backend_xid) DESC LIMIT 1"
)
NOT_OLDER = "((({table}.xmin::text::bigint) - :oldest_xid + 4294967296) % 4294967296) < 2147483648"


def oldest_running_xid(session: Session) -> int | None:
    """The id of the oldest transaction running in this database with an id (PostgreSQL)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    value = session.execute(text(OLDEST_RUNNING_XID)).scalar()
    return None if value is None else int(value)


def settled_bound(session: Session, table: Any, id_column: Any, after_id: int) -> ColumnElement[bool]:
    """A condition keeping the rows above ``after_id`` before the first one a running transaction
    could still precede (see above)."""
    above: ColumnElement[bool] = id_column > after_id
    oldest = oldest_running_xid(session)
    if oldest is None:
        return above
    not_older = text(NOT_OLDER.format(table=table.__tablename__)).bindparams(oldest_xid=oldest)
    unsettled = select(func.min(id_column)).where(id_column > after_id, not_older).scalar_subquery()
    return and_(above, or_(unsettled.is_(None), id_column < unsettled))


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _flatten(data: dict[str, Any] | None) -> tuple[list[Any], str | None]:
    """(values of DATA_COLUMNS in order, the remaining keys as JSON text or None)."""
    rest = dict(data or {})
    values: list[Any] = []
    for key, dtype in DATA_COLUMNS.items():
        raw = rest.pop(key, None)
        values.append(_text(raw) if dtype == pl.Utf8 else _int(raw))
    return values, (json.dumps(rest, ensure_ascii=False, sort_keys=True) if rest else None)


def events_after(session: Session, after_id: int, limit: int) -> pl.DataFrame:
    """Up to ``limit`` staged events with an id above ``after_id``, in id order, flattened to the
    lake's ``events`` columns (``day``/``hour`` are left to the sink, which knows the time zone)."""
    e = TouchpointEvent
    stmt = (
        select(
            e.id,
            e.event_id,
            e.source,
            e.touchpoint_id,
            e.type,
            e.occurred_at,
            e.received_at,
            e.channel_code,
            e.location_id,
            e.member_id,
            e.identified,
            e.anonymous_id,
            e.session_id,
            e.sku_id,
            e.data,
        )
        .where(settled_bound(session, e, e.id, after_id))
        .order_by(e.id)
        .limit(limit)
    )
    rows = []
    for row in session.execute(stmt):
        values, rest = _flatten(row[14])
        rows.append((*row[:14], *values, rest))
    return pl.DataFrame(rows, schema=EVENT_COLUMNS, orient="row")


def rejections_after(session: Session, after_id: int, limit: int) -> pl.DataFrame:
    """Rejected events after ``after_id``: ``codes`` comma-joins the distinct error codes, ``errors``
    keeps the whole list as JSON text."""
    r = EventRejection
    stmt = (
        select(r.id, r.received_at, r.touchpoint_id, r.source, r.event_id, r.type, r.errors)
        .where(settled_bound(session, r, r.id, after_id))
        .order_by(r.id)
        .limit(limit)
    )
    rows = []
    for row in session.execute(stmt):
        errors = list(row[6] or [])
        codes = sorted({str(x.get("code", "")) for x in errors if isinstance(x, dict)} - {""})
        rows.append((*row[:6], ",".join(codes), json.dumps(errors, ensure_ascii=False)))
    schema: dict[str, Any] = {
        "id": pl.Int64,
        "received_at": UTC_TS,
        "touchpoint_id": pl.Int32,
        "source": pl.Utf8,
        "event_id": pl.Utf8,
        "type": pl.Utf8,
        "codes": pl.Utf8,
        "errors": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def heartbeats_after(session: Session, after_id: int, limit: int) -> pl.DataFrame:
    h = TouchpointHeartbeat
    stmt = (
        select(h.id, h.touchpoint_id, h.at, h.status, h.latency_ms)
        .where(settled_bound(session, h, h.id, after_id))
        .order_by(h.id)
        .limit(limit)
    )
    schema: dict[str, Any] = {
        "id": pl.Int64,
        "touchpoint_id": pl.Int32,
        "at": UTC_TS,
        "status": pl.Utf8,
        "latency_ms": pl.Int32,
    }
    return pl.DataFrame([tuple(r) for r in session.execute(stmt)], schema=schema, orient="row")


def export_touchpoints(session: Session) -> pl.DataFrame:
    """The registry as the lake's ``touchpoints`` table (``factors`` comma-joined)."""
    t = Touchpoint
    stmt = select(
        t.id,
        t.code,
        t.name,
        t.name_en,
        t.type,
        t.kind,
        t.channel_code,
        t.location_id,
        t.owner,
        t.factors,
        t.cost_fen_month,
        t.currency,
        t.status,
        t.created_at,
        t.connected_on,
        t.first_event_at,
        t.heartbeat_interval_s,
    ).order_by(t.id)
    rows = [(*r[:9], ",".join(str(f) for f in (r[9] or [])), *r[10:]) for r in session.execute(stmt)]
    schema: dict[str, Any] = {
        "touchpoint_id": pl.Int32,
        "code": pl.Utf8,
        "name": pl.Utf8,
        "name_en": pl.Utf8,
        "type": pl.Utf8,
        "kind": pl.Utf8,
        "channel_code": pl.Utf8,
        "location_id": pl.Int32,
        "owner": pl.Utf8,
        "factors": pl.Utf8,
        "cost_fen_month": pl.Int64,
        "currency": pl.Utf8,
        "status": pl.Utf8,
        "created_at": UTC_TS,
        "connected_on": pl.Date,
        "first_event_at": UTC_TS,
        "heartbeat_interval_s": pl.Int32,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def staged_backlog(session: Session, after_id: int) -> tuple[int, datetime | None, int]:
    """(staged events above ``after_id``, the oldest one's receipt time, the highest staged id)."""
    e = TouchpointEvent
    count, oldest = session.execute(select(func.count(), func.min(e.received_at)).where(e.id > after_id)).one()
    newest = session.scalar(select(func.max(e.id))) or 0
    return int(count or 0), oldest, int(newest)


def purge_staged(session: Session, up_to_id: int, received_before: datetime) -> int:
    """Deletes staged events already copied to the lake (id <= ``up_to_id``) received before
    ``received_before``; returns how many. After it, ``rebuild`` can no longer restore them."""
    e = TouchpointEvent
    result = session.execute(
        delete(e).where(e.id <= up_to_id, e.received_at < received_before).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
