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
from sqlalchemy.orm import Session

from zhongtai.touchpoints import repository as repo

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
    rows = []
    for row in repo.staged_event_rows(session, after_id, limit):
        values, rest = _flatten(row[14])
        rows.append((*row[:14], *values, rest))
    return pl.DataFrame(rows, schema=EVENT_COLUMNS, orient="row")


def rejections_after(session: Session, after_id: int, limit: int) -> pl.DataFrame:
    """Rejected events after ``after_id``: ``codes`` comma-joins the distinct error codes, ``errors``
    keeps the whole list as JSON text."""
    rows = []
    for row in repo.rejection_rows(session, after_id, limit):
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
    schema: dict[str, Any] = {
        "id": pl.Int64,
        "touchpoint_id": pl.Int32,
        "at": UTC_TS,
        "status": pl.Utf8,
        "latency_ms": pl.Int32,
    }
    return pl.DataFrame(repo.heartbeat_rows(session, after_id, limit), schema=schema, orient="row")


def export_touchpoints(session: Session) -> pl.DataFrame:
    """The registry as the lake's ``touchpoints`` table (``factors`` comma-joined)."""
    rows = [(*r[:9], ",".join(str(f) for f in (r[9] or [])), *r[10:]) for r in repo.registry_rows(session)]
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
    return repo.staged_backlog(session, after_id)


def purge_staged(session: Session, up_to_id: int, received_before: datetime) -> int:
    """Deletes staged events already copied to the lake (id <= ``up_to_id``) received before
    ``received_before``; returns how many. After it, ``rebuild`` can no longer restore them."""
    return repo.purge_staged(session, up_to_id, received_before)
