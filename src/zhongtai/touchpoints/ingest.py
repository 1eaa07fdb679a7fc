"""The event stream's intake: a touchpoint's batch of events validated, attributed and staged.

One request is one transaction with a fixed number of queries whatever the batch size: the
touchpoint, the batch's SKU codes, store codes and channels (one query each), its member
identifiers (one member-center lookup), one multi-row INSERT … ON CONFLICT DO NOTHING RETURNING
for the valid events and one executemany for the rejected ones. Each event is judged on its own:
a bad event is rejected with every problem named by its path and kept in
``touchpoint_event_rejections`` (counted, never dropped), the others are accepted. Resending a
batch is safe: an event id already stored for the touchpoint is a duplicate, not a second row.

``import_history`` loads already-valid history in bulk (the demo, a migration from an existing
platform).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.catalog import service as catalog
from zhongtai.channels import service as channels
from zhongtai.db import utcnow
from zhongtai.errors import FieldProblem, ValidationFailed
from zhongtai.inventory import service as inventory
from zhongtai.members import service as members
from zhongtai.members.identifiers import IdentifierIn
from zhongtai.touchpoints import registry
from zhongtai.touchpoints import repository as repo
from zhongtai.touchpoints.events import IN_STORE_TYPES, ParsedEvent, parse_event
from zhongtai.touchpoints.models import EventRejection, Touchpoint, TouchpointHeartbeat
from zhongtai.touchpoints.schemas import EventErrorOut, IngestResult, ProblemOut

MAX_EVENTS = 1000
MAX_PAYLOAD_BYTES = 4096
# last_event_at is a health signal, not an audit trail: refreshing it at most this often keeps
# concurrent batches of one touchpoint from queueing on its row.
LAST_EVENT_GRANULARITY = timedelta(seconds=30)


class EnvelopeRejected(ValidationFailed):
    """The batch as a whole is refused (unknown or retired touchpoint). The rejection rows of its
    events are already in the session: a caller that commits keeps them counted."""


def truncated_payload(raw: Any) -> dict[str, Any]:
    """The event as received, kept whole when its JSON fits in 4 KB, else cut to a 4 KB excerpt."""
    try:
        text = json.dumps(raw, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(raw)
    if len(text.encode()) <= MAX_PAYLOAD_BYTES and isinstance(raw, dict):
        return raw
    cut = text.encode()[:MAX_PAYLOAD_BYTES].decode(errors="ignore")
    return {"truncated": True, "excerpt": cut}


def _raw_id(raw: Any) -> str:
    value = raw.get("id") if isinstance(raw, dict) else None
    return str(value)[:64] if isinstance(value, str | int) else ""


def _raw_type(raw: Any) -> str:
    value = raw.get("type") if isinstance(raw, dict) else None
    return str(value)[:32] if isinstance(value, str) else ""


def _rejection_row(
    tp: Touchpoint | None, source: str, raw: Any, problems: list[FieldProblem], at: datetime
) -> dict[str, Any]:
    return {
        "received_at": at,
        "touchpoint_id": tp.id if tp is not None else None,
        "source": source[:48],
        "event_id": _raw_id(raw),
        "type": _raw_type(raw),
        "errors": [p.as_dict() for p in problems],
        "payload": truncated_payload(raw),
    }


@dataclass(slots=True)
class _Lookups:
    skus: dict[str, int]
    stores: dict[str, int]
    unknown_channels: set[str]
    members: dict[str, int]


def _lookups(session: Session, parsed: list[ParsedEvent]) -> _Lookups:
    sku_codes = sorted({p.sku for p in parsed if p.sku})
    store_codes = sorted({p.store for p in parsed if p.store})
    channel_codes = sorted({p.channel for p in parsed if p.channel})
    idents: dict[str, IdentifierIn] = {i.key: i for p in parsed for i in p.identifiers}
    return _Lookups(
        skus={c: r.id for c, r in catalog.sku_refs_by_codes(session, sku_codes).items()},
        stores=inventory.location_ids_by_codes(session, store_codes),
        unknown_channels=set(channels.unknown_codes(session, channel_codes)),
        members=members.member_ids_for_identifiers(session, list(idents.values())),
    )


def _resolve(p: ParsedEvent, tp: Touchpoint, found: _Lookups, at: datetime) -> dict[str, Any] | list[FieldProblem]:
    """The staged row of a parsed event, or the problems its codes have."""
    prefix = f"events[{p.index}]"
    problems: list[FieldProblem] = []
    if p.sku and p.sku not in found.skus:
        problems.append(FieldProblem(f"{prefix}.data.sku", "unknown_sku", f"no SKU {p.sku}"))
    if p.store and p.store not in found.stores:
        problems.append(FieldProblem(f"{prefix}.store", "unknown_store", f"no store {p.store}"))
    if p.channel and p.channel in found.unknown_channels:
        problems.append(FieldProblem(f"{prefix}.channel", "unknown_channel", f"no channel {p.channel}"))
    location_id = found.stores.get(p.store) if p.store else tp.location_id
    if p.type in IN_STORE_TYPES and location_id is None and not p.store:
        problems.append(
            FieldProblem(f"{prefix}.store", "missing", f"a {p.type} event needs a store (the touchpoint has none)")
        )
    if problems:
        return problems
    member_id = next((found.members[i.key] for i in p.identifiers if i.key in found.members), None)
    return {
        "source": tp.code,
        "event_id": p.event_id,
        "touchpoint_id": tp.id,
        "type": p.type,
        "occurred_at": p.occurred_at.astimezone(UTC),
        "received_at": at,
        "channel_code": p.channel or tp.channel_code,
        "location_id": location_id,
        "member_id": member_id,
        "identified": bool(p.identifiers),
        "anonymous_id": p.anonymous_id,
        "session_id": p.session_id,
        "sku_id": found.skus.get(p.sku) if p.sku else None,
        "data": p.data,
    }


def _refuse_batch(
    session: Session, tp: Touchpoint | None, code: str, raw_events: Sequence[Any], at: datetime
) -> EnvelopeRejected:
    if tp is None:
        problem = FieldProblem("body.touchpoint", "unknown_touchpoint", f"no touchpoint {code}")
    else:
        problem = FieldProblem("body.touchpoint", "retired", f"touchpoint {code} is retired and accepts no events")
    repo.insert_rejections(session, [_rejection_row(tp, code, raw, [problem], at) for raw in raw_events])
    return EnvelopeRejected(problem.message, errors=[problem], extra={"rejected": len(raw_events)})


def ingest_events(
    session: Session, actor: Principal, touchpoint_code: str, raw_events: list[dict[str, Any]]
) -> IngestResult:
    """Validates, attributes and stages a touchpoint's batch (1..1000 events); see the module doc.

    Raises ``EnvelopeRejected`` for an unknown or retired touchpoint (after adding one rejection
    row per event to the session), ``ValidationFailed`` for an empty or oversized batch and
    ``PermissionDenied`` when a channel-bound key posts for another channel's touchpoint."""
    at = utcnow()
    if not 1 <= len(raw_events) <= MAX_EVENTS:
        raise ValidationFailed(
            "a batch has 1 to 1000 events",
            errors=[FieldProblem("body.events", "batch_size", f"{len(raw_events)} events; send 1 to {MAX_EVENTS}")],
        )
    tp = repo.by_code(session, touchpoint_code)
    if tp is None or tp.status == "retired":
        raise _refuse_batch(session, tp, touchpoint_code, raw_events, at)
    registry.ensure_channel_binding(actor, tp)

    errors: dict[int, list[FieldProblem]] = {}
    parsed: list[ParsedEvent] = []
    for i, raw in enumerate(raw_events):
        outcome = parse_event(raw, i, at)
        if isinstance(outcome, ParsedEvent):
            parsed.append(outcome)
        else:
            errors[i] = outcome
    found = _lookups(session, parsed)
    rows: dict[str, dict[str, Any]] = {}
    in_batch_duplicates = 0
    for p in parsed:
        row = _resolve(p, tp, found, at)
        if isinstance(row, list):
            errors[p.index] = row
        elif p.event_id in rows:
            in_batch_duplicates += 1
        else:
            rows[p.event_id] = row

    # Sorted by id: concurrent batches of the same ids wait on each other in one order (no deadlock).
    ordered = [rows[k] for k in sorted(rows)]
    inserted = repo.insert_events(session, ordered)
    repo.insert_rejections(
        session, [_rejection_row(tp, tp.code, raw_events[i], problems, at) for i, problems in sorted(errors.items())]
    )
    if inserted:
        # The row read above says whether either update could match: a busy touchpoint's batches
        # then skip both round trips (the conditional UPDATEs still guard against a stale read).
        if tp.first_event_at is None:
            repo.mark_first_event(session, tp.id, at)
        stale = at - LAST_EVENT_GRANULARITY
        if tp.last_event_at is None or tp.last_event_at < stale:
            repo.touch_last_event(session, tp.id, at, stale)
        registry.activate(session, actor, tp, at)
    return IngestResult(
        accepted=len(inserted),
        duplicates=len(ordered) - len(inserted) + in_batch_duplicates,
        rejected=len(errors),
        errors=[
            EventErrorOut(index=i, id=_raw_id(raw_events[i]), errors=[ProblemOut(**p.as_dict()) for p in problems])
            for i, problems in sorted(errors.items())
        ],
    )


