"""Read-only figures of the order center for the console: orders per day and channel, open work
per location. Aggregated in SQL (never by loading orders), scoped like ``list_orders``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import allowed_location_ids
from zhongtai.orders import repository as repo
from zhongtai.orders.models import Fulfilment, Order, ReturnRequest

DEFAULT_TZ = "Asia/Shanghai"
MAX_DAYS = 92


@dataclass(frozen=True, slots=True)
class DayChannel:
    day: date  # the business day, in ``tz``
    channel_code: str
    orders: int
    total_fen: int


def _local_day(session: Session, tz: str) -> Any:
    """The placing day in ``tz`` as an SQL expression (``YYYY-MM-DD`` on SQLite, a date on PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz, Order.placed_at))
    # SQLite stores naive UTC: shift by the zone's offset now (China keeps one offset all year).
    offset = datetime.now(ZoneInfo(tz)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return func.date(Order.placed_at, f"{minutes:+d} minutes")


def orders_by_day_and_channel(
    session: Session,
    principal: Principal,
    days: int = 14,
    *,
    tz: str = DEFAULT_TZ,
    today: date | None = None,
) -> list[DayChannel]:
    """Orders placed on each of the last ``days`` business days (today included), per channel,
    with their value; cancelled orders count (they were placed). Days without orders are absent."""
    days = max(1, min(days, MAX_DAYS))
    zone = ZoneInfo(tz)
    last = today or datetime.now(zone).date()
    first = last - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, zone).astimezone(UTC)
    until = datetime.combine(last + timedelta(days=1), time.min, zone).astimezone(UTC)
    day = _local_day(session, tz).label("day")
    stmt = (
        select(day, Order.channel_code, func.count(Order.id), func.coalesce(func.sum(Order.total_fen), 0))
        .where(Order.placed_at >= since, Order.placed_at < until)
        .group_by(day, Order.channel_code)
    )
    stmt = repo.scoped_orders(principal, stmt)
    out = []
    for raw_day, channel, count, total in session.execute(stmt):
        when = raw_day if isinstance(raw_day, date) else date.fromisoformat(str(raw_day)[:10])
        out.append(DayChannel(when, str(channel), int(count), int(total)))
    return sorted(out, key=lambda r: (r.day, r.channel_code))


def open_fulfilment_counts(session: Session, principal: Principal) -> dict[int, dict[str, int]]:
    """{location id: {status: open fulfilments}} for the locations the principal may see."""
    stmt = (
        select(Fulfilment.location_id, Fulfilment.status, func.count(Fulfilment.id))
        .where(Fulfilment.status.in_(repo.OPEN_FULFILMENT))
        .group_by(Fulfilment.location_id, Fulfilment.status)
    )
    allowed = allowed_location_ids(principal)
    if allowed is not None:
        stmt = stmt.where(Fulfilment.location_id.in_(sorted(allowed)))
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for location_id, status, count in session.execute(stmt):
        out[int(location_id)][str(status)] = int(count)
    return dict(out)


@dataclass(frozen=True, slots=True)
class Backlog:
    on_hold: int  # orders waiting on an open exception
    returns_requested: int  # returns waiting for a decision


def backlog(session: Session, principal: Principal) -> Backlog:
    """What waits for someone, among the orders the principal may see."""
    held = repo.scoped_orders(principal, select(func.count(Order.id)).where(Order.on_hold.is_(True)))
    returns = repo.scoped_orders(
        principal,
        select(func.count(ReturnRequest.id))
        .join(Order, Order.id == ReturnRequest.order_id)
        .where(ReturnRequest.status == "requested"),
    )
    return Backlog(int(session.scalar(held) or 0), int(session.scalar(returns) or 0))
