"""The transactional outbox: domain events written in the same transaction as the change.

A service calls ``emit`` inside its transaction; the event becomes visible exactly when the
change commits (never before, never without it). Consumers — channel webhooks today, the member
center and the event stream later — read the table in id order from their own cursor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhongtai.db import Base, BigIntPK, utcnow


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_dispatch", "dispatched", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # "order.created", "order.status_changed", "fulfilment.shipped", "return.received", ...
    topic: Mapped[str] = mapped_column(String(64), index=True)
    # The aggregate the event is about: ("order", "ZT2611220001AB").
    aggregate_type: Mapped[str] = mapped_column(String(32))
    aggregate_id: Mapped[str] = mapped_column(String(64), index=True)
    # The channel whose webhook should hear about it (None: internal only).
    channel_code: Mapped[str | None] = mapped_column(String(32), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once the webhook dispatcher has fanned it out to deliveries.
    dispatched: Mapped[bool] = mapped_column(default=False)


def new_event(
    topic: str,
    aggregate_type: str,
    aggregate_id: str,
    payload: dict[str, Any],
    *,
    channel_code: str | None = None,
    at: datetime | None = None,
) -> OutboxEvent:
    """An event not yet in a session: for callers that add a verb's events in one batch."""
    return OutboxEvent(
        topic=topic,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        channel_code=channel_code,
        payload=payload,
        occurred_at=at or utcnow(),
        dispatched=channel_code is None,
    )


def emit(
    session: Session,
    topic: str,
    aggregate_type: str,
    aggregate_id: str,
    payload: dict[str, Any],
    *,
    channel_code: str | None = None,
    at: datetime | None = None,
) -> OutboxEvent:
    event = new_event(topic, aggregate_type, aggregate_id, payload, channel_code=channel_code, at=at)
    session.add(event)
    return event


def events_after(
    session: Session,
    after_id: int,
    *,
    limit: int = 500,
    topics: tuple[str, ...] = (),
    also_since: datetime | None = None,
) -> list[OutboxEvent]:
    """Events with id > after_id in order (a consumer's cursor). Ids are taken before commit, so an
    event can become visible after a later one: ``also_since`` re-reads events that occurred since
    then whatever their id (the consumer's handling must be idempotent)."""
    after = OutboxEvent.id > after_id
    if also_since is not None:
        after = or_(after, OutboxEvent.occurred_at >= also_since)
    stmt = select(OutboxEvent).where(after).order_by(OutboxEvent.id).limit(limit)
    if topics:
        stmt = stmt.where(OutboxEvent.topic.in_(topics))
    return list(session.scalars(stmt))