# ---------------------------------------------------------------- history import

EVENT_COLUMNS = (
    "source",
    "event_id",
    "touchpoint_id",
    "type",
    "occurred_at",
    "received_at",
    "channel_code",
    "location_id",
    "member_id",
    "identified",
    "anonymous_id",
    "session_id",
    "sku_id",
    "data",
)
HEARTBEAT_COLUMNS = ("touchpoint_id", "at", "status", "latency_ms", "version", "detail")
REJECTION_COLUMNS = ("touchpoint_id", "received_at", "source", "event_id", "type", "errors", "payload")
EVENT_DEFAULTS: dict[str, Any] = {
    "channel_code": None,
    "location_id": None,
    "member_id": None,
    "identified": False,
    "anonymous_id": "",
    "session_id": "",
    "sku_id": None,
    "data": {},
}


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _rows(frame: pl.DataFrame, columns: Sequence[str], defaults: dict[str, Any]) -> list[dict[str, Any]]:
    unknown = sorted(set(frame.columns) - set(columns) - {"touchpoint"})
    if unknown:
        raise ValidationFailed(
            "unknown columns",
            errors=[FieldProblem(f"columns.{c}", "unknown_column", "not a model column") for c in unknown],
        )
    out = []
    for row in frame.iter_rows(named=True):
        item = {**defaults, **{k: _utc(v) for k, v in row.items()}}
        for key, value in defaults.items():
            if item.get(key) is None and value is not None:
                item[key] = value
        out.append(item)
    return out


