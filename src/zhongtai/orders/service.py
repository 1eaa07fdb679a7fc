"""The order center (订单中心): intake from every channel, reservation at capture, routing and
splitting, the lifecycle with its timeline, POS sales, returns and refunds.

Contract (see docs/orders.md):

* **Intake** (``intake``) is idempotent on (channel, external id). The first delivery creates the
  order, routes it and holds its stock, in the caller's transaction; a later delivery of the same
  order is a status update (``paid``, ``cancelled``, ``completed``) applied on a monotone ladder,
  so deliveries in any order end in the same state. A status for an order not yet seen is parked
  and applied when the order arrives. What cannot be settled (a cancel after shipment, no stock)
  opens an exception and puts the order on hold.
* **Every state change** of an order goes through ``_transition`` (and of a fulfilment through
  ``_fulfilment_transition``): one timeline row with the actor, one outbox event for webhooks.
* Every verb locks the order row first (``SELECT … FOR UPDATE``), so two verbs on one order
  serialise; stock is held and given back only through the inventory service.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

import polars as pl
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.pii import Masker, masker_for
from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import can_access_location, ensure_location_access
from zhongtai.catalog.service import SkuRef, sku_refs_by_codes, sku_refs_by_ids
from zhongtai.channels import service as channels_service
from zhongtai.channels.service import Channel
from zhongtai.db import utcnow
from zhongtai.errors import (
    Conflict,
    FieldProblem,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    not_found,
)
from zhongtai.inventory import service as inventory
from zhongtai.inventory.errors import InsufficientStock
from zhongtai.inventory.schemas import ConsumeLine, LocationOut, ReserveLine, StockLineIn
from zhongtai.orders import adapters, routing
from zhongtai.orders import repository as repo
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
from zhongtai.orders.schemas import (
    AddressOut,
    BuyerOut,
    ExceptionOut,
    FulfilmentLineOut,
    FulfilmentOut,
    FulfilmentSettingsIn,
    IntakeOut,
    OrderIn,
    OrderLineOut,
    OrderOut,
    OrderSummaryOut,
    PickIn,
    QueueItemOut,
    ReceiveLineIn,
    RefundOut,
    ReturnEligibilityLine,
    ReturnEligibilityOut,
    ReturnLineIn,
    ReturnLineOut,
    ReturnOut,
    RoutingDecisionOut,
    ShipIn,
    StatusUpdateIn,
    TimelineEntryOut,
)
from zhongtai.outbox import new_event
from zhongtai.pagination import Page, SortKey, paginate

SYSTEM = Principal.system("order-center")
# 七天无理由退货: returns are accepted within this many days of delivery.
RETURN_WINDOW_DAYS = 7
# Delivered orders complete by themselves after this many days without a complaint.
AUTO_COMPLETE_DAYS = 7
ROUTE_ATTEMPTS = 3

# The order ladder. Derived statuses (from fulfilments) may step back (a rejected store's order
# goes from routed back to created until it is routed again); terminal states never change.
ORDER_FLOW: dict[str, frozenset[str]] = {
    "created": frozenset({"reserved", "routed", "cancelled", "completed"}),
    "reserved": frozenset({"routed", "created", "cancelled"}),
    "routed": frozenset({"created", "picking", "packed", "partially_shipped", "shipped", "cancelled"}),
    "picking": frozenset({"created", "routed", "packed", "partially_shipped", "shipped", "cancelled"}),
    "packed": frozenset({"created", "routed", "picking", "partially_shipped", "shipped", "cancelled"}),
    "partially_shipped": frozenset({"shipped", "delivered"}),
    "shipped": frozenset({"partially_shipped", "delivered", "completed"}),
    "delivered": frozenset({"partially_shipped", "shipped", "completed"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}
FULFILMENT_FLOW: dict[str, frozenset[str]] = {
    "routed": frozenset({"picking", "packed", "shipped", "rejected", "cancelled"}),
    "picking": frozenset({"packed", "shipped", "rejected", "cancelled"}),
    "packed": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
}
KIND_BY_MODE = {"express": "ship", "same_city": "same_city", "click_collect": "pickup", "pos": "pos"}
# What a channel status means on the ladder (cancelled and completed are terminal).
CHANNEL_RANK = {"created": 0, "paid": 1, "completed": 2, "cancelled": 3}
_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _new_number(now: datetime) -> str:
    return "ZT" + now.strftime("%y%m%d") + "".join(secrets.choice(_B32) for _ in range(8))


def _fail(problems: list[FieldProblem], detail: str) -> None:
    if problems:
        raise ValidationFailed(f"{detail}: {len(problems)} problem(s)", errors=problems)


# ================================================================ verbs and their events
# A verb's timeline rows and outbox events are collected while it runs and added to the session
# when it returns, so they are written in one batch per table (not one INSERT each).
_PENDING = "zt.pending_events"
P = ParamSpec("P")
R = TypeVar("R")


def _verb(fn: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Session, P], R]:
    def run(session: Session, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(session, *args, **kwargs)
        finally:
            pending = session.info.pop(_PENDING, None)
            if pending:
                session.add_all(pending)

    functools.update_wrapper(run, fn)
    return run


# ================================================================ per-transaction caches
# One verb reads an order's lines, fulfilments and channel many times; they are loaded once per
# session (the ORM objects stay live, so changes are seen) and extended when rows are added.


def _lines(session: Session, order: Order) -> list[OrderLine]:
    cache: dict[int, list[OrderLine]] = session.info.setdefault("zt.order_lines", {})
    if order.id not in cache:
        cache[order.id] = repo.lines(session, [order.id])[order.id]
    return cache[order.id]


def _fulfilments(session: Session, order: Order) -> list[Fulfilment]:
    cache: dict[int, list[Fulfilment]] = session.info.setdefault("zt.fulfilments", {})
    if order.id not in cache:
        cache[order.id] = repo.fulfilments(session, [order.id])[order.id]
    return cache[order.id]


_FLINES = "zt.fulfilment_lines"


def _fulfilment_lines(session: Session, fulfilment_ids: Sequence[int]) -> dict[int, list[FulfilmentLine]]:
    cache: dict[int, list[FulfilmentLine]] = session.info.setdefault(_FLINES, {})
    missing = [i for i in fulfilment_ids if i not in cache]
    if missing:
        found = repo.fulfilment_lines(session, missing)
        for i in missing:
            cache[i] = found.get(i, [])
    return {i: cache[i] for i in fulfilment_ids}


def _channel(session: Session, code: str) -> Channel:
    cache: dict[str, Channel] = session.info.setdefault("zt.channels", {})
    if code not in cache:
        cache[code] = channels_service.get_channel(session, code)
    return cache[code]


# ================================================================ timeline and transitions


def _event(
    session: Session,
    actor: Principal,
    order: Order,
    kind: str,
    message: str,
    *,
    from_status: str = "",
    to_status: str = "",
    fulfilment_id: int | None = None,
    data: dict[str, Any] | None = None,
    topic: str | None = None,
    at: datetime | None = None,
    outbox_data: dict[str, Any] | None = None,
) -> None:
    """A timeline row (and, with ``topic``, an outbox event). ``outbox_data`` goes to the event
    only: the buyer identifiers for the member center are not copied onto the timeline (PIPL)."""
    at = at or utcnow()
    pending: list[Any] = session.info.setdefault(_PENDING, [])
    pending.append(
        OrderEvent(
            order_id=order.id,
            at=at,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            fulfilment_id=fulfilment_id,
            message=message[:255],
            data=data or {},
            actor_type=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name[:128],
        )
    )
    if topic:
        pending.append(
            new_event(
                topic,
                "order",
                order.number,
                {
                    "number": order.number,
                    "channel_code": order.channel_code,
                    "external_id": order.external_id,
                    "status": order.status,
                    "payment_status": order.payment_status,
                    "from": from_status,
                    "to": to_status,
                    "message": message,
                    **(data or {}),
                    **(outbox_data or {}),
                },
                channel_code=order.channel_code,
                at=at,
            )
        )


def _transition(session: Session, actor: Principal, order: Order, to: str, message: str = "", **data: Any) -> None:
    """The one way an order's status changes: checked against the ladder, stamped, written to the
    timeline with the actor, announced through the outbox."""
    frm = order.status
    if frm == to:
        return
    if to not in ORDER_FLOW[frm]:
        raise InvalidTransition(f"order {order.number} cannot go from {frm} to {to}", extra={"status": frm})
    now = utcnow()
    order.status = to
    order.updated_at = now
    if to == "shipped" and order.shipped_at is None:
        order.shipped_at = now
    elif to == "delivered":
        order.delivered_at = now
    elif to == "completed":
        order.completed_at = now
    elif to == "cancelled":
        order.cancelled_at = now
    _event(
        session,
        actor,
        order,
        "status",
        message or f"{frm} → {to}",
        from_status=frm,
        to_status=to,
        data=data,
        topic="order.status_changed",
        at=now,
    )


def _fulfilment_transition(
    session: Session, actor: Principal, order: Order, f: Fulfilment, to: str, message: str = "", **data: Any
) -> None:
    frm = f.status
    if to not in FULFILMENT_FLOW[frm]:
        raise InvalidTransition(f"fulfilment {f.number} is {frm}, cannot become {to}", extra={"status": frm})
    now = utcnow()
    f.status = to
    f.updated_at = now
    if to == "shipped":
        f.shipped_at = now
    elif to == "delivered":
        f.delivered_at = now
    _event(
        session,
        actor,
        order,
        "fulfilment",
        message or f"{f.number}: {frm} → {to}",
        from_status=frm,
        to_status=to,
        fulfilment_id=f.id,
        data={"fulfilment": f.number, **data},
        topic=f"fulfilment.{to}",
        at=now,
    )


def _derived_status(order: Order, lines: list[OrderLine], fulfilments: list[Fulfilment]) -> str:
    if order.status in ("cancelled", "completed"):
        return order.status
    wanted = sum(ln.quantity - ln.cancelled for ln in lines)
    shipped = sum(ln.shipped for ln in lines)
    active = [f for f in fulfilments if f.status not in ("rejected", "cancelled")]
    if wanted == 0:
        return "cancelled"
    if shipped == 0:
        open_ = [f.status for f in active]
        if not open_:
            return "created"
        for s in ("routed", "picking", "packed"):
            if s in open_:
                return s
        return "routed"
    if shipped < wanted:
        return "partially_shipped"
    sent = [f for f in active if f.status in ("shipped", "delivered")]
    return "delivered" if sent and all(f.status == "delivered" for f in sent) else "shipped"


def _sync_status(session: Session, actor: Principal, order: Order, message: str = "") -> None:
    lines = _lines(session, order)
    fulfilments = _fulfilments(session, order)
    to = _derived_status(order, lines, fulfilments)
    if to == "cancelled" and order.status != "cancelled":
        _transition(session, actor, order, "cancelled", message or "every line cancelled")
        return
    if to != order.status:
        _transition(session, actor, order, to, message)
    etas = [f.eta_at for f in fulfilments if f.status in (*repo.OPEN_FULFILMENT, "shipped") and f.eta_at]
    order.eta_at = max(etas) if etas else order.eta_at


def _open_exception(
    session: Session,
    actor: Principal,
    order: Order | None,
    channel_code: str,
    external_id: str,
    kind: str,
    msg: str,
    **data: Any,
) -> OrderException:
    if order is not None:
        for existing in repo.open_exceptions(session, order.id, kind):
            existing.data = {**existing.data, **data}
            existing.message = msg[:255]
            return existing
    exc = OrderException(
        order_id=order.id if order else None,
        channel_code=channel_code,
        external_id=external_id,
        kind=kind,
        message=msg[:255],
        data=data,
        status="open",
        created_at=utcnow(),
    )
    session.add(exc)
    if order is not None:
        order.on_hold = True
        _event(session, actor, order, "exception", msg, data={"exception": kind, **data}, topic="order.exception")
    return exc


def _resolve_exceptions(session: Session, actor: Principal, order: Order, kind: str, resolution: str) -> None:
    if not order.on_hold:
        return
    now = utcnow()
    for exc in repo.open_exceptions(session, order.id, kind):
        exc.status = "resolved"
        exc.resolved_at = now
        exc.resolved_by = actor.name[:128]
        exc.resolution = resolution[:255]
    order.on_hold = bool(repo.open_exceptions(session, order.id))


# ================================================================ intake


@dataclass(frozen=True, slots=True)
class IntakeResult:
    out: IntakeOut
    created: bool


def _channel_for(session: Session, actor: Principal, channel_code: str) -> Channel:
    channel = _channel(session, channel_code)
    if actor.kind == "api_key" and actor.channel_code is not None and actor.channel_code != channel_code:
        raise PermissionDenied(
            f"this API key pushes orders for channel {actor.channel_code} only",
            extra={"reason": "wrong_channel", "channel_code": actor.channel_code},
        )
    if not channel.is_active:
        raise Conflict(f"channel {channel_code} is not active", extra={"channel_code": channel_code})
    return channel


@dataclass(frozen=True, slots=True)
class _Checked:
    data: OrderIn
    skus: dict[str, SkuRef]
    store: LocationOut | None
    goods_fen: int
    discount_fen: int
    total_fen: int


def _check(session: Session, data: OrderIn) -> _Checked:
    """Every problem of a normalised order, at once."""
    problems: list[FieldProblem] = []
    skus = sku_refs_by_codes(session, [ln.sku_code for ln in data.lines])
    goods = discount = 0
    for i, ln in enumerate(data.lines):
        at = f"body.lines.{i}"
        sku = skus.get(ln.sku_code)
        if sku is None:
            problems.append(FieldProblem(f"{at}.sku_code", "unknown_sku", f"no SKU {ln.sku_code!r}"))
        gross = ln.unit_price_fen * ln.quantity
        if ln.discount_fen > gross:
            problems.append(FieldProblem(f"{at}.discount_fen", "discount_too_large", f"more than the line's {gross}"))
        if ln.serials:
            if data.delivery_mode != "pos":
                problems.append(FieldProblem(f"{at}.serials", "pos_only", "serials are captured at picking"))
            elif len(ln.serials) != ln.quantity or len(set(ln.serials)) != len(ln.serials):
                problems.append(FieldProblem(f"{at}.serials", "serial_count", f"list {ln.quantity} distinct serials"))
            elif sku is not None and not sku.serial_tracked:
                problems.append(FieldProblem(f"{at}.serials", "not_serial_tracked", f"{sku.code} has no serials"))
        elif data.delivery_mode == "pos" and sku is not None and sku.serial_tracked:
            problems.append(FieldProblem(f"{at}.serials", "serials_required", f"scan the {ln.quantity} unit(s) sold"))
        goods += gross
        discount += ln.discount_fen
    if data.order_discount_fen > goods - discount:
        problems.append(FieldProblem("body.order_discount_fen", "discount_too_large", "more than the goods"))
    total = goods - discount - data.order_discount_fen + data.shipping_fen
    if data.paid_fen is not None and data.paid_fen != total:
        problems.append(
            FieldProblem("body.paid_fen", "amount_mismatch", f"paid {data.paid_fen} but the order totals {total} fen")
        )
    store = None
    if data.delivery_mode in ("click_collect", "pos"):
        if not data.store_code:
            problems.append(
                FieldProblem("body.store_code", "required", f"a {data.delivery_mode} order names its store")
            )
        else:
            try:
                store = inventory.get_location_by_code(session, data.store_code)
            except NotFound:
                store = None
            if store is None or store.type != "store" or not store.is_active:
                problems.append(
                    FieldProblem("body.store_code", "unknown_store", f"no active store {data.store_code!r}")
                )
    if data.delivery_mode in ("express", "same_city"):
        addr = data.address
        if addr is None:
            problems.append(FieldProblem("body.address", "required", "a delivery order needs an address"))
        elif (addr.latitude is None) != (addr.longitude is None):
            problems.append(FieldProblem("body.address.latitude", "coordinates_pair", "give both or neither"))
        elif data.delivery_mode == "same_city" and addr.latitude is None:
            problems.append(FieldProblem("body.address.latitude", "required", "1-hour delivery needs coordinates"))
        elif addr.latitude is None and not addr.province:
            problems.append(FieldProblem("body.address.province", "required", "coordinates or at least a province"))
    if len({ln.sku_code for ln in data.lines}) != len(data.lines) and data.delivery_mode == "pos":
        problems.append(FieldProblem("body.lines", "duplicate_sku", "a POS sale lists each SKU once"))
    _fail(problems, "invalid order")
    return _Checked(data, skus, store, goods, discount + data.order_discount_fen, total)


@_verb
def intake(session: Session, actor: Principal, channel_code: str, payload: Any) -> IntakeResult:
    """A channel's order in its own shape: create it, or apply what it says now to the one we have."""
    channel = _channel_for(session, actor, channel_code)
    data = adapters.normalise(channel.adapter, payload)
    return capture(session, actor, channel_code, data)


