"""The touchpoint registry, heartbeats, the staged event stream and the rejected events.

``touchpoint_events`` is the staging table of the event stream: the unique (source, event_id)
makes ``POST /api/v1/events`` idempotent under concurrent retries, and the analytics sink copies
rows in id order into the columnar store. ``touchpoint_event_rejections`` keeps every event that
failed validation with its reasons: rejected events are counted and can be inspected, never
silently dropped.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.db import Base, BigIntPK, utcnow


class Touchpoint(Base):
    __tablename__ = "touchpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    # online | offline | commercial | social
    type: Mapped[str] = mapped_column(String(16), index=True)
    # web_shop, mini_program, official_account, app, marketplace_store, camera, interactive_screen,
    # smart_shelf, pos, scanner, vending_machine, ad_screen, ott, wechat_group, guide_wecom, ...
    kind: Mapped[str] = mapped_column(String(32))
    channel_code: Mapped[str | None] = mapped_column(ForeignKey("channels.code"), default=None)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), default=None, index=True)
    owner: Mapped[str] = mapped_column(String(64), default="")
    # The production factors it digitises (brand, goods, manufacturing, channel, marketing,
    # retail, service: Alibaba's seven), the coverage indicator's numerator.
    factors: Mapped[list[Any]] = mapped_column(default=list)
    cost_fen_month: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    # planned | active | paused | retired
    status: Mapped[str] = mapped_column(String(12), default="planned")
    connected_on: Mapped[date | None] = mapped_column(Date, default=None)
    # Heartbeats are expected every this many seconds; uptime counts the intervals that had one.
    heartbeat_interval_s: Mapped[int] = mapped_column(Integer, default=300)
    first_event_at: Mapped[datetime | None] = mapped_column(default=None)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TouchpointHeartbeat(Base):
    __tablename__ = "touchpoint_heartbeats"
    __table_args__ = (Index("ix_touchpoint_heartbeats_tp_at", "touchpoint_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    touchpoint_id: Mapped[int] = mapped_column(ForeignKey("touchpoints.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # ok | degraded | down, as the touchpoint reports itself
    status: Mapped[str] = mapped_column(String(12), default="ok")
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    version: Mapped[str] = mapped_column(String(32), default="")
    detail: Mapped[str] = mapped_column(String(255), default="")


class TouchpointEvent(Base):
    __tablename__ = "touchpoint_events"
    __table_args__ = (UniqueConstraint("source", "event_id", name="uq_touchpoint_events_source_event"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # The touchpoint's code, or "order-center" for the order events the order center emits.
    source: Mapped[str] = mapped_column(String(48))
    event_id: Mapped[str] = mapped_column(String(64))
    touchpoint_id: Mapped[int | None] = mapped_column(ForeignKey("touchpoints.id"), default=None, index=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    occurred_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel_code: Mapped[str | None] = mapped_column(String(32), default=None)
    location_id: Mapped[int | None] = mapped_column(Integer, default=None)
    member_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    # The event carried a member identifier (phone, unionid, card ...): the match rate's denominator.
    identified: Mapped[bool] = mapped_column(default=False)
    anonymous_id: Mapped[str] = mapped_column(String(64), default="")
    session_id: Mapped[str] = mapped_column(String(64), default="")
    sku_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # The type's own fields (query, results, dwell_s, gender, age_band, coupon, order_number ...).
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class EventRejection(Base):
    __tablename__ = "touchpoint_event_rejections"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    touchpoint_id: Mapped[int | None] = mapped_column(ForeignKey("touchpoints.id"), default=None, index=True)
    source: Mapped[str] = mapped_column(String(48), default="")
    event_id: Mapped[str] = mapped_column(String(64), default="")
    type: Mapped[str] = mapped_column(String(32), default="")
    # [{"field": "events[3].data.query", "code": "missing", "message": "..."}]
    errors: Mapped[list[Any]] = mapped_column(default=list)
    # The event as received (truncated to 4 KB): kept for inspection and replay.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TouchpointCursor(Base):
    """How far a touchpoints consumer has read the outbox (the order center's order events)."""

    __tablename__ = "touchpoint_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
