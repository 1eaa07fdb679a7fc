"""Touchpoints SQL: every query over the registry, heartbeats, staged events and rejections.

The event stream's writes are built to run concurrently without serialising on the touchpoint:
events go in with one multi-row ``INSERT … ON CONFLICT (source, event_id) DO NOTHING RETURNING``
and the touchpoint's bookkeeping columns are set by conditional UPDATEs that match (and so lock)
the row only when there is something to change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from zhongtai.db import settled_after
from zhongtai.touchpoints.models import (
    EventRejection,
    Touchpoint,
    TouchpointCursor,
    TouchpointEvent,
    TouchpointHeartbeat,
)

# Rows per statement of a bulk import (executemany); one multi-row event INSERT carries at most
# a batch of the event API (1000 rows x 14 columns stays under SQLite's 32,766 parameters).
IMPORT_CHUNK = 5_000


# ---------------------------------------------------------------- the registry


def by_code(session: Session, code: str) -> Touchpoint | None:
    return session.scalar(select(Touchpoint).where(Touchpoint.code == code))


def by_codes(session: Session, codes: Iterable[str]) -> dict[str, Touchpoint]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return {t.code: t for t in session.scalars(select(Touchpoint).where(Touchpoint.code.in_(wanted)))}


def touchpoints_query(
    *,
    type: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    location_id: int | None = None,
    q: str | None = None,
) -> Select[Any]:
    stmt = select(Touchpoint)
    if type:
        stmt = stmt.where(Touchpoint.type == type)
    if status:
        stmt = stmt.where(Touchpoint.status == status)
    if channel:
        stmt = stmt.where(Touchpoint.channel_code == channel)
    if location_id is not None:
        stmt = stmt.where(Touchpoint.location_id == location_id)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Touchpoint.code.ilike(like), Touchpoint.name.ilike(like), Touchpoint.name_en.ilike(like)))
    return stmt


def scope_visible(stmt: Select[Any], allowed: frozenset[int]) -> Select[Any]:
    """A store-scoped reader sees their stores' touchpoints and those without a store (online)."""
    if not allowed:
        return stmt.where(Touchpoint.location_id.is_(None))
    return stmt.where(or_(Touchpoint.location_id.is_(None), Touchpoint.location_id.in_(sorted(allowed))))


# ---------------------------------------------------------------- the event stream


EVENTS: Table = cast(Table, TouchpointEvent.__table__)
REJECTIONS: Table = cast(Table, EventRejection.__table__)


def _dialect_insert(session: Session, model: Any) -> Any:
    """A Core INSERT on the model's table: bulk rows skip the ORM's per-row bookkeeping."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model.__table__)
    return sqlite.insert(model.__table__)


def insert_events(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Inserts staged events, skipping (source, event_id) pairs already stored; returns the
    event ids this statement inserted. Callers pass rows sorted by event id: concurrent batches
    then wait on each other's keys in the same order and never deadlock."""
    if not rows:
        return set()
    # One cached statement run as executemany: SQLAlchemy batches the rows into multi-row
    # INSERT … RETURNING statements ("insertmanyvalues") without compiling a new statement per
    # batch size.
    stmt = (
        _dialect_insert(session, TouchpointEvent)
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(EVENTS.c.event_id)
    )
    return {str(r) for r in session.scalars(stmt, list(rows))}


def insert_rejections(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(REJECTIONS), list(rows))


