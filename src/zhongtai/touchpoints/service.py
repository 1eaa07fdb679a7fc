"""The touchpoints context's public face: the verbs and reads other contexts, the API and the
console use (the registry, heartbeats, the event intake, the history import, rejections)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy.orm import Session

from zhongtai.auth.principal import Principal
from zhongtai.db import utcnow
from zhongtai.pagination import Page, SortKey, paginate
from zhongtai.touchpoints import repository as repo
from zhongtai.touchpoints.events import EVENT_TYPES, envelope_schema, type_schemas
from zhongtai.touchpoints.ingest import EnvelopeRejected, import_history, ingest_events
from zhongtai.touchpoints.models import EventRejection
from zhongtai.touchpoints.order_events import consume as consume_order_events
from zhongtai.touchpoints.registry import (
    FACTORS,
    KINDS,
    STATUSES,
    TYPES,
    get_touchpoint,
    health,
    heartbeats,
    list_touchpoints,
    record_heartbeat,
    register_touchpoint,
    registration_problems,
    update_touchpoint,
    visible_touchpoint,
)
from zhongtai.touchpoints.schemas import (
    EventTypeCount,
    HeartbeatIn,
    IngestResult,
    RejectionCounts,
    RejectionOut,
    TouchpointFilters,
    TouchpointIn,
    TouchpointOut,
    TouchpointPatch,
)

# How many of the latest rejections the per-code counts look at.
COUNTED_REJECTIONS = 5_000

__all__ = [
    "EVENT_TYPES",
    "FACTORS",
    "KINDS",
    "STATUSES",
    "TYPES",
    "EnvelopeRejected",
    "EventTypeCount",
    "HeartbeatIn",
    "IngestResult",
    "RejectionCounts",
    "RejectionOut",
    "TouchpointFilters",
    "TouchpointIn",
    "TouchpointOut",
    "TouchpointPatch",
    "consume_order_events",
    "envelope_schema",
    "event_counts_by_type",
    "get_touchpoint",
    "health",
    "heartbeats",
    "import_history",
    "ingest_events",
    "list_rejections",
    "list_touchpoints",
    "record_heartbeat",
    "register_touchpoint",
    "registration_problems",
    "rejection_counts",
    "type_schemas",
    "update_touchpoint",
]


def list_rejections(
    session: Session, principal: Principal, code: str, *, cursor: str | None = None, limit: int = 50
) -> Page[RejectionOut]:
    """A touchpoint's rejected events, newest first, with every reason and the payload."""
    tp = visible_touchpoint(session, principal, code)
    page = paginate(
        session, repo.rejections_query(tp.id), [SortKey(EventRejection.id, descending=True)], cursor=cursor, limit=limit
    )
    return page.map(RejectionOut.model_validate)


def rejection_counts(session: Session, principal: Principal, code: str) -> RejectionCounts:
    """How many events of the touchpoint were rejected: in all, in the last 24 h, and by problem
    code over the latest ``COUNTED_REJECTIONS``."""
    tp = visible_touchpoint(session, principal, code)
    total, recent = repo.rejection_totals(session, tp.id, utcnow() - timedelta(hours=24))
    codes: Counter[str] = Counter()
    for errors in repo.rejection_errors(session, tp.id, COUNTED_REJECTIONS):
        codes.update({str(e.get("code", "")) for e in errors if isinstance(e, dict)})
    return RejectionCounts(total=total, last_24h=recent, by_code=dict(codes.most_common()))


def event_counts_by_type(session: Session, principal: Principal, code: str, *, days: int = 7) -> list[EventTypeCount]:
    """The touchpoint's staged events of the last ``days`` by type, most frequent first."""
    tp = visible_touchpoint(session, principal, code)
    since = utcnow() - timedelta(days=days)
    return [EventTypeCount(type=t, count=n) for t, n in repo.event_counts_by_type(session, tp.id, since)]


def event_totals(session: Session, touchpoint_ids: list[int]) -> dict[int, int]:
    """Staged events per touchpoint id (the console list)."""
    return repo.event_counts(session, touchpoint_ids)
