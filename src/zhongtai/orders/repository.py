"""All of the order center's SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, Text, bindparam, cast, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import allowed_location_ids
from zhongtai.db import advisory_xact_lock
from zhongtai.orders.models import (
    Fulfilment,
    FulfilmentLine,
    FulfilmentSettings,
    Order,
    OrderEvent,
    OrderException,
    OrderLine,
    ParkedStatusUpdate,
    Refund,
    ReturnLine,
    ReturnRequest,
    RoutingDecision,
)
from zhongtai.outbox import OutboxEvent

OPEN_FULFILMENT = ("routed", "picking", "packed")
ACTIVE_FULFILMENT = ("routed", "picking", "packed", "shipped", "delivered")


def lock_external_id(session: Session, channel_code: str, external_id: str) -> None:
    """Serialises everything about one (channel, external id) until the transaction ends: a
    status that arrives while the order itself is being captured is either seen by the capture
    or parked before it looks (PostgreSQL advisory lock; SQLite has one writer at a time)."""
    advisory_xact_lock(session, f"order:{channel_code}:{external_id}")


def order_by_external(
    session: Session, channel_code: str, external_id: str, *, for_update: bool = False
) -> Order | None:
    stmt = select(Order).where(Order.channel_code == channel_code, Order.external_id == external_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def order_by_number(session: Session, number: str, *, for_update: bool = False) -> Order | None:
    stmt = select(Order).where(Order.number == number)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def order_by_id(session: Session, order_id: int, *, for_update: bool = False) -> Order | None:
    stmt = select(Order).where(Order.id == order_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def lines(session: Session, order_ids: Sequence[int]) -> dict[int, list[OrderLine]]:
    out: dict[int, list[OrderLine]] = defaultdict(list)
    if order_ids:
        stmt = select(OrderLine).where(OrderLine.order_id.in_(sorted(set(order_ids)))).order_by(OrderLine.line_no)
        for ln in session.scalars(stmt):
            out[ln.order_id].append(ln)
    return out


def fulfilments(session: Session, order_ids: Sequence[int]) -> dict[int, list[Fulfilment]]:
    out: dict[int, list[Fulfilment]] = defaultdict(list)
    if order_ids:
        stmt = select(Fulfilment).where(Fulfilment.order_id.in_(sorted(set(order_ids)))).order_by(Fulfilment.id)
        for f in session.scalars(stmt):
            out[f.order_id].append(f)
    return out


def fulfilment(session: Session, fulfilment_id: int) -> Fulfilment | None:
    return session.get(Fulfilment, fulfilment_id)


def fulfilment_by_number(session: Session, number: str) -> Fulfilment | None:
    return session.scalar(select(Fulfilment).where(Fulfilment.number == number))


def fulfilment_lines(session: Session, fulfilment_ids: Sequence[int]) -> dict[int, list[FulfilmentLine]]:
    out: dict[int, list[FulfilmentLine]] = defaultdict(list)
    if fulfilment_ids:
        stmt = (
            select(FulfilmentLine)
            .where(FulfilmentLine.fulfilment_id.in_(sorted(set(fulfilment_ids))))
            .order_by(FulfilmentLine.id)
        )
        for ln in session.scalars(stmt):
            out[ln.fulfilment_id].append(ln)
    return out


def open_workload(session: Session, location_ids: Iterable[int]) -> dict[int, int]:
    ids = sorted(set(location_ids))
    if not ids:
        return {}
    stmt = (
        select(Fulfilment.location_id, func.count())
        .where(Fulfilment.location_id.in_(ids), Fulfilment.status.in_(OPEN_FULFILMENT))
        .group_by(Fulfilment.location_id)
    )
    return {int(r[0]): int(r[1]) for r in session.execute(stmt)}


def settings(session: Session, location_ids: Iterable[int]) -> dict[int, FulfilmentSettings]:
    ids = sorted(set(location_ids))
    if not ids:
        return {}
    return {
        s.location_id: s
        for s in session.scalars(select(FulfilmentSettings).where(FulfilmentSettings.location_id.in_(ids)))
    }


def take_parked(session: Session, channel_code: str, external_id: str) -> list[ParkedStatusUpdate]:
    rows = list(
        session.scalars(
            select(ParkedStatusUpdate)
            .where(ParkedStatusUpdate.channel_code == channel_code, ParkedStatusUpdate.external_id == external_id)
            .order_by(ParkedStatusUpdate.id)
        )
    )
    if rows:
        session.execute(delete(ParkedStatusUpdate).where(ParkedStatusUpdate.id.in_([r.id for r in rows])))
    return rows


def timeline(session: Session, order_id: int) -> list[OrderEvent]:
    return list(session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)))


def decisions(session: Session, order_id: int) -> list[RoutingDecision]:
    stmt = select(RoutingDecision).where(RoutingDecision.order_id == order_id).order_by(RoutingDecision.id)
    return list(session.scalars(stmt))


def open_exceptions(session: Session, order_id: int, kind: str | None = None) -> list[OrderException]:
    stmt = select(OrderException).where(OrderException.order_id == order_id, OrderException.status == "open")
    if kind:
        stmt = stmt.where(OrderException.kind == kind)
    return list(session.scalars(stmt))


def exception(session: Session, exception_id: int) -> OrderException | None:
    return session.get(OrderException, exception_id)


def exceptions_query(*, status: str | None, kind: str | None, channel_code: str | None) -> Select[Any]:
    stmt = select(OrderException)
    if status:
        stmt = stmt.where(OrderException.status == status)
    if kind:
        stmt = stmt.where(OrderException.kind == kind)
    if channel_code:
        stmt = stmt.where(OrderException.channel_code == channel_code)
    return stmt


def order_numbers(session: Session, order_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    return {int(r[0]): str(r[1]) for r in session.execute(select(Order.id, Order.number).where(Order.id.in_(ids)))}


def scoped_orders(principal: Principal, stmt: Select[Any]) -> Select[Any]:
    """Store roles see orders sold at, collected at or fulfilled from their stores; a channel's
    API key sees its channel's orders."""
    if principal.kind == "api_key" and principal.channel_code is not None:
        stmt = stmt.where(Order.channel_code == principal.channel_code)
    allowed = allowed_location_ids(principal)
    if allowed is None:
        return stmt
    ids = sorted(allowed)
    return stmt.where(
        or_(
            Order.store_location_id.in_(ids),
            exists().where(Fulfilment.order_id == Order.id, Fulfilment.location_id.in_(ids)),
        )
    )


