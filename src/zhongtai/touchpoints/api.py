"""Touchpoints HTTP API: the registry (/api/v1/touchpoints), heartbeats and the event stream
(POST /api/v1/events).

Reading the registry needs analytics:read (store roles see their stores' touchpoints and the
online ones), changing it touchpoints:write; touchpoint systems post events and heartbeats with
events:write. A key bound to a channel speaks only for that channel's touchpoints.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.http import DbSession, Paging, require
from zhongtai.observability import request_id_var
from zhongtai.pagination import PageOut
from zhongtai.touchpoints import service
from zhongtai.touchpoints.schemas import (
    EventBatchIn,
    HeartbeatIn,
    IngestResult,
    RejectionCounts,
    RejectionOut,
    TouchpointFilters,
    TouchpointIn,
    TouchpointOut,
    TouchpointPatch,
)

router = APIRouter(tags=["touchpoints"])

Read = Annotated[Principal, Depends(require(Perm.ANALYTICS_READ))]
Write = Annotated[Principal, Depends(require(Perm.TOUCHPOINTS_WRITE))]
Events = Annotated[Principal, Depends(require(Perm.EVENTS_WRITE))]


class EventTypesOut(BaseModel):
    """Each event type's ``data`` JSON schema, and the envelope every event shares."""

    envelope: dict[str, Any]
    types: dict[str, dict[str, Any]]


# ---------------------------------------------------------------- the registry


@router.get("/touchpoints", response_model=PageOut[TouchpointOut])
def list_touchpoints(
    session: DbSession,
    principal: Read,
    paging: Paging,
    type: Annotated[str | None, Query(description="online | offline | commercial | social")] = None,
    status: Annotated[str | None, Query(description="planned | active | paused | retired")] = None,
    channel: Annotated[str | None, Query(description="channel code")] = None,
    store: Annotated[str | None, Query(description="store location code")] = None,
    q: Annotated[str | None, Query(description="part of the code or a name")] = None,
) -> PageOut[TouchpointOut]:
    filters = TouchpointFilters(type=type, status=status, channel=channel, store=store, q=q)
    page = service.list_touchpoints(session, principal, filters, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.post("/touchpoints", response_model=TouchpointOut, status_code=201)
def post_touchpoint(body: TouchpointIn, session: DbSession, actor: Write) -> TouchpointOut:
    return service.register_touchpoint(session, actor, body)


@router.get("/touchpoints/{code}", response_model=TouchpointOut)
def get_touchpoint(code: str, session: DbSession, principal: Read) -> TouchpointOut:
    return service.get_touchpoint(session, principal, code)


@router.patch("/touchpoints/{code}", response_model=TouchpointOut)
def patch_touchpoint(code: str, body: TouchpointPatch, session: DbSession, actor: Write) -> TouchpointOut:
    return service.update_touchpoint(session, actor, code, body)


@router.post("/touchpoints/{code}/heartbeats", status_code=204)
def post_heartbeat(code: str, body: HeartbeatIn, session: DbSession, actor: Events) -> None:
    service.record_heartbeat(session, actor, code, body)


@router.get("/touchpoints/{code}/rejections", response_model=PageOut[RejectionOut])
def list_rejections(code: str, session: DbSession, principal: Write, paging: Paging) -> PageOut[RejectionOut]:
    """The touchpoint's rejected events, newest first (cursor-paged)."""
    page = service.list_rejections(session, principal, code, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.get("/touchpoints/{code}/rejections/counts", response_model=RejectionCounts)
def rejection_counts(code: str, session: DbSession, principal: Write) -> RejectionCounts:
    return service.rejection_counts(session, principal, code)


# ---------------------------------------------------------------- the event stream


@router.get("/events/types", response_model=EventTypesOut)
def event_types(_: Events) -> EventTypesOut:
    return EventTypesOut(envelope=service.envelope_schema(), types=service.type_schemas())


@router.post("/events", response_model=IngestResult)
def post_events(body: EventBatchIn, request: Request, session: DbSession, actor: Events) -> Any:
    """A touchpoint's batch of 1..1000 events; partial acceptance (see docs/touchpoints.md).

    An unknown or retired touchpoint refuses the batch with a 422 problem, but its events are
    still recorded as rejections (so they are counted): the answer is returned rather than raised
    so that the request's transaction commits them."""
    try:
        return service.ingest_events(session, actor, body.touchpoint, body.events)
    except service.EnvelopeRejected as refused:
        return JSONResponse(
            refused.problem(request.url.path, request_id_var.get()),
            status_code=refused.status,
            media_type="application/problem+json",
        )