@_verb
def capture(session: Session, actor: Principal, channel_code: str, data: OrderIn) -> IntakeResult:
    channel = _channel_for(session, actor, channel_code)
    repo.lock_external_id(session, channel_code, data.external_id)
    existing = repo.order_by_external(session, channel_code, data.external_id, for_update=True)
    if existing is not None:
        done = _apply_channel_status(session, actor, existing, data.status, paid_fen=data.paid_fen, at=data.paid_at)
        return IntakeResult(IntakeOut(created=False, applied=done, order=order_out(session, actor, existing)), False)
    checked = _check(session, data)
    if checked.store is not None and data.delivery_mode == "pos":
        ensure_location_access(actor, checked.store.id)
    now = utcnow()
    placed = data.placed_at or now
    order = Order(
        number=_new_number(now),
        channel_code=channel_code,
        external_id=data.external_id,
        status="created",
        payment_status="unpaid",
        channel_status=data.status,
        delivery_mode=data.delivery_mode,
        store_location_id=checked.store.id if checked.store else None,
        buyer_phone=data.buyer.phone,
        buyer_name=data.buyer.name,
        buyer_unionid=data.buyer.unionid,
        buyer_marketplace_id=data.buyer.marketplace_id,
        buyer_email=data.buyer.email,
        currency=data.currency,
        goods_fen=checked.goods_fen,
        discount_fen=checked.discount_fen,
        shipping_fen=data.shipping_fen,
        total_fen=checked.total_fen,
        note=data.note,
        placed_at=placed,
        pay_by=now + timedelta(seconds=channel.unpaid_hold_s),
        promised_at=data.promised_at,
        created_at=now,
        updated_at=now,
    )
    if data.address is not None:
        a = data.address
        order.ship_name, order.ship_phone = a.name, a.phone
        order.ship_province, order.ship_city, order.ship_district = a.province, a.city, a.district
        order.ship_address, order.ship_postcode = a.address, a.postcode
        order.ship_latitude, order.ship_longitude = a.latitude, a.longitude
    savepoint = session.begin_nested()
    try:
        session.add(order)
        session.flush()
    except IntegrityError:
        # The same order arrived concurrently and the other request created it first.
        savepoint.rollback()
        found = repo.order_by_external(session, channel_code, data.external_id, for_update=True)
        if found is None:
            raise Conflict("the order could not be stored; retry", extra={"external_id": data.external_id}) from None
        applied = _apply_channel_status(session, actor, found, data.status, paid_fen=data.paid_fen, at=data.paid_at)
        return IntakeResult(IntakeOut(created=False, applied=applied, order=order_out(session, actor, found)), False)
    savepoint.commit()
    order_lines = [
        OrderLine(
            order_id=order.id,
            line_no=i + 1,
            external_line_id=ln.external_line_id,
            sku_id=checked.skus[ln.sku_code].id,
            sku_code=ln.sku_code,
            name=checked.skus[ln.sku_code].name[:255],
            quantity=ln.quantity,
            unit_price_fen=ln.unit_price_fen,
            discount_fen=ln.discount_fen,
            total_fen=ln.unit_price_fen * ln.quantity - ln.discount_fen,
            shipped=0,
            cancelled=0,
            returned=0,
        )
        for i, ln in enumerate(data.lines)
    ]
    session.add_all(order_lines)
    session.flush()
    session.info.setdefault("zt.order_lines", {})[order.id] = order_lines
    session.info.setdefault("zt.fulfilments", {})[order.id] = []
    _event(
        session,
        actor,
        order,
        "status",
        f"order received from {channel_code}",
        to_status="created",
        outbox_data=_buyer_identifiers(order),
        topic="order.created",
        at=now,
    )
    # What the channel says now, merged with anything that arrived before the order did.
    statuses = [data.status] + [p.status for p in repo.take_parked(session, channel_code, data.external_id)]
    target = max(statuses, key=lambda s: CHANNEL_RANK.get(s, 0))
    applied = ["created"]
    if target == "cancelled":
        applied += _apply_channel_status(session, actor, order, "cancelled", paid_fen=None, at=None)
    elif data.delivery_mode == "pos":
        _pos_sale(session, actor, order, order_lines, data)
        applied.append("completed")
    else:
        if "paid" in statuses or target in ("paid", "completed"):
            _mark_paid(session, actor, order, data.paid_fen, data.paid_at, reroute=False)
            applied.append("paid")
        _route(session, actor, order, trigger="capture", reject_if_short=data.on_short == "reject")
        if target == "completed":
            applied += _apply_channel_status(session, actor, order, "completed", paid_fen=None, at=None)
    return IntakeResult(IntakeOut(created=True, applied=applied, order=order_out(session, actor, order)), True)