def orders_query(
    *,
    status: str | None = None,
    channel_code: str | None = None,
    delivery_mode: str | None = None,
    on_hold: bool | None = None,
    location_id: int | None = None,
    buyer_phone: str | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    q: str | None = None,
) -> Select[Any]:
    stmt = select(Order)
    if status:
        stmt = stmt.where(Order.status == status)
    if channel_code:
        stmt = stmt.where(Order.channel_code == channel_code)
    if delivery_mode:
        stmt = stmt.where(Order.delivery_mode == delivery_mode)
    if on_hold is not None:
        stmt = stmt.where(Order.on_hold.is_(on_hold))
    if location_id is not None:
        stmt = stmt.where(
            or_(
                Order.store_location_id == location_id,
                exists().where(Fulfilment.order_id == Order.id, Fulfilment.location_id == location_id),
            )
        )
    if buyer_phone:
        stmt = stmt.where(or_(Order.buyer_phone == buyer_phone, Order.ship_phone == buyer_phone))
    if placed_from:
        stmt = stmt.where(Order.placed_at >= placed_from)
    if placed_to:
        stmt = stmt.where(Order.placed_at < placed_to)
    if q:
        stmt = stmt.where(or_(Order.number == q, Order.external_id == q, Order.buyer_phone == q, Order.ship_phone == q))
    return stmt


