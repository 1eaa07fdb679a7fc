"""The member center reads the order center's outbox: every order's buyer becomes a sighting in
the identity graph, completed orders earn points, refunds take them back.

Each event is handled in its own transaction together with the consumer's cursor. Outbox ids are
assigned before commit, so an event can become visible after a later one; every run therefore also
re-reads the last ``LOOKBACK`` of events, and every step is idempotent (sightings per order number,
points per order and per refund, statistics recomputed from the orders).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from zhongtai.auth.principal import Principal
from zhongtai.db import Database, utcnow
from zhongtai.errors import DomainError
from zhongtai.members import identity, points, stats, tags
from zhongtai.members import repository as repo
from zhongtai.members.identifiers import IdentifierIn, IdKind, InvalidIdentifier, normalise
from zhongtai.orders import service as orders
from zhongtai.outbox import OutboxEvent, events_after

CURSOR = "orders"
TOPICS = ("order.created", "order.status_changed", "refund.succeeded")
LOOKBACK = timedelta(minutes=2)
ACTOR = Principal.system("member-center")
log = logging.getLogger("zhongtai.members")

# The marketplace id an order carries is the buyer's id on that channel's platform.
MARKETPLACE_KIND = {"jd": IdKind.JD_PIN, "tmall": IdKind.TMALL_UID, "taobao": IdKind.TMALL_UID}


def buyer_identifiers(buyer: dict[str, Any], channel_code: str, platform: str = "") -> list[IdentifierIn]:
    """The strong identifiers in an ``order.created`` event's ``buyer``; invalid values are dropped
    (a channel's garbage must not stop the order's member link)."""
    out: list[IdentifierIn] = []
    raw: list[tuple[IdKind, Any]] = [
        (IdKind.PHONE, buyer.get("phone")),
        (IdKind.EMAIL, buyer.get("email")),
        (IdKind.UNIONID, buyer.get("unionid")),
    ]
    market = MARKETPLACE_KIND.get(platform) or MARKETPLACE_KIND.get(channel_code.split("-")[0])
    if market is not None:
        raw.append((market, buyer.get("marketplace_id")))
    for kind, value in raw:
        if not value:
            continue
        try:
            out.append(IdentifierIn(kind, normalise(kind, str(value))))
        except InvalidIdentifier:
            continue
    return out


def handle(session: Session, event: OutboxEvent) -> None:
    payload = event.payload
    number = str(payload.get("number") or event.aggregate_id)
    if event.topic == "order.created":
        _order_created(session, event, number)
        return
    order = orders.order_buyer(session, number)
    if order is None or order.member_id is None:
        return
    if event.topic == "order.status_changed" and payload.get("to") == "completed":
        points.earn_for_order(
            session,
            ACTOR,
            order.member_id,
            order_number=number,
            paid_fen=order.paid_fen,  # refunds already recorded are deducted by the points ledger
            channel_code=order.channel_code,
            at=event.occurred_at,
        )
    elif event.topic == "order.status_changed" and payload.get("to") == "cancelled":
        stats.recompute(session, order.member_id)
    elif event.topic == "refund.succeeded":
        points.clawback_for_refund(
            session,
            ACTOR,
            order.member_id,
            order_number=number,
            refund_ref=f"{number}:{payload.get('refund_id', event.id)}",
            refund_fen=int(payload.get("amount_fen", 0)),
            at=event.occurred_at,
        )
        stats.recompute(session, order.member_id)


def _order_created(session: Session, event: OutboxEvent, number: str) -> None:
    if repo.observation(session, "order", number) is not None:
        return
    idents = buyer_identifiers(event.payload.get("buyer") or {}, event.channel_code or "", "")
    order = orders.order_buyer(session, number)
    if not idents or order is None:
        return
    member = identity.observe(
        session,
        ACTOR,
        source="order",
        source_ref=number,
        identifiers=idents,
        attributes={"city": order.ship_city},
        channel_code=order.channel_code,
        at=order.placed_at,
    )
    orders.assign_members(session, {number: member.id})
    stats.record_order(
        session,
        member.id,
        order_number=number,
        channel_code=order.channel_code,
        paid_fen=order.paid_fen or order.total_fen,
        placed_at=order.placed_at,
        location_id=order.store_location_id,
        delivery_mode=order.delivery_mode,
    )
    tags.evaluate_member(session, member.id, utcnow())


def consume(db: Database, *, limit: int = 500) -> int:
    """One pass over new order events; returns how many were handled."""
    with db.transaction(write=False) as session:
        after = repo.cursor(session, CURSOR)
        events = events_after(session, after, limit=limit, topics=TOPICS, also_since=utcnow() - LOOKBACK)
        for e in events:
            session.expunge(e)
    handled = 0
    for event in events:
        try:
            with db.transaction() as session:
                handle(session, event)
                if event.id > after:
                    repo.advance_cursor(session, CURSOR, event.id)
            handled += 1
        except DomainError:
            log.warning("order event %s skipped by the member center", event.id, exc_info=True)
    return handled