def _buyer_identifiers(order: Order) -> dict[str, Any]:
    """What the member center (OneID) stitches on, in the ``order.created`` event."""
    ids = {
        "phone": order.buyer_phone or order.ship_phone,
        "unionid": order.buyer_unionid,
        "marketplace_id": order.buyer_marketplace_id,
        "email": order.buyer_email,
    }
    return {"buyer": {k: v for k, v in ids.items() if v}, "total_fen": order.total_fen}


@_verb
def update_status(
    session: Session, actor: Principal, channel_code: str, external_id: str, body: StatusUpdateIn
) -> IntakeOut:
    """A status-only message (``paid``, ``TRADE_CLOSED`` …). Unknown order: parked until it arrives."""
    channel = _channel_for(session, actor, channel_code)
    status = adapters.status_word(channel.adapter, body.status)
    if status is None:
        raise ValidationFailed(
            "unknown status", errors=[FieldProblem("body.status", "unknown_status", f"{body.status!r}")]
        )
    repo.lock_external_id(session, channel_code, external_id)
    order = repo.order_by_external(session, channel_code, external_id, for_update=True)
    if order is None:
        session.add(
            ParkedStatusUpdate(
                channel_code=channel_code,
                external_id=external_id,
                status=status,
                data={"paid_fen": body.paid_fen, "reason": body.reason},
                received_at=utcnow(),
            )
        )
        return IntakeOut(created=False, applied=[], parked=True, order=None)
    applied = _apply_channel_status(
        session, actor, order, status, paid_fen=body.paid_fen, at=body.at, reason=body.reason
    )
    return IntakeOut(created=False, applied=applied, order=order_out(session, actor, order))


def _apply_channel_status(
    session: Session,
    actor: Principal,
    order: Order,
    status: str,
    *,
    paid_fen: int | None,
    at: datetime | None,
    reason: str = "",
) -> list[str]:
    """Applies what the channel says now; idempotent, and order-independent: a status below what
    the order already reached changes nothing."""
    if status == "created" or order.status == "cancelled":
        return []
    if status == "paid":
        if order.payment_status != "unpaid":
            return []
        _mark_paid(session, actor, order, paid_fen, at, reroute=True)
        order.channel_status = "paid"
        return ["paid"]
    if status == "cancelled":
        shipped = sum(ln.shipped for ln in _lines(session, order))
        if shipped > 0 or order.status in ("completed",):
            _open_exception(
                session,
                actor,
                order,
                order.channel_code,
                order.external_id,
                "cancel_after_shipment",
                "the channel cancelled an order that has already shipped: intercept the parcel or take a return",
                reason=reason,
            )
            return ["exception"]
        was_paid = order.payment_status == "paid"
        _cancel(session, actor, order, reason or "cancelled by the channel")
        if was_paid and order.paid_fen > 0:
            # A marketplace refunds the buyer itself when it closes a paid trade.
            _refund(session, actor, order, None, order.paid_fen, "refunded by the channel", settled=True)
        order.channel_status = "cancelled"
        return ["cancelled"]
    if status == "completed":
        if order.status in ("shipped", "delivered"):
            for f in _fulfilments(session, order):
                if f.status == "shipped":
                    _fulfilment_transition(session, actor, order, f, "delivered", "buyer confirmed receipt")
            _sync_status(session, actor, order)
            _transition(session, actor, order, "completed", "confirmed by the channel")
            order.channel_status = "completed"
            return ["completed"]
        if order.status != "completed":
            # A marketplace's "finished" before we shipped anything: someone shipped outside us.
            _open_exception(
                session,
                actor,
                order,
                order.channel_code,
                order.external_id,
                "completed_before_shipment",
                "the channel says the order is finished but nothing has shipped here",
            )
            return ["exception"]
    return []


def _mark_paid(
    session: Session, actor: Principal, order: Order, paid_fen: int | None, at: datetime | None, *, reroute: bool
) -> None:
    if paid_fen is not None and paid_fen != order.total_fen:
        _open_exception(
            session,
            actor,
            order,
            order.channel_code,
            order.external_id,
            "amount_mismatch",
            f"paid {paid_fen} fen for an order of {order.total_fen} fen",
            paid_fen=paid_fen,
        )
    order.payment_status = "paid"
    order.paid_fen = paid_fen if paid_fen is not None else order.total_fen
    order.paid_at = at or utcnow()
    order.pay_by = None
    _event(
        session,
        actor,
        order,
        "payment",
        f"paid {order.paid_fen} fen",
        data={"paid_fen": order.paid_fen},
        topic="order.paid",
    )
    # A paid order's stock is held until it ships.
    lost = False
    for f in _fulfilments(session, order):
        if f.status in repo.OPEN_FULFILMENT and f.reservation_id is not None:
            if inventory.reservation_status(session, f.reservation_id) == "active":
                inventory.extend_reservation(session, SYSTEM, f.reservation_id, None)
            else:
                _fulfilment_transition(session, actor, order, f, "cancelled", "the unpaid hold had expired")
                lost = True
    if lost and reroute:
        _route(session, actor, order, trigger="payment_late")


# ================================================================ routing


def _unassigned(session: Session, order: Order) -> dict[int, int]:
    """{line_no: units not yet in a live fulfilment}."""
    lines = _lines(session, order)
    fulfilments = _fulfilments(session, order)
    live = [f.id for f in fulfilments if f.status not in ("rejected", "cancelled")]
    assigned: dict[int, int] = {}
    for fls in _fulfilment_lines(session, live).values():
        for fl in fls:
            assigned[fl.order_line_id] = assigned.get(fl.order_line_id, 0) + fl.quantity
    out = {}
    for ln in lines:
        left = ln.quantity - ln.cancelled - assigned.get(ln.id, 0)
        if left > 0:
            out[ln.line_no] = left
    return out


def _candidates(
    session: Session, order: Order, stock: inventory.RoutingStock, ship_from_store: bool
) -> list[routing.Candidate]:
    ids = {loc for loc, _ in stock.sellable}
    if order.store_location_id:
        ids.add(order.store_location_id)
    locs = inventory.locations_by_ids(session, sorted(ids))
    settings = repo.settings(session, ids)
    workload = repo.open_workload(session, ids)
    out = []
    for loc in locs.values():
        if not loc.is_active or loc.type not in ("central_dc", "regional_dc", "store"):
            continue
        s = settings.get(loc.id)
        is_store = loc.type == "store"
        out.append(
            routing.Candidate(
                location_id=loc.id,
                code=loc.code,
                type=loc.type,
                latitude=loc.latitude,
                longitude=loc.longitude,
                province=loc.province,
                city=loc.city,
                region=loc.region,
                open_fulfilments=workload.get(loc.id, 0),
                workload_cap=s.workload_cap if s else None,
                ships_express=(not is_store) or (ship_from_store and (s.ships_express if s else True)),
            )
        )
    if order.delivery_mode == "same_city":
        out = [
            c
            for c in out
            if not (c.type == "store" and settings.get(c.location_id) and not settings[c.location_id].same_city)
        ]
    return out


def _request(
    order: Order, need: dict[int, int], lines: dict[int, OrderLine], exclude: frozenset[int], mode: str
) -> routing.RouteRequest:
    promised = None
    if order.promised_at is not None:
        promised = max(0.0, (order.promised_at - utcnow()).total_seconds() / 3600)
    return routing.RouteRequest(
        lines=tuple(routing.RouteLine(n, lines[n].sku_id, q) for n, q in sorted(need.items())),
        mode=mode,  # type: ignore[arg-type]
        latitude=order.ship_latitude,
        longitude=order.ship_longitude,
        province=order.ship_province,
        city=order.ship_city,
        pickup_location_id=order.store_location_id,
        promised_hours=promised,
        exclude_location_ids=exclude,
    )


def _route(
    session: Session,
    actor: Principal,
    order: Order,
    *,
    trigger: str,
    exclude: frozenset[int] = frozenset(),
    force_location_id: int | None = None,
    reject_if_short: bool = False,
) -> RoutingDecision | None:
    """Routes what is not yet assigned, holds its stock, writes the decision. Stock that vanished
    between reading and holding (a concurrent order) makes it read again and re-plan."""
    need = _unassigned(session, order)
    if not need:
        return None
    channel = _channel(session, order.channel_code)
    by_no = {ln.line_no: ln for ln in _lines(session, order)}
    sku_ids = sorted({by_no[n].sku_id for n in need})
    mode = order.delivery_mode
    for attempt in range(ROUTE_ATTEMPTS):
        stock = inventory.routing_stock(session, sku_ids=sku_ids, channel_code=order.channel_code)
        candidates = _candidates(session, order, stock, channel.ship_from_store)
        if force_location_id is not None:
            candidates = [c for c in candidates if c.location_id == force_location_id]
        request = _request(order, need, by_no, exclude, mode)
        plan = routing.route(request, candidates, routing.Stock(stock.sellable, stock.safety))
        if mode == "same_city" and plan.unfilled:
            # No store within 3 km has it: deliver by express instead of not at all.
            _event(
                session,
                actor,
                order,
                "routing",
                "no store within 3 km can deliver all of it in 1 hour: shipping by express",
            )
            mode = "express"
            request = _request(order, need, by_no, exclude, mode)
            candidates = _candidates(session, order, stock, channel.ship_from_store)
            plan = routing.route(request, candidates, routing.Stock(stock.sellable, stock.safety))
        if plan.unfilled and reject_if_short:
            raise InsufficientStock(
                "not enough stock for this order",
                extra={
                    "shortages": [
                        {"line_no": ln.line_no, "sku_code": by_no[ln.line_no].sku_code, "missing": ln.quantity}
                        for ln in plan.unfilled
                    ]
                },
            )
        savepoint = session.begin_nested()
        try:
            decision = RoutingDecision(
                order_id=order.id,
                at=utcnow(),
                trigger=trigger,
                method=plan.method,
                cost_fen=plan.cost_fen,
                legs=len(plan.legs),
                explanation=plan.to_json(),
                actor_name=actor.name[:128],
            )
            session.add(decision)
            session.flush()
            made = _hold_plan(session, order, plan, by_no, mode, stock.channel_safety, decision.id)
        except InsufficientStock:
            savepoint.rollback()
            session.info.pop(_FLINES, None)  # rows of the rolled-back attempt
            if attempt < ROUTE_ATTEMPTS - 1:
                continue
            if reject_if_short:
                raise
            # Concurrent orders kept taking the stock this plan wanted: wait for the next retry.
            missing = [{"line_no": n, "sku_code": by_no[n].sku_code, "missing": q} for n, q in sorted(need.items())]
            _open_exception(
                session,
                actor,
                order,
                order.channel_code,
                order.external_id,
                "no_stock",
                "the stock was taken by concurrent orders while routing; it will be routed again",
                missing=missing,
            )
            return None
        savepoint.commit()
        _fulfilments(session, order).extend(made)
        _after_decision(session, actor, order, plan, decision, made, trigger, by_no)
        return decision
    return None  # pragma: no cover - the loop returns or raises