def line_counts(session: Session, order_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    if not order_ids:
        return {}
    stmt = (
        select(OrderLine.order_id, func.count(), func.sum(OrderLine.quantity))
        .where(OrderLine.order_id.in_(sorted(set(order_ids))))
        .group_by(OrderLine.order_id)
    )
    return {int(r[0]): (int(r[1]), int(r[2] or 0)) for r in session.execute(stmt)}


def queue_query(location_id: int) -> Select[Any]:
    return select(Fulfilment).where(Fulfilment.location_id == location_id, Fulfilment.status.in_(OPEN_FULFILMENT))


def held_order_ids(session: Session, limit: int) -> list[int]:
    stmt = (
        select(OrderException.order_id)
        .where(OrderException.status == "open", OrderException.kind == "no_stock", OrderException.order_id.is_not(None))
        .order_by(OrderException.id)
        .limit(limit)
    )
    return [int(i) for i in session.scalars(stmt) if i is not None]


def unpaid_due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    stmt = (
        select(Order.id)
        .where(Order.payment_status == "unpaid", Order.pay_by < now, Order.status != "cancelled")
        .where(Order.status != "completed")
        .order_by(Order.pay_by)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def delivered_before_ids(session: Session, before: datetime, limit: int) -> list[int]:
    stmt = (
        select(Order.id)
        .where(Order.status == "delivered", Order.delivered_at < before)
        .order_by(Order.delivered_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def returns_of(session: Session, order_id: int) -> list[ReturnRequest]:
    stmt = select(ReturnRequest).where(ReturnRequest.order_id == order_id).order_by(ReturnRequest.id)
    return list(session.scalars(stmt))


def return_by_number(session: Session, number: str, *, for_update: bool = False) -> ReturnRequest | None:
    stmt = select(ReturnRequest).where(ReturnRequest.number == number)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def return_lines(session: Session, return_ids: Sequence[int]) -> dict[int, list[ReturnLine]]:
    out: dict[int, list[ReturnLine]] = defaultdict(list)
    if return_ids:
        stmt = select(ReturnLine).where(ReturnLine.return_id.in_(sorted(set(return_ids)))).order_by(ReturnLine.id)
        for ln in session.scalars(stmt):
            out[ln.return_id].append(ln)
    return out


def returns_query(*, status: str | None, location_id: int | None) -> Select[Any]:
    """Returns with their orders joined (so ``scoped_orders`` applies)."""
    stmt = select(ReturnRequest).join(Order, Order.id == ReturnRequest.order_id)
    if status:
        stmt = stmt.where(ReturnRequest.status == status)
    if location_id is not None:
        stmt = stmt.where(ReturnRequest.location_id == location_id)
    return stmt


def refunds_of(session: Session, order_id: int) -> list[Refund]:
    return list(session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)))


def refund(session: Session, refund_id: int, *, for_update: bool = False) -> Refund | None:
    stmt = select(Refund).where(Refund.id == refund_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def _member_order_columns() -> tuple[Any, ...]:
    line_count = select(func.count(OrderLine.id)).where(OrderLine.order_id == Order.id).scalar_subquery()
    return (
        Order.number,
        Order.member_id,
        Order.channel_code,
        Order.status,
        Order.payment_status,
        Order.delivery_mode,
        Order.store_location_id,
        Order.total_fen,
        Order.paid_fen,
        Order.refunded_fen,
        Order.currency,
        Order.placed_at,
        Order.completed_at,
        Order.ship_city,
        line_count,
    )


def member_order_rows(session: Session, member_ids: list[int], limit: int | None) -> list[Any]:
    stmt = (
        select(*_member_order_columns())
        .where(Order.member_id.in_(member_ids))
        .order_by(Order.placed_at.desc(), Order.id.desc())
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.execute(stmt).all())


def member_order_row(session: Session, number: str) -> Any:
    return session.execute(select(*_member_order_columns()).where(Order.number == number)).first()


def delivered_member_orders(session: Session, since: datetime, until: datetime, limit: int) -> list[Any]:
    """(number, member_id, channel_code, delivered_at) of members' orders delivered in [since, until)."""
    stmt = (
        select(Order.number, Order.member_id, Order.channel_code, Order.delivered_at)
        .where(
            Order.member_id.is_not(None),
            Order.delivered_at.is_not(None),
            Order.delivered_at >= since,
            Order.delivered_at < until,
            Order.status.in_(("delivered", "completed")),
        )
        .order_by(Order.delivered_at, Order.id)
        .limit(limit)
    )
    return list(session.execute(stmt))


def units_by_serial(session: Session, serial: str) -> list[tuple[Order, Fulfilment, OrderLine]]:
    """(order, fulfilment, line) of the fulfilment lines that picked ``serial``, newest first.
    Portable: a LIKE on the JSON text narrows the rows (both backends render ``"SERIAL"``), then
    the list itself is checked exactly."""
    escaped = serial.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = (
        select(FulfilmentLine, Fulfilment, Order, OrderLine)
        .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
        .join(Order, Order.id == Fulfilment.order_id)
        .join(OrderLine, OrderLine.id == FulfilmentLine.order_line_id)
        .where(cast(FulfilmentLine.serials, Text).like(f'%"{escaped}"%', escape="\\"))
        .order_by(Fulfilment.id.desc())
    )
    return [(o, f, ln) for fl, f, o, ln in session.execute(stmt) if serial in [str(x) for x in fl.serials]]


def set_member_ids(session: Session, assignments: dict[str, int]) -> int:
    if not assignments:
        return 0
    table = Order.__table__
    assert isinstance(table, Table)
    stmt = update(table).where(table.c.number == bindparam("b_number")).values(member_id=bindparam("b_member"))
    session.connection().execute(stmt, [{"b_number": n, "b_member": m} for n, m in assignments.items()])
    return len(assignments)


def move_member_orders(session: Session, from_ids: list[int], to_id: int) -> int:
    if not from_ids:
        return 0
    result = session.execute(update(Order).where(Order.member_id.in_(from_ids)).values(member_id=to_id))
    return int(getattr(result, "rowcount", 0) or 0)


def pseudonymise_member_orders(session: Session, member_ids: list[int], pseudonym: str) -> list[str]:
    numbers = list(session.scalars(select(Order.number).where(Order.member_id.in_(member_ids))))
    if not numbers:
        return []
    session.execute(
        update(Order)
        .where(Order.member_id.in_(member_ids))
        .values(
            buyer_phone="",
            buyer_name=pseudonym,
            buyer_unionid="",
            buyer_marketplace_id="",
            buyer_email="",
            ship_name=pseudonym,
            ship_phone="",
            ship_address="",
            ship_district="",
            ship_postcode="",
            ship_latitude=None,
            ship_longitude=None,
        )
    )
    events = session.scalars(
        select(OutboxEvent).where(OutboxEvent.aggregate_type == "order", OutboxEvent.aggregate_id.in_(numbers))
    )
    for event in events:
        if "buyer" in event.payload:
            event.payload = {k: v for k, v in event.payload.items() if k != "buyer"}
    return numbers


# Fulfilments that carried demand: rejected ones were re-routed (their lines live on in another
# fulfilment) and cancelled ones never left.
DEMAND_FULFILMENT = ACTIVE_FULFILMENT


def placed_business_day(session: Session, tz: str) -> Any:
    """The business day in ``tz`` of ``Order.placed_at`` as SQL (a date on PostgreSQL, ``YYYY-MM-DD``
    text on SQLite, which stores naive UTC: shifted by the zone's current offset, which is exact
    for China's one offset all year)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz, Order.placed_at))
    offset = datetime.now(ZoneInfo(tz)).utcoffset() or timedelta(0)
    return func.date(Order.placed_at, f"{int(offset.total_seconds() // 60):+d} minutes")


def daily_demand_rows(
    session: Session,
    since: datetime,
    until: datetime,
    tz: str,
    *,
    sku_ids: Sequence[int] | None = None,
    location_ids: Sequence[int] | None = None,
) -> list[tuple[Any, int, int, str, int]]:
    """(business day, sku, fulfilling location, channel, units) of orders placed in [since, until),
    from the fulfilment lines of orders that were not cancelled; the day is the business day in
    ``tz`` of the order's placing."""
    label = placed_business_day(session, tz).label("day")
    stmt = (
        select(
            label, FulfilmentLine.sku_id, Fulfilment.location_id, Order.channel_code, func.sum(FulfilmentLine.quantity)
        )
        .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
        .join(Order, Order.id == Fulfilment.order_id)
        .where(
            Order.placed_at >= since,
            Order.placed_at < until,
            Order.status != "cancelled",
            Fulfilment.status.in_(DEMAND_FULFILMENT),
        )
        .group_by(label, FulfilmentLine.sku_id, Fulfilment.location_id, Order.channel_code)
    )
    if sku_ids is not None:
        stmt = stmt.where(FulfilmentLine.sku_id.in_(sorted(set(sku_ids))))
    if location_ids is not None:
        stmt = stmt.where(Fulfilment.location_id.in_(sorted(set(location_ids))))
    return [(d, int(s), int(lo), str(c), int(q)) for d, s, lo, c, q in session.execute(stmt)]


def first_order_at(session: Session) -> datetime | None:
    first: datetime | None = session.scalar(select(func.min(Order.placed_at)))
    return first


# ---------------------------------------------------------------- analytics export (read-only)


def sales_line_rows(session: Session, since: datetime, until: datetime) -> list[tuple[Any, ...]]:
    """Every line of the orders placed in [since, until), with its order's fields and the location
    of the first active fulfilment that carries it (None before routing), in line id order."""
    fulfil = (
        select(Fulfilment.location_id)
        .join(FulfilmentLine, FulfilmentLine.fulfilment_id == Fulfilment.id)
        .where(FulfilmentLine.order_line_id == OrderLine.id, Fulfilment.status.in_(ACTIVE_FULFILMENT))
        .order_by(Fulfilment.id)
        .limit(1)
        .correlate(OrderLine)
        .scalar_subquery()
    )
    stmt = (
        select(
            OrderLine.id,
            OrderLine.order_id,
            Order.number,
            Order.channel_code,
            Order.store_location_id,
            fulfil,
            Order.member_id,
            Order.placed_at,
            Order.paid_at,
            Order.status,
            OrderLine.sku_id,
            OrderLine.quantity,
            OrderLine.cancelled,
            OrderLine.returned,
            OrderLine.unit_price_fen,
            OrderLine.total_fen,
            Order.currency,
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.placed_at >= since, Order.placed_at < until)
        .order_by(OrderLine.id)
    )
    return [tuple(r) for r in session.execute(stmt)]


def placed_range(session: Session) -> tuple[datetime | None, datetime | None]:
    """The first and the last ``placed_at`` of all orders."""
    row = session.execute(select(func.min(Order.placed_at), func.max(Order.placed_at))).one()
    return row[0], row[1]


def placed_at_of_changed_orders(session: Session, since: datetime) -> list[datetime]:
    """``placed_at`` of the orders changed after ``since``: stamped ``updated_at`` (status
    transitions) or a timeline entry (payment, return, refund, line cancellation). A scan of both
    tables: fine at the demo's scale; an index on ``order_events.at`` would serve a large one."""
    stamped = select(Order.placed_at).where(Order.updated_at > since)
    logged = select(Order.placed_at).where(Order.id.in_(select(OrderEvent.order_id).where(OrderEvent.at > since)))
    return [r[0] for r in session.execute(stamped.union(logged))]
