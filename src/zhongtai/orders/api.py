"""The order center's HTTP API, mounted under /api/v1. Thin: parse, call one service function.

Channels push orders with ``orders:capture`` (a channel's API key only for its own channel);
reads need ``orders:read`` (store roles see their stores' orders, channel keys their channel's);
picking, packing, shipping and rejecting need ``orders:fulfil`` at that location; cancelling,
re-routing and exceptions ``orders:manage``; returns ``returns:write``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.http import DbSession, Paging, require
from zhongtai.orders import service
from zhongtai.orders.schemas import (
    DeliveryMode,
    ExceptionOut,
    FulfilmentSettingsIn,
    IntakeOut,
    OrderOut,
    OrderStatus,
    OrderSummaryOut,
    PickIn,
    QueueItemOut,
    ReasonIn,
    RefundOut,
    RefundSettleIn,
    RerouteIn,
    ReturnEligibilityOut,
    ReturnOut,
    ReturnReceiveIn,
    ReturnRequestIn,
    RoutingDecisionOut,
    ShipIn,
    StatusUpdateIn,
    TimelineEntryOut,
)
from zhongtai.pagination import PageOut

router = APIRouter(tags=["orders"])

Read = Annotated[Principal, Depends(require(Perm.ORDERS_READ))]
Capture = Annotated[Principal, Depends(require(Perm.ORDERS_CAPTURE))]
Fulfil = Annotated[Principal, Depends(require(Perm.ORDERS_FULFIL))]
Manage = Annotated[Principal, Depends(require(Perm.ORDERS_MANAGE))]
Returns = Annotated[Principal, Depends(require(Perm.RETURNS_WRITE))]


# ---------------------------------------------------------------- intake


@router.post(
    "/channels/{code}/orders",
    response_model=IntakeOut,
    status_code=201,
    responses={200: {"description": "the order was known: a duplicate or a status update"}},
)
def push_order(
    code: str,
    session: DbSession,
    actor: Capture,
    body: Annotated[dict[str, Any], Body(description="the order in the channel's own shape (see docs/orders.md)")],
) -> JSONResponse:
    result = service.intake(session, actor, code, body)
    return JSONResponse(result.out.model_dump(mode="json"), status_code=201 if result.created else 200)


@router.post("/channels/{code}/orders/{external_id}/status", response_model=IntakeOut)
def push_status(code: str, external_id: str, body: StatusUpdateIn, session: DbSession, actor: Capture) -> JSONResponse:
    out = service.update_status(session, actor, code, external_id, body)
    return JSONResponse(out.model_dump(mode="json"), status_code=202 if out.parked else 200)


@router.get("/channels/{code}/orders/{external_id}", response_model=OrderOut)
def get_channel_order(code: str, external_id: str, session: DbSession, principal: Read) -> OrderOut:
    return service.get_by_external(session, principal, code, external_id)


# ---------------------------------------------------------------- queries


@router.get("/orders", response_model=PageOut[OrderSummaryOut])
def list_orders(
    session: DbSession,
    principal: Read,
    paging: Paging,
    status: OrderStatus | None = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    mode: DeliveryMode | None = None,
    on_hold: bool | None = None,
    location: Annotated[str | None, Query(max_length=32, description="sold, collected or fulfilled here")] = None,
    phone: Annotated[str | None, Query(max_length=32, description="buyer or receiver phone")] = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    q: Annotated[str | None, Query(max_length=64, description="order number, external id or phone")] = None,
) -> PageOut[OrderSummaryOut]:
    page = service.list_orders(
        session,
        principal,
        status=status,
        channel_code=channel,
        delivery_mode=mode,
        on_hold=on_hold,
        location_code=location,
        buyer_phone=phone,
        placed_from=placed_from,
        placed_to=placed_to,
        q=q,
        cursor=paging.cursor,
        limit=paging.limit,
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.get("/orders/{number}", response_model=OrderOut)
def get_order(number: str, session: DbSession, principal: Read) -> OrderOut:
    return service.get_order(session, principal, number)


@router.get("/orders/{number}/timeline", response_model=list[TimelineEntryOut])
def get_timeline(number: str, session: DbSession, principal: Read) -> list[TimelineEntryOut]:
    return service.timeline(session, principal, number)


@router.get("/orders/{number}/routing", response_model=list[RoutingDecisionOut])
def get_routing(number: str, session: DbSession, principal: Read) -> list[RoutingDecisionOut]:
    return service.routing_decisions(session, principal, number)


@router.get("/orders/{number}/returns", response_model=list[ReturnOut])
def get_order_returns(number: str, session: DbSession, principal: Read) -> list[ReturnOut]:
    return service.order_returns(session, principal, number)


@router.get("/orders/{number}/refunds", response_model=list[RefundOut])
def get_order_refunds(number: str, session: DbSession, principal: Read) -> list[RefundOut]:
    return service.order_refunds(session, principal, number)


@router.get("/orders/{number}/return-eligibility", response_model=ReturnEligibilityOut)
def get_return_eligibility(number: str, session: DbSession, principal: Read) -> ReturnEligibilityOut:
    return service.return_eligibility(session, principal, number)


# ---------------------------------------------------------------- order verbs


@router.post("/orders/{number}/cancel", response_model=OrderOut)
def cancel_order(number: str, body: ReasonIn, session: DbSession, actor: Manage) -> OrderOut:
    return service.cancel(session, actor, number, body.reason)


@router.post("/orders/{number}/reroute", response_model=OrderOut)
def reroute_order(number: str, body: RerouteIn, session: DbSession, actor: Manage) -> OrderOut:
    return service.reroute(session, actor, number, location_code=body.location_code, reason=body.reason)


@router.post("/orders/{number}/retry-routing", response_model=OrderOut)
def retry_routing(number: str, session: DbSession, actor: Manage) -> OrderOut:
    return service.retry_routing(session, actor, number)


@router.post("/orders/{number}/complete", response_model=OrderOut)
def complete_order(number: str, session: DbSession, actor: Manage) -> OrderOut:
    return service.complete(session, actor, number)


# ---------------------------------------------------------------- fulfilments


@router.post("/fulfilments/{number}/pick", response_model=OrderOut)
def pick(number: str, body: PickIn, session: DbSession, actor: Fulfil) -> OrderOut:
    return service.start_picking(session, actor, number, body)


@router.post("/fulfilments/{number}/pack", response_model=OrderOut)
def pack(number: str, session: DbSession, actor: Fulfil) -> OrderOut:
    return service.pack(session, actor, number)


@router.post("/fulfilments/{number}/ship", response_model=OrderOut)
def ship(number: str, body: ShipIn, session: DbSession, actor: Fulfil) -> OrderOut:
    return service.ship(session, actor, number, body)


@router.post("/fulfilments/{number}/deliver", response_model=OrderOut)
def deliver(number: str, session: DbSession, actor: Fulfil) -> OrderOut:
    return service.deliver(session, actor, number)


@router.post("/fulfilments/{number}/reject", response_model=OrderOut)
def reject(number: str, body: ReasonIn, session: DbSession, actor: Fulfil) -> OrderOut:
    return service.reject(session, actor, number, body.reason)


@router.post("/fulfilments/{number}/cancel", response_model=OrderOut)
def cancel_fulfilment(number: str, body: ReasonIn, session: DbSession, actor: Manage) -> OrderOut:
    return service.cancel_fulfilment(session, actor, number, body.reason)


@router.get("/locations/{code}/fulfilment-queue", response_model=PageOut[QueueItemOut])
def fulfilment_queue(code: str, session: DbSession, principal: Read, paging: Paging) -> PageOut[QueueItemOut]:
    page = service.fulfilment_queue(session, principal, code, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.get("/locations/{code}/fulfilment-settings", response_model=FulfilmentSettingsIn)
def get_fulfilment_settings(code: str, session: DbSession, principal: Read) -> FulfilmentSettingsIn:
    return service.get_fulfilment_settings(session, principal, code)


@router.put("/locations/{code}/fulfilment-settings", response_model=FulfilmentSettingsIn)
def put_fulfilment_settings(
    code: str, body: FulfilmentSettingsIn, session: DbSession, actor: Fulfil
) -> FulfilmentSettingsIn:
    return service.set_fulfilment_settings(session, actor, code, body)


# ---------------------------------------------------------------- returns and refunds


@router.post("/orders/{number}/returns", response_model=ReturnOut, status_code=201)
def request_return(number: str, body: ReturnRequestIn, session: DbSession, actor: Returns) -> ReturnOut:
    return service.request_return(session, actor, number, body.lines, body.reason)


@router.get("/returns", response_model=PageOut[ReturnOut])
def list_returns(
    session: DbSession, principal: Read, paging: Paging, status: Annotated[str | None, Query(max_length=16)] = None
) -> PageOut[ReturnOut]:
    page = service.list_returns(session, principal, status=status, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.post("/returns/{number}/approve", response_model=ReturnOut)
def approve_return(number: str, session: DbSession, actor: Returns) -> ReturnOut:
    return service.decide_return(session, actor, number, approve=True)


@router.post("/returns/{number}/reject", response_model=ReturnOut)
def reject_return(number: str, body: ReasonIn, session: DbSession, actor: Returns) -> ReturnOut:
    return service.decide_return(session, actor, number, approve=False, reason=body.reason)


@router.post("/returns/{number}/receive", response_model=ReturnOut)
def receive_return(number: str, body: ReturnReceiveIn, session: DbSession, actor: Returns) -> ReturnOut:
    return service.receive_return(session, actor, number, location_code=body.location_code, lines=body.lines)


@router.post("/refunds/{refund_id}/settle", response_model=RefundOut)
def settle_refund(refund_id: int, body: RefundSettleIn, session: DbSession, actor: Manage) -> RefundOut:
    return service.settle_refund(session, actor, refund_id, succeeded=body.succeeded, external_ref=body.external_ref)


# ---------------------------------------------------------------- exceptions


@router.get("/order-exceptions", response_model=PageOut[ExceptionOut])
def list_exceptions(
    session: DbSession,
    principal: Manage,
    paging: Paging,
    status: Annotated[str | None, Query(max_length=16)] = "open",
    kind: Annotated[str | None, Query(max_length=32)] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
) -> PageOut[ExceptionOut]:
    page = service.list_exceptions(
        session,
        principal,
        status=status or None,
        kind=kind,
        channel_code=channel,
        cursor=paging.cursor,
        limit=paging.limit,
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.post("/order-exceptions/{exception_id}/resolve", response_model=ExceptionOut)
def resolve_exception(exception_id: int, body: ReasonIn, session: DbSession, actor: Manage) -> ExceptionOut:
    return service.resolve_exception(session, actor, exception_id, body.reason)