def _hold_plan(
    session: Session,
    order: Order,
    plan: routing.Plan,
    by_no: dict[int, OrderLine],
    mode: str,
    kept: dict[tuple[int, int], int],
    decision_id: int,
) -> list[Fulfilment]:
    """One fulfilment and one reservation per leg. Raises InsufficientStock when a concurrent order
    took the stock first; the caller rolls back to its savepoint and plans again."""
    now = utcnow()
    codes = {ln.sku_id: ln.sku_code for ln in by_no.values()}
    existing = len(_fulfilments(session, order))
    ttl = None
    if order.payment_status == "unpaid" and order.pay_by is not None:
        ttl = max(1, int((order.pay_by - now).total_seconds()))
    made = []
    # Legs in location order: balances are locked in (location, SKU) order by every verb, so two
    # split orders over the same locations cannot deadlock.
    for k, leg in enumerate(sorted(plan.legs, key=lambda x: x.location_id), start=existing + 1):
        number = f"{order.number}-F{k}"
        per_sku: dict[int, int] = {}
        for a in leg.assignments:
            per_sku[a.sku_id] = per_sku.get(a.sku_id, 0) + a.quantity
        reservation_id = inventory.hold_stock(
            session,
            SYSTEM,
            reference=number,
            channel_code=order.channel_code,
            lines=[
                inventory.HoldLine(
                    sku_id=sku_id,
                    sku_code=codes[sku_id],
                    location_id=leg.location_id,
                    location_code=leg.code,
                    quantity=q,
                    channel_safety=kept.get((leg.location_id, sku_id), 0),
                )
                for sku_id, q in sorted(per_sku.items())
            ],
            ttl_s=ttl,
        )
        f = Fulfilment(
            order_id=order.id,
            number=number,
            location_id=leg.location_id,
            kind=KIND_BY_MODE[mode],
            status="routed",
            reservation_id=reservation_id,
            transfer_to_location_id=leg.transfer_to_location_id,
            cost_fen=leg.cost_fen,
            eta_at=now + timedelta(hours=leg.eta_hours),
            decision_id=decision_id,
            created_at=now,
            updated_at=now,
        )
        session.add(f)
        session.flush()
        flines = [
            FulfilmentLine(
                fulfilment_id=f.id,
                order_line_id=by_no[a.line_no].id,
                sku_id=a.sku_id,
                quantity=a.quantity,
                shipped=0,
                serials=[],
            )
            for a in leg.assignments
        ]
        session.add_all(flines)
        session.info.setdefault(_FLINES, {})[f.id] = flines
        made.append(f)
    session.flush()
    return made


def _after_decision(
    session: Session,
    actor: Principal,
    order: Order,
    plan: routing.Plan,
    decision: RoutingDecision,
    made: list[Fulfilment],
    trigger: str,
    by_no: dict[int, OrderLine],
) -> None:
    codes = ", ".join(leg.code for leg in plan.legs)
    if made:
        if order.status == "created":
            _transition(session, actor, order, "reserved", f"stock held at {codes}", decision_id=decision.id)
        _sync_status(session, actor, order, f"routed to {codes}: {plan.reason}"[:255])
    if plan.unfilled:
        missing = [
            {"line_no": u.line_no, "sku_code": by_no[u.line_no].sku_code, "missing": u.quantity} for u in plan.unfilled
        ]
        _open_exception(
            session,
            actor,
            order,
            order.channel_code,
            order.external_id,
            "no_stock",
            "no location can fill " + ", ".join(f"{m['sku_code']} ×{m['missing']}" for m in missing),
            missing=missing,
        )
    else:
        _resolve_exceptions(session, actor, order, "no_stock", f"routed ({trigger})")


# ================================================================ POS


def _pos_sale(session: Session, actor: Principal, order: Order, lines: list[OrderLine], data: OrderIn) -> None:
    """A store sale: held and sold in one go at the selling store, serials captured, completed."""
    assert order.store_location_id is not None
    serials = {ln.sku_code: ln.serials for ln in data.lines}
    now = utcnow()
    number = f"{order.number}-F1"
    try:
        res = inventory.reserve_stock(
            session,
            SYSTEM,
            reference=number,
            channel_code=order.channel_code,
            lines=[
                ReserveLine(
                    sku_id=ln.sku_id,
                    location_id=order.store_location_id,
                    quantity=ln.quantity,
                    serials=serials[ln.sku_code],
                )
                for ln in lines
            ],
            ttl_s=None,
        )
    except InsufficientStock as exc:
        raise InsufficientStock(
            "the store's stock does not cover this sale: count or adjust the store first",
            extra=exc.extra,
        ) from None
    inventory.consume_reservation(session, SYSTEM, res.id, lines=None, reference=order.number)
    f = Fulfilment(
        order_id=order.id,
        number=number,
        location_id=order.store_location_id,
        kind="pos",
        status="delivered",
        reservation_id=res.id,
        created_at=now,
        updated_at=now,
        shipped_at=now,
        delivered_at=now,
        eta_at=now,
    )
    session.add(f)
    session.flush()
    _fulfilments(session, order).append(f)
    session.add_all(
        FulfilmentLine(
            fulfilment_id=f.id,
            order_line_id=ln.id,
            sku_id=ln.sku_id,
            quantity=ln.quantity,
            shipped=ln.quantity,
            serials=list(serials[ln.sku_code]),
        )
        for ln in lines
    )
    for ln in lines:
        ln.shipped = ln.quantity
    order.payment_status = "paid"
    order.paid_fen = data.paid_fen if data.paid_fen is not None else order.total_fen
    order.paid_at = data.paid_at or now
    order.pay_by = None
    order.shipped_at = order.delivered_at = now
    _event(
        session, actor, order, "payment", f"paid {order.paid_fen} fen at the till", data={"paid_fen": order.paid_fen}
    )
    _transition(session, actor, order, "completed", "sold in store", fulfilment=number)


# ================================================================ fulfilment verbs


def _locked_order(session: Session, principal: Principal, number: str) -> Order:
    order = repo.order_by_number(session, number, for_update=True)
    if order is None or not _visible(session, principal, order):
        raise not_found("order", number)
    return order


def _visible(session: Session, principal: Principal, order: Order) -> bool:
    if (
        principal.kind == "api_key"
        and principal.channel_code is not None
        and order.channel_code != principal.channel_code
    ):
        return False
    if not principal.is_store_scoped:
        return True
    if order.store_location_id is not None and can_access_location(principal, order.store_location_id):
        return True
    return any(can_access_location(principal, f.location_id) for f in _fulfilments(session, order))


def _fulfilment_of(session: Session, principal: Principal, order: Order, number: str) -> Fulfilment:
    for f in _fulfilments(session, order):
        if f.number == number:
            ensure_location_access(principal, f.location_id)
            return f
    raise not_found("fulfilment", number)


def _order_of_fulfilment(session: Session, principal: Principal, fulfilment_number: str) -> tuple[Order, Fulfilment]:
    order_number = fulfilment_number.rsplit("-F", 1)[0]
    order = _locked_order(session, principal, order_number)
    return order, _fulfilment_of(session, principal, order, fulfilment_number)


@_verb
def start_picking(session: Session, actor: Principal, fulfilment_number: str, body: PickIn) -> OrderOut:
    """The store (or DC) accepts the work and picks it; serial-tracked units are scanned here."""
    order, f = _order_of_fulfilment(session, actor, fulfilment_number)
    if order.status == "cancelled":
        raise InvalidTransition(f"order {order.number} is cancelled", extra={"status": order.status})
    flines = _fulfilment_lines(session, [f.id])[f.id]
    by_line = {ln.id: ln for ln in _lines(session, order)}
    skus = sku_refs_by_ids(session, [fl.sku_id for fl in flines])
    given = {p.line_no: p.serials for p in body.lines}
    problems: list[FieldProblem] = []
    line_nos = {by_line[fl.order_line_id].line_no: fl for fl in flines}
    for i, p in enumerate(body.lines):
        if p.line_no not in line_nos:
            problems.append(
                FieldProblem(f"body.lines.{i}.line_no", "not_in_fulfilment", f"line {p.line_no} is not here")
            )
    for no, fl in sorted(line_nos.items()):
        sku = skus[fl.sku_id]
        serials = given.get(no, [])
        at = f"body.lines.{[p.line_no for p in body.lines].index(no)}.serials" if no in given else "body.lines"
        if sku.serial_tracked:
            if len(serials) != fl.quantity or len(set(serials)) != len(serials):
                problems.append(
                    FieldProblem(
                        at, "serials_required", f"line {no}: scan {fl.quantity} distinct serial(s) of {sku.code}"
                    )
                )
                continue
            bad = inventory.unavailable_serials(
                session, sku_id=fl.sku_id, location_id=f.location_id, serials=serials, reservation_id=f.reservation_id
            )
            for s, state in bad.items():
                problems.append(FieldProblem(at, "serial_unavailable", f"{s} is {state or 'unknown'}"))
        elif serials:
            problems.append(FieldProblem(at, "not_serial_tracked", f"{sku.code} has no serials"))
    _fail(problems, "invalid picking")
    for no, fl in line_nos.items():
        if no in given:
            fl.serials = list(given[no])
    _fulfilment_transition(session, actor, order, f, "picking", serials={str(k): v for k, v in given.items()})
    _sync_status(session, actor, order)
    return order_out(session, actor, order)


def _step(session: Session, actor: Principal, fulfilment_number: str, to: str) -> OrderOut:
    order, f = _order_of_fulfilment(session, actor, fulfilment_number)
    _fulfilment_transition(session, actor, order, f, to)
    _sync_status(session, actor, order)
    return order_out(session, actor, order)


@_verb
def pack(session: Session, actor: Principal, fulfilment_number: str) -> OrderOut:
    return _step(session, actor, fulfilment_number, "packed")