def insert_many(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Plain executemany inserts in chunks (history imports)."""
    for start in range(0, len(rows), IMPORT_CHUNK):
        session.execute(insert(cast(Table, model.__table__)), list(rows[start : start + IMPORT_CHUNK]))
    return len(rows)


def insert_events_ignoring_duplicates(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Inserts in chunks (SQLAlchemy batches each chunk into multi-row statements) skipping the
    (source, event_id) pairs already stored (history imports, the order-event consumer); returns
    the rows inserted."""
    inserted = 0
    for start in range(0, len(rows), IMPORT_CHUNK):
        stmt = (
            _dialect_insert(session, TouchpointEvent)
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
            .returning(EVENTS.c.id)
        )
        inserted += len(session.execute(stmt, list(rows[start : start + IMPORT_CHUNK])).all())
    return inserted


def mark_first_event(session: Session, touchpoint_id: int, at: datetime) -> None:
    """Sets first_event_at once: only the first batch ever matches (and briefly locks) the row."""
    session.execute(
        update(Touchpoint)
        .where(Touchpoint.id == touchpoint_id, Touchpoint.first_event_at.is_(None))
        .values(first_event_at=at)
        .execution_options(synchronize_session=False)
    )


def touch_last_event(session: Session, touchpoint_id: int, at: datetime, older_than: datetime) -> None:
    """Moves last_event_at to ``at`` only when it is older than ``older_than``: a busy touchpoint's
    concurrent batches update the row at most every few seconds instead of each one."""
    session.execute(
        update(Touchpoint)
        .where(
            Touchpoint.id == touchpoint_id,
            or_(Touchpoint.last_event_at.is_(None), Touchpoint.last_event_at < older_than),
        )
        .values(last_event_at=at)
        .execution_options(synchronize_session=False)
    )


def activate_if_planned(session: Session, touchpoint_id: int, connected_on: date) -> bool:
    """planned → active with its connection day; True when this call did it."""
    result = session.execute(
        update(Touchpoint)
        .where(Touchpoint.id == touchpoint_id, Touchpoint.status == "planned")
        .values(status="active", connected_on=func.coalesce(Touchpoint.connected_on, connected_on))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def record_heartbeat(session: Session, touchpoint_id: int, values: dict[str, Any]) -> None:
    """A heartbeat row, and the touchpoint's last heartbeat when this one is the newest."""
    session.execute(insert(TouchpointHeartbeat).values(touchpoint_id=touchpoint_id, **values))
    session.execute(
        update(Touchpoint)
        .where(
            Touchpoint.id == touchpoint_id,
            or_(Touchpoint.last_heartbeat_at.is_(None), Touchpoint.last_heartbeat_at <= values["at"]),
        )
        .values(last_heartbeat_at=values["at"], last_latency_ms=values["latency_ms"])
        .execution_options(synchronize_session=False)
    )


def set_bounds(
    session: Session,
    touchpoint_id: int,
    *,
    first_event: datetime | None,
    last_event: datetime | None,
    last_heartbeat: datetime | None,
    last_latency_ms: int | None,
) -> None:
    """Widens a touchpoint's first/last event and last heartbeat to include imported history."""
    tp = session.get(Touchpoint, touchpoint_id)
    if tp is None:
        return
    if first_event is not None and (tp.first_event_at is None or first_event < tp.first_event_at):
        tp.first_event_at = first_event
    if last_event is not None and (tp.last_event_at is None or last_event > tp.last_event_at):
        tp.last_event_at = last_event
    if last_heartbeat is not None and (tp.last_heartbeat_at is None or last_heartbeat > tp.last_heartbeat_at):
        tp.last_heartbeat_at = last_heartbeat
        tp.last_latency_ms = last_latency_ms


# ---------------------------------------------------------------- reading what arrived


def heartbeats_since(session: Session, touchpoint_id: int, since: datetime) -> list[TouchpointHeartbeat]:
    stmt = (
        select(TouchpointHeartbeat)
        .where(TouchpointHeartbeat.touchpoint_id == touchpoint_id, TouchpointHeartbeat.at >= since)
        .order_by(TouchpointHeartbeat.at, TouchpointHeartbeat.id)
    )
    return list(session.scalars(stmt))


def event_counts_by_type(session: Session, touchpoint_id: int, since: datetime) -> list[tuple[str, int]]:
    stmt = (
        select(TouchpointEvent.type, func.count(TouchpointEvent.id))
        .where(TouchpointEvent.touchpoint_id == touchpoint_id, TouchpointEvent.received_at >= since)
        .group_by(TouchpointEvent.type)
        .order_by(func.count(TouchpointEvent.id).desc(), TouchpointEvent.type)
    )
    return [(str(t), int(n)) for t, n in session.execute(stmt)]


def rejections_query(touchpoint_id: int) -> Select[Any]:
    return select(EventRejection).where(EventRejection.touchpoint_id == touchpoint_id)


def rejection_totals(session: Session, touchpoint_id: int, since: datetime) -> tuple[int, int]:
    """(all rejections, those received since ``since``) of a touchpoint."""
    total = session.scalar(select(func.count(EventRejection.id)).where(EventRejection.touchpoint_id == touchpoint_id))
    recent = session.scalar(
        select(func.count(EventRejection.id)).where(
            EventRejection.touchpoint_id == touchpoint_id, EventRejection.received_at >= since
        )
    )
    return int(total or 0), int(recent or 0)


def rejection_errors(session: Session, touchpoint_id: int, limit: int) -> list[list[Any]]:
    """The error lists of a touchpoint's latest rejections (counted by code in Python: the JSON
    column is queried the same way on both databases)."""
    stmt = (
        select(EventRejection.errors)
        .where(EventRejection.touchpoint_id == touchpoint_id)
        .order_by(EventRejection.id.desc())
        .limit(limit)
    )
    return [list(e or []) for e in session.scalars(stmt)]


def event_counts(session: Session, touchpoint_ids: Sequence[int]) -> dict[int, int]:
    if not touchpoint_ids:
        return {}
    stmt = (
        select(TouchpointEvent.touchpoint_id, func.count(TouchpointEvent.id))
        .where(TouchpointEvent.touchpoint_id.in_(sorted(set(touchpoint_ids))))
        .group_by(TouchpointEvent.touchpoint_id)
    )
    return {int(t): int(n) for t, n in session.execute(stmt) if t is not None}


# ---------------------------------------------------------------- the outbox cursor


def cursor(session: Session, name: str) -> int:
    row = session.get(TouchpointCursor, name)
    return row.last_id if row is not None else 0


def advance_cursor(session: Session, name: str, last_id: int) -> None:
    row = session.get(TouchpointCursor, name, with_for_update=True)
    if row is None:
        session.add(TouchpointCursor(name=name, last_id=last_id))
    elif last_id > row.last_id:
        row.last_id = last_id


# ---------------------------------------------------------------- the analytics sink's reads
# Append-only tables are read in id order after a watermark, never past a row a running
# transaction could still precede (``settled_after``).


def staged_event_rows(session: Session, after_id: int, limit: int) -> list[Any]:
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
        .where(settled_after(session, e, e.id, after_id))
        .order_by(e.id)
        .limit(limit)
    )
    return list(session.execute(stmt))


def rejection_rows(session: Session, after_id: int, limit: int) -> list[Any]:
    r = EventRejection
    stmt = (
        select(r.id, r.received_at, r.touchpoint_id, r.source, r.event_id, r.type, r.errors)
        .where(settled_after(session, r, r.id, after_id))
        .order_by(r.id)
        .limit(limit)
    )
    return list(session.execute(stmt))


def heartbeat_rows(session: Session, after_id: int, limit: int) -> list[tuple[Any, ...]]:
    h = TouchpointHeartbeat
    stmt = (
        select(h.id, h.touchpoint_id, h.at, h.status, h.latency_ms)
        .where(settled_after(session, h, h.id, after_id))
        .order_by(h.id)
        .limit(limit)
    )
    return [tuple(r) for r in session.execute(stmt)]


def registry_rows(session: Session) -> list[Any]:
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
    return list(session.execute(stmt))


def staged_backlog(session: Session, after_id: int) -> tuple[int, datetime | None, int]:
    e = TouchpointEvent
    count, oldest = session.execute(select(func.count(), func.min(e.received_at)).where(e.id > after_id)).one()
    newest = session.scalar(select(func.max(e.id))) or 0
    return int(count or 0), oldest, int(newest)


def purge_staged(session: Session, up_to_id: int, received_before: datetime) -> int:
    e = TouchpointEvent
    result = session.execute(
        delete(e).where(e.id <= up_to_id, e.received_at < received_before).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
