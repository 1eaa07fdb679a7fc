"""Analytics SQL: the sink state (watermarks, the lake identity)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhongtai.analytics.models import AnalyticsState
from zhongtai.db import utcnow

LAKE_ID = "lake_id"
SINK = "sink"
# Rows that describe the lake rather than how far it is filled: a reset keeps them.
KEPT_ON_RESET = (LAKE_ID, SINK)


def get(session: Session, name: str) -> AnalyticsState | None:
    return session.get(AnalyticsState, name)


def all_states(session: Session) -> dict[str, AnalyticsState]:
    return {s.name: s for s in session.scalars(select(AnalyticsState).order_by(AnalyticsState.name))}


def ensure(session: Session, name: str) -> AnalyticsState:
    """The named row, created when missing (a concurrent creator wins without an error)."""
    row = session.get(AnalyticsState, name)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = AnalyticsState(name=name, last_id=0, value="", updated_at=utcnow())
            session.add(row)
    except IntegrityError:
        row = session.get(AnalyticsState, name, populate_existing=True)
        assert row is not None
    return row


def set_state(
    session: Session,
    name: str,
    *,
    last_id: int | None = None,
    last_at: datetime | None = None,
    value: str | None = None,
) -> AnalyticsState:
    row = ensure(session, name)
    if last_id is not None:
        row.last_id = last_id
    if last_at is not None:
        row.last_at = last_at
    if value is not None:
        row.value = value
    row.updated_at = utcnow()
    session.flush()
    return row


def reset_watermarks(session: Session) -> int:
    """Forgets how far every table was copied (the lake is being rebuilt)."""
    result = session.execute(
        delete(AnalyticsState)
        .where(AnalyticsState.name.not_in(KEPT_ON_RESET))
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return int(getattr(result, "rowcount", 0) or 0)