@_verb
def ship(session: Session, actor: Principal, fulfilment_number: str, body: ShipIn) -> OrderOut:
    """Hands the parcel to the carrier (or the rider, or the buyer at the counter): the held units
    become sales. ``lines`` ships part of the fulfilment; the rest stays packed."""
    order, f = _order_of_fulfilment(session, actor, fulfilment_number)
    if f.status not in ("routed", "picking", "packed"):
        raise InvalidTransition(f"fulfilment {f.number} is {f.status}", extra={"status": f.status})
    if order.payment_status == "unpaid" and order.delivery_mode != "click_collect":
        raise InvalidTransition(f"order {order.number} is not paid", extra={"status": order.status, "reason": "unpaid"})
    flines = _fulfilment_lines(session, [f.id])[f.id]
    olines = {ln.id: ln for ln in _lines(session, order)}
    skus = sku_refs_by_ids(session, [fl.sku_id for fl in flines])
    by_no = {olines[fl.order_line_id].line_no: fl for fl in flines}
    wanted: dict[int, int] = {}
    problems: list[FieldProblem] = []
    if body.lines is None:
        wanted = {no: fl.quantity - fl.shipped for no, fl in by_no.items() if fl.quantity > fl.shipped}
    else:
        for i, sl in enumerate(body.lines):
            fl = by_no.get(sl.line_no)
            if fl is None:
                problems.append(
                    FieldProblem(f"body.lines.{i}.line_no", "not_in_fulfilment", f"line {sl.line_no} is not here")
                )
            elif sl.quantity > fl.quantity - fl.shipped:
                problems.append(
                    FieldProblem(f"body.lines.{i}.quantity", "over_ship", f"{fl.quantity - fl.shipped} left")
                )
            elif sl.line_no in wanted:
                problems.append(FieldProblem(f"body.lines.{i}.line_no", "duplicate_line", "listed twice"))
            else:
                wanted[sl.line_no] = sl.quantity
    for no, qty in wanted.items():
        fl = by_no[no]
        if skus[fl.sku_id].serial_tracked and len(fl.serials) < fl.shipped + qty:
            problems.append(FieldProblem("body.lines", "not_picked", f"line {no}: scan the serials at picking first"))
    _fail(problems, "invalid shipment")
    if not wanted:
        raise InvalidTransition(f"fulfilment {f.number} has nothing left to ship", extra={"status": f.status})
    assert f.reservation_id is not None
    consume = []
    for no, qty in sorted(wanted.items()):
        fl = by_no[no]
        serials = [str(s) for s in fl.serials[fl.shipped : fl.shipped + qty]] if fl.serials else []
        consume.append(ConsumeLine(sku_id=fl.sku_id, location_id=f.location_id, quantity=qty, serials=serials))
    inventory.consume_reservation(session, SYSTEM, f.reservation_id, lines=_merge_consume(consume), reference=f.number)
    for no, qty in wanted.items():
        by_no[no].shipped += qty
        olines[by_no[no].order_line_id].shipped += qty
    f.carrier = body.carrier or f.carrier
    f.tracking_no = body.tracking_no or f.tracking_no
    if all(fl.shipped >= fl.quantity for fl in flines):
        _fulfilment_transition(
            session, actor, order, f, "shipped", carrier=f.carrier, tracking_no=f.tracking_no, lines=wanted
        )
    else:
        _event(
            session,
            actor,
            order,
            "fulfilment",
            f"{f.number}: partial shipment {wanted}",
            fulfilment_id=f.id,
            data={
                "fulfilment": f.number,
                "lines": {str(k): v for k, v in wanted.items()},
                "tracking_no": f.tracking_no,
            },
            topic="fulfilment.partially_shipped",
        )
        if f.status == "routed":
            _fulfilment_transition(session, actor, order, f, "packed")
    session.flush()
    _sync_status(session, actor, order)
    return order_out(session, actor, order)


def _merge_consume(lines: list[ConsumeLine]) -> list[ConsumeLine]:
    """One consume line per SKU (two order lines of one SKU share a reservation line)."""
    merged: dict[int, ConsumeLine] = {}
    for ln in lines:
        assert ln.sku_id is not None
        m = merged.get(ln.sku_id)
        if m is None:
            merged[ln.sku_id] = ln
        else:
            merged[ln.sku_id] = ConsumeLine(
                sku_id=ln.sku_id,
                location_id=ln.location_id,
                quantity=m.quantity + ln.quantity,
                serials=m.serials + ln.serials,
            )
    return list(merged.values())


@_verb
def deliver(session: Session, actor: Principal, fulfilment_number: str) -> OrderOut:
    """Signed for (carrier callback), handed over by the rider, or collected at the store."""
    return _step(session, actor, fulfilment_number, "delivered")


@_verb
def reject(session: Session, actor: Principal, fulfilment_number: str, reason: str) -> OrderOut:
    """A store refuses the work (no staff, the unit is damaged): its stock goes back and the order
    is routed again, never to that store."""
    order, f = _order_of_fulfilment(session, actor, fulfilment_number)
    _release(session, f, f"rejected: {reason}")
    f.reject_reason = reason[:255]
    _fulfilment_transition(session, actor, order, f, "rejected", reason)
    excluded = frozenset(x.location_id for x in _fulfilments(session, order) if x.status == "rejected")
    _route(session, actor, order, trigger="reroute_rejected", exclude=excluded)
    _sync_status(session, actor, order)
    return order_out(session, actor, order)


@_verb
def cancel_fulfilment(session: Session, actor: Principal, fulfilment_number: str, reason: str) -> OrderOut:
    """Ops withdraw a fulfilment (carrier problem, wrong warehouse): stock back, routed again."""
    order, f = _order_of_fulfilment(session, actor, fulfilment_number)
    _release(session, f, f"cancelled: {reason}")
    _fulfilment_transition(session, actor, order, f, "cancelled", reason)
    _route(session, actor, order, trigger="reroute_cancelled")
    _sync_status(session, actor, order)
    return order_out(session, actor, order)


def _release(session: Session, f: Fulfilment, reason: str) -> None:
    """Gives the fulfilment's held stock back; nothing to do when its hold already expired (the
    expiry schedule may get there between our read and the release)."""
    if f.reservation_id is not None and inventory.reservation_status(session, f.reservation_id) == "active":
        with suppress(InvalidTransition):
            inventory.release_reservation(session, SYSTEM, f.reservation_id, reason=f"{f.number} {reason}"[:255])


@_verb
def reroute(session: Session, actor: Principal, number: str, *, location_code: str | None, reason: str) -> OrderOut:
    """Manual re-route: every fulfilment not yet picked is withdrawn and the order routed again
    (to ``location_code`` when given, else by the router)."""
    order = _locked_order(session, actor, number)
    if order.status in ("cancelled", "completed"):
        raise InvalidTransition(f"order {order.number} is {order.status}", extra={"status": order.status})
    force = None
    if location_code:
        try:
            force = inventory.get_location_by_code(session, location_code).id
        except NotFound:
            raise ValidationFailed(
                "unknown location", errors=[FieldProblem("body.location_code", "unknown_location", location_code)]
            ) from None
    for f in _fulfilments(session, order):
        if f.status == "routed":
            _release(session, f, f"re-routed: {reason}")
            _fulfilment_transition(session, actor, order, f, "cancelled", f"re-routed by hand: {reason}")
    decision = _route(session, actor, order, trigger="manual", force_location_id=force)
    _sync_status(session, actor, order)
    record(
        session,
        actor,
        "order.reroute",
        "order",
        order.number,
        after={"reason": reason, "location": location_code, "decision": decision.id if decision else None},
    )
    return order_out(session, actor, order)


@_verb
def retry_routing(session: Session, actor: Principal, number: str) -> OrderOut:
    order = _locked_order(session, actor, number)
    if order.status in ("cancelled", "completed"):
        raise InvalidTransition(f"order {order.number} is {order.status}", extra={"status": order.status})
    _route(session, actor, order, trigger="retry")
    return order_out(session, actor, order)


# ================================================================ cancel, complete


def _cancel(session: Session, actor: Principal, order: Order, reason: str) -> None:
    """Cancels whatever has not shipped; the order is cancelled when nothing shipped at all."""
    for f in sorted(_fulfilments(session, order), key=lambda x: x.location_id):
        if f.status in repo.OPEN_FULFILMENT:
            _release(session, f, f"order cancelled: {reason}")
            _fulfilment_transition(session, actor, order, f, "cancelled", reason)
    for ln in _lines(session, order):
        ln.cancelled = ln.quantity - ln.shipped
    order.cancel_reason = reason[:255]
    session.flush()
    _resolve_exceptions(session, actor, order, "no_stock", "order cancelled")
    _sync_status(session, actor, order, f"cancelled: {reason}")


