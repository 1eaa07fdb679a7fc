"""The order center's lifecycle as touchpoint events: every order's placement, payment,
cancellation, completion and refund joins the one event stream (source ``order-center``).

The consumer reads the outbox from its cursor (``touchpoint_cursors`` "order-events") and stages
one event per outbox event with ``event_id = "outbox-<id>"``: the unique (source, event_id) makes a
re-run, or the re-read of the last minutes (outbox ids are taken before commit, so an event can
become visible after a later one), a no-op. Events and the cursor move in one transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from zhongtai.db import Database, utcnow
from zhongtai.orders import service as orders
from zhongtai.outbox import OutboxEvent, events_after
from zhongtai.touchpoints import repository as repo

CURSOR = "order-events"
SOURCE = "order-center"
TOPICS = ("order.created", "order.paid", "order.status_changed", "refund.succeeded")
STATUS_TYPES = {"paid": "order_paid", "cancelled": "order_cancelled", "completed": "order_completed"}
LOOKBACK = timedelta(minutes=2)


def event_type(event: OutboxEvent) -> str | None:
    """The touchpoint event type of an outbox event, or None for the ones the stream ignores
    (an order going to picking or shipped is fulfilment, not a customer touch)."""
    if event.topic == "order.created":
        return "order_placed"
    if event.topic == "order.paid":
        return "order_paid"
    if event.topic == "refund.succeeded":
        return "order_refunded"
    if event.topic == "order.status_changed":
        return STATUS_TYPES.get(str(event.payload.get("to", "")))
    return None


def staged_row(event: OutboxEvent, type_: str, order: orders.MemberOrder | None, received_at: Any) -> dict[str, Any]:
    number = str(event.payload.get("number") or event.aggregate_id)
    total = order.total_fen if order is not None else int(event.payload.get("total_fen", 0) or 0)
    data: dict[str, Any] = {"order_number": number, "total_fen": total, "value_fen": total}
    if type_ == "order_refunded":
        refund = int(event.payload.get("amount_fen", 0) or 0)
        data.update(refund_fen=refund, value_fen=refund)
    member_id = order.member_id if order is not None else None
    return {
        "source": SOURCE,
        "event_id": f"outbox-{event.id}",
        "touchpoint_id": None,
        "type": type_,
        "occurred_at": event.occurred_at,
        "received_at": received_at,
        "channel_code": order.channel_code if order is not None else event.channel_code,
        "location_id": order.store_location_id if order is not None else None,
        "member_id": member_id,
        "identified": member_id is not None,
        "anonymous_id": "",
        "session_id": "",
        "sku_id": None,
        "data": data,
    }


def consume_in(session: Session, *, limit: int = 500) -> int:
    """One pass inside the caller's transaction; returns the events newly staged."""
    after = repo.cursor(session, CURSOR)
    now = utcnow()
    events = events_after(session, after, limit=limit, topics=TOPICS, also_since=now - LOOKBACK)
    if not events:
        return 0
    numbers = {str(e.payload.get("number") or e.aggregate_id) for e in events}
    buyers = {n: orders.order_buyer(session, n) for n in sorted(numbers)}
    rows = []
    for e in events:
        type_ = event_type(e)
        if type_ is not None:
            rows.append(staged_row(e, type_, buyers.get(str(e.payload.get("number") or e.aggregate_id)), now))
    rows.sort(key=lambda r: str(r["event_id"]))
    staged = repo.insert_events_ignoring_duplicates(session, rows)
    last = max(e.id for e in events)
    if last > after:
        repo.advance_cursor(session, CURSOR, last)
    return staged


def consume(db: Database, *, limit: int = 500) -> int:
    """One pass over new order events in its own transaction (the scheduled job)."""
    with db.transaction() as session:
        return consume_in(session, limit=limit)
