"""Touchpoints' request and response shapes: the registry, heartbeats, the event API's answer and
the rejected events.

Request models forbid unknown fields, so a typo is a 422 naming the field. The registry's checks
that need the database or span fields (kind of a type, channel and store exist, factors) are the
registry verbs', which report every problem at once. The per-type event schemas are in
``touchpoints.events``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

TouchpointType = Literal["online", "offline", "commercial", "social"]
TouchpointStatus = Literal["planned", "active", "paused", "retired"]
HeartbeatStatus = Literal["ok", "degraded", "down"]

TouchpointCode = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TouchpointIn(_In):
    """A touchpoint to register. ``registered_at`` and an ``active`` status with ``connected_on``
    let an existing registry be imported as it was; by default a touchpoint starts ``planned`` and
    becomes active with its first heartbeat or event."""

    code: TouchpointCode
    name: Name
    name_en: Annotated[str, Field(max_length=128)] = ""
    type: str
    kind: str
    channel_code: str | None = None
    store_code: str | None = None
    owner: Annotated[str, Field(max_length=64)] = ""
    factors: list[str] = Field(default_factory=list)
    cost_fen_month: int = 0
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "CNY"
    heartbeat_interval_s: Annotated[int, Field(ge=10, le=86_400)] = 300
    status: Literal["planned", "active"] = "planned"
    connected_on: date | None = None
    registered_at: AwareDatetime | None = None


class TouchpointPatch(_In):
    """The fields to change; those not sent stay as they are (``store_code: null`` detaches)."""

    name: Name | None = None
    name_en: Annotated[str, Field(max_length=128)] | None = None
    kind: str | None = None
    channel_code: str | None = None
    store_code: str | None = None
    owner: Annotated[str, Field(max_length=64)] | None = None
    factors: list[str] | None = None
    cost_fen_month: int | None = None
    currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None
    heartbeat_interval_s: Annotated[int, Field(ge=10, le=86_400)] | None = None
    status: TouchpointStatus | None = None
    connected_on: date | None = None


class TouchpointOut(_Out):
    id: int
    code: str
    name: str
    name_en: str
    type: str
    kind: str
    channel_code: str | None
    store_code: str | None
    location_id: int | None
    owner: str
    factors: list[str]
    cost_fen_month: int
    currency: str
    status: str
    connected_on: date | None
    heartbeat_interval_s: int
    first_event_at: datetime | None
    last_event_at: datetime | None
    last_heartbeat_at: datetime | None
    last_latency_ms: int | None
    created_at: datetime
    updated_at: datetime


class TouchpointFilters(BaseModel):
    """The registry list's filters (all optional; ``q`` matches code and names)."""

    type: str | None = None
    status: str | None = None
    channel: str | None = None
    store: str | None = None
    q: str | None = None


class HeartbeatIn(_In):
    status: HeartbeatStatus = "ok"
    latency_ms: Annotated[int, Field(ge=0, le=3_600_000)] | None = None
    version: Annotated[str, Field(max_length=32)] = ""
    detail: Annotated[str, Field(max_length=255)] = ""
    at: AwareDatetime | None = None


class HeartbeatOut(_Out):
    at: datetime
    status: str
    latency_ms: int | None
    version: str
    detail: str


class ProblemOut(BaseModel):
    field: str
    code: str
    message: str


class EventErrorOut(BaseModel):
    """Why one event of a batch was rejected: its position, its id (when it had one) and every
    problem, each named by its path (``events[3].data.query``)."""

    index: int
    id: str
    errors: list[ProblemOut]


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    errors: list[EventErrorOut] = Field(default_factory=list)


class EventBatchIn(BaseModel):
    """``POST /api/v1/events``: a touchpoint's code and 1..1000 events. The events are validated
    one by one by the service (a bad event never fails the batch), so here they are any JSON."""

    model_config = ConfigDict(extra="forbid")

    touchpoint: Annotated[str, Field(min_length=1, max_length=48)]
    events: Annotated[list[Any], Field(min_length=1, max_length=1000)]


class RejectionOut(_Out):
    id: int
    received_at: datetime
    source: str
    event_id: str
    type: str
    errors: list[dict[str, Any]]
    payload: dict[str, Any]


class RejectionCounts(BaseModel):
    """Rejected events of one touchpoint: in total, in the last 24 hours, and by problem code."""

    total: int
    last_24h: int
    by_code: dict[str, int]


class EventTypeCount(BaseModel):
    type: str
    count: int