@_verb
def cancel(session: Session, actor: Principal, number: str, reason: str) -> OrderOut:
    """Cancels the order (or, after a partial shipment, what has not shipped); a paid order gets a
    pending refund for what will not be delivered."""
    order = _locked_order(session, actor, number)
    if order.status in ("cancelled", "completed", "shipped", "delivered"):
        raise InvalidTransition(
            f"order {order.number} is {order.status}: take a return instead", extra={"status": order.status}
        )
    before = sum(ln.total_fen * ln.cancelled // ln.quantity for ln in _lines(session, order))
    _cancel(session, actor, order, reason)
    if order.payment_status in ("paid", "partially_refunded"):
        lines = _lines(session, order)
        amount = sum(ln.total_fen * ln.cancelled // ln.quantity for ln in lines) - before
        if order.status == "cancelled":
            amount = order.paid_fen - order.refunded_fen
        if amount > 0:
            _refund(session, actor, order, None, amount, f"cancelled: {reason}", settled=False)
    record(session, actor, "order.cancel", "order", order.number, after={"reason": reason, "status": order.status})
    return order_out(session, actor, order)


@_verb
def complete(session: Session, actor: Principal, number: str) -> OrderOut:
    order = _locked_order(session, actor, number)
    if order.status != "delivered":
        raise InvalidTransition(
            f"order {order.number} is {order.status}, not delivered", extra={"status": order.status}
        )
    _transition(session, actor, order, "completed")
    return order_out(session, actor, order)


# ================================================================ returns and refunds


def return_eligibility(session: Session, principal: Principal, number: str) -> ReturnEligibilityOut:
    """What can still be returned, line by line (the bot and the guides ask this)."""
    order = repo.order_by_number(session, number)
    if order is None or not _visible(session, principal, order):
        raise not_found("order", number)
    return _eligibility(session, order)


def _eligibility(session: Session, order: Order) -> ReturnEligibilityOut:
    pending: dict[int, int] = {}
    rets = [r for r in repo.returns_of(session, order.id) if r.status in ("requested", "approved")]
    for rls in repo.return_lines(session, [r.id for r in rets]).values():
        for rl in rls:
            pending[rl.order_line_id] = pending.get(rl.order_line_id, 0) + rl.quantity
    deadline = order.delivered_at + timedelta(days=RETURN_WINDOW_DAYS) if order.delivered_at else None
    now = utcnow()
    out = []
    for ln in _lines(session, order):
        left = ln.shipped - ln.returned - pending.get(ln.id, 0)
        if ln.shipped == 0:
            reason, left = "not_delivered", 0
        elif left <= 0:
            reason, left = "all_returned", 0
        elif deadline is None:
            reason = "ok"  # shipped, not yet signed for: the window has not started
        elif now > deadline:
            reason, left = "window_closed", 0
        else:
            reason = "ok"
        out.append(
            ReturnEligibilityLine(
                line_no=ln.line_no, sku_code=ln.sku_code, returnable=left, deadline=deadline, reason=reason
            )
        )
    return ReturnEligibilityOut(
        order_number=order.number,
        eligible=any(x.returnable > 0 for x in out),
        window_days=RETURN_WINDOW_DAYS,
        lines=out,
    )


@_verb
def request_return(
    session: Session, actor: Principal, number: str, lines: Sequence[ReturnLineIn], reason: str
) -> ReturnOut:
    order = _locked_order(session, actor, number)
    elig = {e.line_no: e for e in _eligibility(session, order).lines}
    by_no = {ln.line_no: ln for ln in _lines(session, order)}
    problems = []
    seen = set()
    for i, rl in enumerate(lines):
        e = elig.get(rl.line_no)
        if e is None:
            problems.append(FieldProblem(f"body.lines.{i}.line_no", "unknown_line", f"no line {rl.line_no}"))
        elif rl.line_no in seen:
            problems.append(FieldProblem(f"body.lines.{i}.line_no", "duplicate_line", "listed twice"))
        elif rl.quantity > e.returnable:
            problems.append(
                FieldProblem(
                    f"body.lines.{i}.quantity",
                    e.reason if e.returnable == 0 else "too_many",
                    f"{e.returnable} returnable ({e.reason})",
                )
            )
        seen.add(rl.line_no)
    _fail(problems, "invalid return")
    now = utcnow()
    ret = ReturnRequest(
        number=f"{order.number}-R{len(repo.returns_of(session, order.id)) + 1}",
        order_id=order.id,
        status="requested",
        reason=reason,
        requested_at=now,
        created_by=actor.name[:128],
    )
    session.add(ret)
    session.flush()
    refund_total = 0
    for rl in lines:
        ln = by_no[rl.line_no]
        amount = _line_refund(order, ln, rl.quantity, by_no.values())
        refund_total += amount
        session.add(
            ReturnLine(return_id=ret.id, order_line_id=ln.id, quantity=rl.quantity, refund_fen=amount, serials=[])
        )
    ret.refund_fen = refund_total
    session.flush()
    _event(
        session,
        actor,
        order,
        "return",
        f"return {ret.number} requested: {reason}",
        data={"return": ret.number},
        topic="return.requested",
    )
    return _return_out(session, ret, order)


def _line_refund(order: Order, line: OrderLine, quantity: int, lines: Iterable[OrderLine]) -> int:
    """The line's share of what was paid for ``quantity`` units (order-level discounts spread by
    value, shipping not refunded)."""
    goods_net = sum(ln.total_fen for ln in lines)
    paid_goods = order.total_fen - order.shipping_fen
    if goods_net <= 0:
        return 0
    return (line.total_fen * quantity * paid_goods) // (line.quantity * goods_net)


def _locked_return(
    session: Session, actor: Principal, number: str, *, any_store: bool = False
) -> tuple[ReturnRequest, Order]:
    """The return and its order, locked. ``any_store``: goods may be handed back at any store,
    so a store user may receive another store's return (the receiving location is checked)."""
    ret = repo.return_by_number(session, number, for_update=True)
    if ret is None:
        raise not_found("return", number)
    order = repo.order_by_id(session, ret.order_id, for_update=True)
    assert order is not None
    if not _visible(session, actor, order) and not (any_store and actor.is_store_scoped):
        raise not_found("return", number)
    return ret, order


@_verb
def decide_return(session: Session, actor: Principal, number: str, *, approve: bool, reason: str = "") -> ReturnOut:
    ret, order = _locked_return(session, actor, number)
    if ret.status != "requested":
        raise InvalidTransition(f"return {ret.number} is {ret.status}", extra={"status": ret.status})
    ret.status = "approved" if approve else "rejected"
    ret.decided_at = utcnow()
    _event(
        session,
        actor,
        order,
        "return",
        f"return {ret.number} {ret.status}" + (f": {reason}" if reason else ""),
        data={"return": ret.number},
        topic=f"return.{ret.status}",
    )
    return _return_out(session, ret, order)


@_verb
def receive_return(
    session: Session, actor: Principal, number: str, *, location_code: str, lines: Sequence[ReceiveLineIn] | None
) -> ReturnOut:
    """The goods are back, at any store or DC: restocked or scrapped, serials checked; a refund
    for the units received is created."""
    ret, order = _locked_return(session, actor, number, any_store=True)
    if ret.status not in ("requested", "approved"):
        raise InvalidTransition(f"return {ret.number} is {ret.status}", extra={"status": ret.status})
    try:
        loc = inventory.get_location_by_code(session, location_code)
    except NotFound:
        raise ValidationFailed(
            "unknown location", errors=[FieldProblem("body.location_code", "unknown_location", location_code)]
        ) from None
    ensure_location_access(actor, loc.id)
    rlines = repo.return_lines(session, [ret.id])[ret.id]
    olines = {ln.id: ln for ln in _lines(session, order)}
    by_no = {olines[rl.order_line_id].line_no: rl for rl in rlines}
    got = lines if lines is not None else [ReceiveLineIn(line_no=no, quantity=rl.quantity) for no, rl in by_no.items()]
    problems = []
    skus = sku_refs_by_ids(session, [ln.sku_id for ln in olines.values()])
    for i, g in enumerate(got):
        rl = by_no.get(g.line_no)
        if rl is None:
            problems.append(
                FieldProblem(f"body.lines.{i}.line_no", "not_in_return", f"line {g.line_no} is not in {ret.number}")
            )
            continue
        if g.quantity > rl.quantity:
            problems.append(FieldProblem(f"body.lines.{i}.quantity", "too_many", f"{rl.quantity} requested"))
        sku = skus[olines[rl.order_line_id].sku_id]
        if sku.serial_tracked and len(g.serials) != g.quantity:
            problems.append(
                FieldProblem(f"body.lines.{i}.serials", "serials_required", f"scan the {g.quantity} unit(s)")
            )
    _fail(problems, "invalid return receipt")
    restock = [g for g in got if g.disposition == "restock"]
    scrap = [g for g in got if g.disposition == "scrap"]
    for group, flag in ((restock, True), (scrap, False)):
        if group:
            inventory.return_stock(
                session,
                SYSTEM,
                location_code=loc.code,
                lines=[
                    StockLineIn(
                        sku_code=olines[by_no[g.line_no].order_line_id].sku_code, quantity=g.quantity, serials=g.serials
                    )
                    for g in group
                ],
                reference=ret.number,
                reason=f"return {ret.number}" + ("" if flag else " (scrapped)"),
                restock=flag,
            )
    refund = 0
    for g in got:
        rl = by_no[g.line_no]
        ol = olines[rl.order_line_id]
        ol.returned += g.quantity
        rl.disposition = g.disposition
        rl.serials = list(g.serials)
        share = rl.refund_fen * g.quantity // rl.quantity
        rl.quantity, rl.refund_fen = g.quantity, share
        refund += share
    ret.status = "received"
    ret.location_id = loc.id
    ret.received_at = utcnow()
    ret.refund_fen = refund
    session.flush()
    _event(
        session,
        actor,
        order,
        "return",
        f"return {ret.number} received at {loc.code}",
        data={"return": ret.number, "location": loc.code, "refund_fen": refund},
        topic="return.received",
    )
    if refund > 0 and order.payment_status != "unpaid":
        _refund(session, actor, order, ret.id, refund, f"return {ret.number}", settled=False)
    return _return_out(session, ret, order)


def _refund(
    session: Session, actor: Principal, order: Order, return_id: int | None, amount: int, reason: str, *, settled: bool
) -> Refund:
    now = utcnow()
    refund = Refund(
        order_id=order.id,
        return_id=return_id,
        amount_fen=amount,
        status="succeeded" if settled else "pending",
        reason=reason[:255],
        created_at=now,
        settled_at=now if settled else None,
        created_by=actor.name[:128],
    )
    session.add(refund)
    session.flush()
    if settled:
        _apply_refund(order, amount)
    _event(
        session,
        actor,
        order,
        "refund",
        f"refund {amount} fen {'settled' if settled else 'pending'}: {reason}",
        data={"refund_id": refund.id, "amount_fen": amount},
        topic="refund.succeeded" if settled else "refund.created",
    )
    return refund


def _apply_refund(order: Order, amount: int) -> None:
    order.refunded_fen += amount
    order.payment_status = "refunded" if order.refunded_fen >= order.paid_fen else "partially_refunded"


@_verb
def settle_refund(
    session: Session, actor: Principal, refund_id: int, *, succeeded: bool, external_ref: str
) -> RefundOut:
    refund = repo.refund(session, refund_id, for_update=True)
    if refund is None:
        raise not_found("refund", refund_id)
    order = repo.order_by_id(session, refund.order_id, for_update=True)
    assert order is not None
    if not _visible(session, actor, order):
        raise not_found("refund", refund_id)
    if refund.status != "pending":
        raise InvalidTransition(f"refund {refund.id} is {refund.status}", extra={"status": refund.status})
    refund.status = "succeeded" if succeeded else "failed"
    refund.settled_at = utcnow()
    refund.external_ref = external_ref
    if succeeded:
        _apply_refund(order, refund.amount_fen)
    _event(
        session,
        actor,
        order,
        "refund",
        f"refund {refund.amount_fen} fen {refund.status}",
        data={"refund_id": refund.id, "external_ref": external_ref},
        topic=f"refund.{refund.status}",
    )
    return RefundOut.model_validate(refund)


# ================================================================ schedules


def unpaid_due(session: Session, now: datetime, limit: int = 100) -> list[int]:
    return repo.unpaid_due_ids(session, now, limit)


def held_orders(session: Session, limit: int = 50) -> list[int]:
    return repo.held_order_ids(session, limit)


def delivered_due(session: Session, now: datetime, limit: int = 200) -> list[int]:
    return repo.delivered_before_ids(session, now - timedelta(days=AUTO_COMPLETE_DAYS), limit)


@_verb
def cancel_unpaid_order(session: Session, order_id: int, now: datetime) -> bool:
    """An unpaid order past its hold: cancelled, stock released. False when no longer due."""
    order = repo.order_by_id(session, order_id, for_update=True)
    if order is None or order.payment_status != "unpaid" or order.status in ("cancelled", "completed"):
        return False
    if order.pay_by is None or order.pay_by > now or any(ln.shipped for ln in _lines(session, order)):
        return False
    _cancel(session, SYSTEM, order, "not paid in time")
    return True


@_verb
def retry_order(session: Session, order_id: int) -> bool:
    """An order waiting for stock, routed again; True when something was routed."""
    order = repo.order_by_id(session, order_id, for_update=True)
    if order is None or order.status in ("cancelled", "completed"):
        return False
    try:
        decision = _route(session, SYSTEM, order, trigger="retry")
    except InsufficientStock:
        return False
    return bool(decision and decision.legs)


@_verb
def auto_complete_order(session: Session, order_id: int, now: datetime) -> bool:
    order = repo.order_by_id(session, order_id, for_update=True)
    if order is None or order.status != "delivered" or order.delivered_at is None:
        return False
    if order.delivered_at > now - timedelta(days=AUTO_COMPLETE_DAYS):
        return False
    _transition(session, SYSTEM, order, "completed", f"no complaint within {AUTO_COMPLETE_DAYS} days")
    return True


def cancel_unpaid(session: Session, now: datetime, limit: int = 100) -> int:
    """Every due unpaid order, in the caller's transaction (the schedule uses one per order)."""
    return sum(1 for i in unpaid_due(session, now, limit) if cancel_unpaid_order(session, i, now))


def retry_held(session: Session, limit: int = 50) -> int:
    return sum(1 for i in held_orders(session, limit) if retry_order(session, i))


def auto_complete(session: Session, now: datetime, limit: int = 200) -> int:
    return sum(1 for i in delivered_due(session, now, limit) if auto_complete_order(session, i, now))


# ================================================================ queries


def _locations(session: Session, ids: Sequence[int | None]) -> dict[int, LocationOut]:
    return inventory.locations_by_ids(session, sorted({i for i in ids if i is not None}))


def order_out(session: Session, principal: Principal, order: Order, *, masker: Masker | None = None) -> OrderOut:
    m = masker or masker_for(principal)
    lines = _lines(session, order)
    fulfilments = _fulfilments(session, order)
    flines = _fulfilment_lines(session, [f.id for f in fulfilments])
    locs = _locations(
        session,
        [f.location_id for f in fulfilments]
        + [f.transfer_to_location_id for f in fulfilments]
        + [order.store_location_id],
    )
    line_no = {ln.id: ln.line_no for ln in lines}
    sku_code = {ln.id: ln.sku_code for ln in lines}
    return OrderOut(
        id=order.id,
        number=order.number,
        channel_code=order.channel_code,
        external_id=order.external_id,
        status=order.status,
        payment_status=order.payment_status,
        channel_status=order.channel_status,
        delivery_mode=order.delivery_mode,
        store_code=locs[order.store_location_id].code if order.store_location_id in locs else None,
        on_hold=order.on_hold,
        buyer=BuyerOut(
            phone=m.phone(order.buyer_phone),
            name=m.name(order.buyer_name),
            unionid=order.buyer_unionid,
            marketplace_id=order.buyer_marketplace_id,
            email=m.email(order.buyer_email),
            member_id=order.member_id,
        ),
        address=AddressOut(
            name=m.name(order.ship_name),
            phone=m.phone(order.ship_phone),
            province=order.ship_province,
            city=order.ship_city,
            district=order.ship_district,
            address=m.address(order.ship_address),
            postcode=order.ship_postcode,
            latitude=m.coordinate(order.ship_latitude),
            longitude=m.coordinate(order.ship_longitude),
        ),
        currency=order.currency,
        goods_fen=order.goods_fen,
        discount_fen=order.discount_fen,
        shipping_fen=order.shipping_fen,
        total_fen=order.total_fen,
        paid_fen=order.paid_fen,
        refunded_fen=order.refunded_fen,
        placed_at=order.placed_at,
        paid_at=order.paid_at,
        pay_by=order.pay_by,
        promised_at=order.promised_at,
        eta_at=order.eta_at,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        completed_at=order.completed_at,
        cancelled_at=order.cancelled_at,
        cancel_reason=order.cancel_reason,
        lines=[OrderLineOut.model_validate(ln) for ln in lines],
        fulfilments=[_fulfilment_out(f, flines.get(f.id, []), locs, line_no, sku_code) for f in fulfilments],
    )


def _fulfilment_out(
    f: Fulfilment,
    flines: list[FulfilmentLine],
    locs: dict[int, LocationOut],
    line_no: dict[int, int],
    sku_code: dict[int, str],
) -> FulfilmentOut:
    loc = locs.get(f.location_id)
    return FulfilmentOut(
        id=f.id,
        number=f.number,
        location_code=loc.code if loc else str(f.location_id),
        location_name=loc.name if loc else "",
        kind=f.kind,
        status=f.status,
        transfer_to_location_code=locs[f.transfer_to_location_id].code if f.transfer_to_location_id in locs else None,
        cost_fen=f.cost_fen,
        carrier=f.carrier,
        tracking_no=f.tracking_no,
        eta_at=f.eta_at,
        reject_reason=f.reject_reason,
        shipped_at=f.shipped_at,
        delivered_at=f.delivered_at,
        lines=[
            FulfilmentLineOut(
                line_no=line_no.get(fl.order_line_id, 0),
                sku_code=sku_code.get(fl.order_line_id, ""),
                quantity=fl.quantity,
                shipped=fl.shipped,
                serials=[str(s) for s in fl.serials],
            )
            for fl in flines
        ],
    )


def get_order(session: Session, principal: Principal, key: str) -> OrderOut:
    """By Zhongtai number, or by ``<channel>:<external id>``."""
    order = _find(session, principal, key)
    return order_out(session, principal, order)


def _find(session: Session, principal: Principal, key: str) -> Order:
    order = repo.order_by_number(session, key)
    if order is None and ":" in key:
        channel, _, ext = key.partition(":")
        order = repo.order_by_external(session, channel, ext)
    if order is None or not _visible(session, principal, order):
        raise not_found("order", key)
    return order


def get_by_external(session: Session, principal: Principal, channel_code: str, external_id: str) -> OrderOut:
    order = repo.order_by_external(session, channel_code, external_id)
    if order is None or not _visible(session, principal, order):
        raise not_found("order", f"{channel_code}:{external_id}")
    return order_out(session, principal, order)


def list_orders(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    channel_code: str | None = None,
    delivery_mode: str | None = None,
    on_hold: bool | None = None,
    location_code: str | None = None,
    buyer_phone: str | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[OrderSummaryOut]:
    location_id = None
    if location_code:
        location_id = inventory.location_ids_by_codes(session, [location_code]).get(location_code, -1)
    stmt = repo.orders_query(
        status=status,
        channel_code=channel_code,
        delivery_mode=delivery_mode,
        on_hold=on_hold,
        location_id=location_id,
        buyer_phone=buyer_phone,
        placed_from=placed_from,
        placed_to=placed_to,
        q=q,
    )
    stmt = repo.scoped_orders(principal, stmt)
    page = paginate(
        session,
        stmt,
        [SortKey(Order.placed_at, descending=True), SortKey(Order.id, descending=True)],
        cursor=cursor,
        limit=limit,
    )
    counts = repo.line_counts(session, [o.id for o in page.items])
    m = masker_for(principal)
    return page.map(
        lambda o: OrderSummaryOut(
            id=o.id,
            number=o.number,
            channel_code=o.channel_code,
            external_id=o.external_id,
            status=o.status,
            payment_status=o.payment_status,
            delivery_mode=o.delivery_mode,
            on_hold=o.on_hold,
            buyer_phone=m.phone(o.buyer_phone or o.ship_phone),
            buyer_name=m.name(o.buyer_name or o.ship_name),
            total_fen=o.total_fen,
            currency=o.currency,
            placed_at=o.placed_at,
            eta_at=o.eta_at,
            lines=counts.get(o.id, (0, 0))[0],
            units=counts.get(o.id, (0, 0))[1],
        ),
    )


def timeline(session: Session, principal: Principal, number: str) -> list[TimelineEntryOut]:
    order = _find(session, principal, number)
    return [TimelineEntryOut.model_validate(e) for e in repo.timeline(session, order.id)]


def routing_decisions(session: Session, principal: Principal, number: str) -> list[RoutingDecisionOut]:
    order = _find(session, principal, number)
    return [RoutingDecisionOut.model_validate(d) for d in repo.decisions(session, order.id)]


def order_returns(session: Session, principal: Principal, number: str) -> list[ReturnOut]:
    order = _find(session, principal, number)
    return [_return_out(session, r, order) for r in repo.returns_of(session, order.id)]


def order_refunds(session: Session, principal: Principal, number: str) -> list[RefundOut]:
    order = _find(session, principal, number)
    return [RefundOut.model_validate(r) for r in repo.refunds_of(session, order.id)]


def _return_out(session: Session, ret: ReturnRequest, order: Order) -> ReturnOut:
    rlines = repo.return_lines(session, [ret.id])[ret.id]
    olines = {ln.id: ln for ln in _lines(session, order)}
    loc = _locations(session, [ret.location_id]).get(ret.location_id or -1)
    return ReturnOut(
        id=ret.id,
        number=ret.number,
        order_number=order.number,
        status=ret.status,
        reason=ret.reason,
        location_code=loc.code if loc else None,
        refund_fen=ret.refund_fen,
        requested_at=ret.requested_at,
        decided_at=ret.decided_at,
        received_at=ret.received_at,
        created_by=ret.created_by,
        lines=[
            ReturnLineOut(
                line_no=olines[rl.order_line_id].line_no,
                sku_code=olines[rl.order_line_id].sku_code,
                quantity=rl.quantity,
                disposition=rl.disposition,
                serials=[str(s) for s in rl.serials],
                refund_fen=rl.refund_fen,
            )
            for rl in rlines
        ],
    )


def list_returns(
    session: Session, principal: Principal, *, status: str | None = None, cursor: str | None = None, limit: int = 50
) -> Page[ReturnOut]:
    stmt = repo.scoped_orders(principal, repo.returns_query(status=status, location_id=None))
    page = paginate(
        session,
        stmt,
        [SortKey(ReturnRequest.requested_at, descending=True), SortKey(ReturnRequest.id, descending=True)],
        cursor=cursor,
        limit=limit,
    )
    orders = {o.id: o for o in (repo.order_by_id(session, r.order_id) for r in page.items) if o is not None}
    return page.map(lambda r: _return_out(session, r, orders[r.order_id]))


def list_exceptions(
    session: Session,
    principal: Principal,
    *,
    status: str | None = "open",
    kind: str | None = None,
    channel_code: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[ExceptionOut]:
    stmt = repo.exceptions_query(status=status, kind=kind, channel_code=channel_code)
    page = paginate(
        session,
        stmt,
        [SortKey(OrderException.created_at, descending=True), SortKey(OrderException.id, descending=True)],
        cursor=cursor,
        limit=limit,
    )
    numbers = repo.order_numbers(session, [e.order_id for e in page.items if e.order_id])
    return page.map(
        lambda e: ExceptionOut.model_validate(e).model_copy(update={"order_number": numbers.get(e.order_id or -1)}),
    )


@_verb
def resolve_exception(session: Session, actor: Principal, exception_id: int, resolution: str) -> ExceptionOut:
    exc = repo.exception(session, exception_id)
    if exc is None:
        raise not_found("exception", exception_id)
    if exc.status != "open":
        raise InvalidTransition(f"exception {exc.id} is {exc.status}", extra={"status": exc.status})
    exc.status = "resolved"
    exc.resolved_at = utcnow()
    exc.resolved_by = actor.name[:128]
    exc.resolution = resolution[:255]
    if exc.order_id is not None:
        order = repo.order_by_id(session, exc.order_id, for_update=True)
        if order is not None:
            order.on_hold = bool(repo.open_exceptions(session, order.id))
            _event(session, actor, order, "exception", f"{exc.kind} resolved: {resolution}")
    record(session, actor, "order_exception.resolve", "order_exception", exc.id, after={"resolution": resolution})
    return ExceptionOut.model_validate(exc)


def fulfilment_queue(
    session: Session, principal: Principal, location_code: str, *, cursor: str | None = None, limit: int = 50
) -> Page[QueueItemOut]:
    """What a store or DC must pick now: open fulfilments, the most urgent (earliest ETA) first."""
    loc = inventory.get_location(session, principal, location_code)
    page = paginate(
        session,
        repo.queue_query(loc.id),
        [SortKey(Fulfilment.eta_at), SortKey(Fulfilment.id)],
        cursor=cursor,
        limit=limit,
    )
    orders = {o.id: o for o in (repo.order_by_id(session, f.order_id) for f in page.items) if o is not None}
    flines = _fulfilment_lines(session, [f.id for f in page.items])
    olines = repo.lines(session, list(orders))
    line_no = {ln.id: ln.line_no for lns in olines.values() for ln in lns}
    sku_code = {ln.id: ln.sku_code for lns in olines.values() for ln in lns}
    locs = {loc.id: loc}
    return page.map(
        lambda f: QueueItemOut(
            fulfilment=_fulfilment_out(f, flines.get(f.id, []), locs, line_no, sku_code),
            order_number=orders[f.order_id].number,
            delivery_mode=orders[f.order_id].delivery_mode,
            placed_at=orders[f.order_id].placed_at,
            due_at=orders[f.order_id].promised_at or f.eta_at,
        ),
    )


def set_fulfilment_settings(
    session: Session, actor: Principal, location_code: str, body: FulfilmentSettingsIn
) -> FulfilmentSettingsIn:
    loc = inventory.get_location(session, actor, location_code)
    ensure_location_access(actor, loc.id)
    row = session.get(FulfilmentSettings, loc.id)
    before = (
        None
        if row is None
        else {"workload_cap": row.workload_cap, "ships_express": row.ships_express, "same_city": row.same_city}
    )
    if row is None:
        row = FulfilmentSettings(location_id=loc.id)
        session.add(row)
    row.workload_cap = body.workload_cap
    row.ships_express = body.ships_express
    row.same_city = body.same_city
    row.updated_at = utcnow()
    row.updated_by = actor.name[:128]
    session.flush()
    record(session, actor, "fulfilment_settings.set", "location", loc.code, before=before, after=body.model_dump())
    return body


def get_fulfilment_settings(session: Session, principal: Principal, location_code: str) -> FulfilmentSettingsIn:
    loc = inventory.get_location(session, principal, location_code)
    row = session.get(FulfilmentSettings, loc.id)
    if row is None:
        return FulfilmentSettingsIn()
    return FulfilmentSettingsIn(workload_cap=row.workload_cap, ships_express=row.ships_express, same_city=row.same_city)


# --- The member center's view of orders (OneID links orders to members) -----------------------


@dataclass(frozen=True, slots=True)
class MemberOrder:
    """One order as the member card and member statistics see it."""

    number: str
    member_id: int | None
    channel_code: str
    status: str
    payment_status: str
    delivery_mode: str
    store_location_id: int | None
    total_fen: int
    paid_fen: int
    refunded_fen: int
    currency: str
    placed_at: datetime
    completed_at: datetime | None
    ship_city: str
    lines: int


def orders_of_members(session: Session, member_ids: Sequence[int], *, limit: int | None = None) -> list[MemberOrder]:
    """The members' orders, newest first."""
    if not member_ids:
        return []
    return [MemberOrder(*row) for row in repo.member_order_rows(session, list(member_ids), limit)]


def order_buyer(session: Session, number: str) -> MemberOrder | None:
    row = repo.member_order_row(session, number)
    return MemberOrder(*row) if row else None


@dataclass(frozen=True, slots=True)
class DeliveredOrder:
    number: str
    member_id: int
    channel_code: str
    delivered_at: datetime


def delivered_member_orders(
    session: Session, *, since: datetime, until: datetime, limit: int = 500
) -> list[DeliveredOrder]:
    """Members' orders delivered in [since, until), oldest first (customer service's care messages)."""
    return [DeliveredOrder(*row) for row in repo.delivered_member_orders(session, since, until, limit)]


@dataclass(frozen=True, slots=True)
class SerialUnit:
    """Where a serial-tracked unit went: the order and line that shipped it (warranty lookups)."""

    serial: str
    order_number: str
    member_id: int | None
    channel_code: str
    sku_code: str
    sku_name: str
    shipped_at: datetime | None
    delivered_at: datetime | None


def unit_by_serial(session: Session, serial: str) -> SerialUnit | None:
    """The most recent shipment of the unit with this serial (exact, case as stored), or None.
    Units picked but not shipped are not sold yet: None."""
    for order, fulfilment, line in repo.units_by_serial(session, serial.strip()):
        if fulfilment.shipped_at is None:
            continue
        return SerialUnit(
            serial=serial.strip(),
            order_number=order.number,
            member_id=order.member_id,
            channel_code=order.channel_code,
            sku_code=line.sku_code,
            sku_name=line.name,
            shipped_at=fulfilment.shipped_at,
            delivered_at=fulfilment.delivered_at,
        )
    return None


def buyer_phone_matches(session: Session, number: str, last4: str) -> bool:
    """Whether the order's buyer (or ship-to) phone ends with these four digits: how an anonymous
    customer proves an order is theirs before the bot says anything about it."""
    order = repo.order_by_number(session, number)
    if order is None or len(last4) != 4 or not last4.isdigit():
        return False
    phones = [re.sub(r"\D", "", p) for p in (order.buyer_phone, order.ship_phone) if p]
    return any(p.endswith(last4) for p in phones)


def assign_members(session: Session, assignments: dict[str, int]) -> int:
    """Sets ``member_id`` on orders by number (the member center's consumer, the demo's bulk load).
    Not a state change of the order: no timeline entry."""
    return repo.set_member_ids(session, assignments)


def reassign_member(session: Session, from_ids: Sequence[int], to_id: int) -> int:
    """A merge: the absorbed members' orders now belong to the survivor."""
    return repo.move_member_orders(session, list(from_ids), to_id)


def pseudonymise_buyers(session: Session, actor: Principal, member_ids: Sequence[int], pseudonym: str) -> int:
    """PIPL erasure: the buyer's name, phone, e-mail, WeChat and marketplace ids and the delivery
    address on the members' orders are blanked (city and province kept for statistics); lines,
    amounts and the timeline stay. The buyer identifiers in the orders' outbox events go too."""
    numbers = repo.pseudonymise_member_orders(session, list(member_ids), pseudonym)
    for number in numbers:
        record(session, actor, "order.pseudonymise", "order", number, after={"member": pseudonym})
    return len(numbers)


# ---------------------------------------------------------------- analytics export (read-only)


def export_sales_lines(session: Session, since: datetime, until: datetime) -> pl.DataFrame:
    """The lines of the orders placed in [since, until) as the lake's ``sales`` columns (without
    the local calendar columns and the unit cost, which the sink adds). ``store_location_id`` is the
    order's own store (POS, click & collect); ``fulfil_location_id`` the location of the line's first
    active fulfilment. ``net_quantity`` = quantity - cancelled - returned; ``net_fen`` is
    ``total_fen`` pro rata to it, rounded half up, in integer fen."""
    columns: dict[str, Any] = {
        "line_id": pl.Int64,
        "order_id": pl.Int64,
        "order_number": pl.Utf8,
        "channel_code": pl.Utf8,
        "store_location_id": pl.Int32,
        "fulfil_location_id": pl.Int32,
        "member_id": pl.Int64,
        "placed_at": pl.Datetime("us", "UTC"),
        "paid_at": pl.Datetime("us", "UTC"),
        "status": pl.Utf8,
        "sku_id": pl.Int32,
        "quantity": pl.Int32,
        "cancelled": pl.Int32,
        "returned": pl.Int32,
        "unit_price_fen": pl.Int64,
        "total_fen": pl.Int64,
        "currency": pl.Utf8,
    }
    frame = pl.DataFrame(repo.sales_line_rows(session, since, until), schema=columns, orient="row")
    net = (pl.col("quantity") - pl.col("cancelled") - pl.col("returned")).clip(lower_bound=0)
    quantity = pl.col("quantity").cast(pl.Int64)
    return frame.with_columns(net.alias("net_quantity")).with_columns(
        ((pl.col("total_fen") * pl.col("net_quantity") * 2 + quantity) // (2 * quantity)).alias("net_fen")
    )


def placed_range(session: Session) -> tuple[datetime | None, datetime | None]:
    """The first and last time an order was placed (None, None without orders)."""
    return repo.placed_range(session)


def placed_at_of_changed_orders(session: Session, since: datetime) -> list[datetime]:
    """When the orders changed after ``since`` were placed: the sink rewrites their months."""
    return repo.placed_at_of_changed_orders(session, since)