def _with_touchpoint_ids(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows naming their touchpoint by ``touchpoint`` code get its id (and, for events, the
    source defaults to that code)."""
    codes = {str(r["touchpoint"]) for r in rows if r.get("touchpoint") and not r.get("touchpoint_id")}
    known = repo.by_codes(session, codes)
    missing = sorted(codes - set(known))
    if missing:
        raise ValidationFailed(
            "unknown touchpoints",
            errors=[FieldProblem("body.touchpoint", "unknown_touchpoint", f"no touchpoint {c}") for c in missing],
        )
    for r in rows:
        code = r.pop("touchpoint", None)
        if code and not r.get("touchpoint_id"):
            r["touchpoint_id"] = known[str(code)].id
            r.setdefault("source", str(code))
            if not r.get("source"):
                r["source"] = str(code)
    return rows


def _bounds(events: list[dict[str, Any]], beats: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.get("touchpoint_id") is None:
            continue
        b = out.setdefault(int(e["touchpoint_id"]), {})
        at = e.get("received_at") or e["occurred_at"]
        b["first"] = min(b.get("first", at), at)
        b["last"] = max(b.get("last", at), at)
    for h in beats:
        b = out.setdefault(int(h["touchpoint_id"]), {})
        if "beat" not in b or h["at"] > b["beat"]:
            b["beat"], b["latency"] = h["at"], h.get("latency_ms")
    return out


def import_history(
    session: Session,
    actor: Principal,
    *,
    events: pl.DataFrame,
    heartbeats: pl.DataFrame,
    rejections: pl.DataFrame,
) -> dict[str, int]:
    """Bulk-loads already-valid history into the staging tables (columns = the model columns;
    events and rejections may name their touchpoint by ``touchpoint`` code instead of
    ``touchpoint_id``). Events already stored (same source and id) are skipped, so a re-run is
    safe. Afterwards each touchpoint's first/last event and last heartbeat include the history.
    Returns the rows written per table; audited once."""
    now = utcnow()
    event_rows = _with_touchpoint_ids(session, _rows(events, (*EVENT_COLUMNS, "touchpoint"), {**EVENT_DEFAULTS}))
    for r in event_rows:
        r.setdefault("received_at", r["occurred_at"])
        if r["received_at"] is None:
            r["received_at"] = r["occurred_at"]
        if isinstance(r.get("data"), str):
            r["data"] = json.loads(r["data"])
    beat_rows = _rows(heartbeats, HEARTBEAT_COLUMNS, {"status": "ok", "latency_ms": None, "version": "", "detail": ""})
    rejection_rows = _with_touchpoint_ids(
        session,
        _rows(
            rejections,
            (*REJECTION_COLUMNS, "touchpoint"),
            {"received_at": now, "source": "", "event_id": "", "type": "", "errors": [], "payload": {}},
        ),
    )
    counts = {
        "events": repo.insert_events_ignoring_duplicates(
            session, [{k: r.get(k) for k in EVENT_COLUMNS} for r in event_rows]
        ),
        "heartbeats": repo.insert_many(session, TouchpointHeartbeat, beat_rows),
        "rejections": repo.insert_many(
            session, EventRejection, [{k: r.get(k) for k in REJECTION_COLUMNS} for r in rejection_rows]
        ),
    }
    for tp_id, b in _bounds(event_rows, beat_rows).items():
        repo.set_bounds(
            session,
            tp_id,
            first_event=b.get("first"),
            last_event=b.get("last"),
            last_heartbeat=b.get("beat"),
            last_latency_ms=b.get("latency"),
        )
    record(session, actor, "touchpoint.import_history", "touchpoint_events", "history", after=counts)
    return counts
