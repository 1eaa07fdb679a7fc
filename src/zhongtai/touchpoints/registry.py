"""The touchpoint registry (全触点登记): register, edit and list touchpoints, and their heartbeats.

A touchpoint is one system through which the business meets customers or goods: a web shop, a
mini-program, a store's camera system, a smart shelf, an ad screen, a WeChat group. Its ``type``
is one of four families, its ``kind`` one of that family's documented kinds, and its ``factors``
name which of the seven production factors it digitises (the maturity indicator's numerator).

Status: ``planned`` → ``active`` (set by the first heartbeat or accepted event, with the local
day as ``connected_on``) ⇄ ``paused`` → ``retired`` (final: a retired touchpoint's events are
refused). Every change is audited.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import allowed_location_ids, can_access_location
from zhongtai.channels import service as channels
from zhongtai.db import utcnow
from zhongtai.errors import (
    FieldProblem,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    not_found,
)
from zhongtai.inventory import service as inventory
from zhongtai.pagination import Page, SortKey, paginate
from zhongtai.touchpoints import repository as repo
from zhongtai.touchpoints.models import Touchpoint
from zhongtai.touchpoints.schemas import (
    HeartbeatIn,
    HeartbeatOut,
    TouchpointFilters,
    TouchpointIn,
    TouchpointOut,
    TouchpointPatch,
)

KINDS: dict[str, tuple[str, ...]] = {
    "online": ("web_shop", "mini_program", "official_account", "app", "marketplace_store"),
    "offline": ("camera", "interactive_screen", "smart_shelf", "pos", "scanner", "smart_cart"),
    "commercial": ("ad_screen", "vending_machine", "ott", "outdoor_ad"),
    "social": ("wechat_group", "guide_wecom", "live_stream", "community"),
}
TYPES: tuple[str, ...] = tuple(KINDS)
# Alibaba's seven production factors a touchpoint can digitise.
FACTORS: tuple[str, ...] = ("brand", "goods", "manufacturing", "channel", "marketing", "retail", "service")
STATUSES: tuple[str, ...] = ("planned", "active", "paused", "retired")
STATUS_FLOW: dict[str, frozenset[str]] = {
    "planned": frozenset({"active", "retired"}),
    "active": frozenset({"paused", "retired"}),
    "paused": frozenset({"active", "retired"}),
    "retired": frozenset(),
}
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
MAX_COST_FEN = 10**12


def local_day(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


def _out(tp: Touchpoint, store_code: str | None) -> TouchpointOut:
    return TouchpointOut(
        id=tp.id,
        code=tp.code,
        name=tp.name,
        name_en=tp.name_en,
        type=tp.type,
        kind=tp.kind,
        channel_code=tp.channel_code,
        store_code=store_code,
        location_id=tp.location_id,
        owner=tp.owner,
        factors=[str(f) for f in tp.factors or []],
        cost_fen_month=tp.cost_fen_month,
        currency=tp.currency,
        status=tp.status,
        connected_on=tp.connected_on,
        heartbeat_interval_s=tp.heartbeat_interval_s,
        first_event_at=tp.first_event_at,
        last_event_at=tp.last_event_at,
        last_heartbeat_at=tp.last_heartbeat_at,
        last_latency_ms=tp.last_latency_ms,
        created_at=tp.created_at,
        updated_at=tp.updated_at,
    )


def outs(session: Session, rows: list[Touchpoint]) -> list[TouchpointOut]:
    """Touchpoints as the API shows them (store codes looked up once for the whole list)."""
    stores = inventory.locations_by_ids(session, sorted({t.location_id for t in rows if t.location_id}))
    return [_out(t, stores[t.location_id].code if t.location_id in stores else None) for t in rows]


def _snapshot(tp: Touchpoint) -> dict[str, Any]:
    return {
        "name": tp.name,
        "name_en": tp.name_en,
        "kind": tp.kind,
        "channel_code": tp.channel_code,
        "location_id": tp.location_id,
        "owner": tp.owner,
        "factors": list(tp.factors or []),
        "cost_fen_month": tp.cost_fen_month,
        "currency": tp.currency,
        "heartbeat_interval_s": tp.heartbeat_interval_s,
        "status": tp.status,
        "connected_on": tp.connected_on,
    }


def _check_kind(problems: list[FieldProblem], type_: str, kind: str) -> None:
    if type_ not in KINDS:
        problems.append(FieldProblem("body.type", "invalid_type", f"type is one of {', '.join(TYPES)}"))
    elif kind not in KINDS[type_]:
        problems.append(
            FieldProblem(
                "body.kind", "invalid_kind", f"a {type_} touchpoint's kind is one of {', '.join(KINDS[type_])}"
            )
        )


def _check_factors(problems: list[FieldProblem], factors: list[str]) -> list[str]:
    unknown = [f for f in factors if f not in FACTORS]
    if unknown:
        problems.append(
            FieldProblem(
                "body.factors", "invalid_factor", f"unknown factor(s) {', '.join(unknown)}; one of {', '.join(FACTORS)}"
            )
        )
    return [f for f in FACTORS if f in factors]


def _check_cost(problems: list[FieldProblem], cost: int) -> None:
    if not 0 <= cost <= MAX_COST_FEN:
        problems.append(FieldProblem("body.cost_fen_month", "invalid_cost", "a monthly cost is 0 or more fen"))


def _check_channel(session: Session, problems: list[FieldProblem], code: str | None) -> None:
    if code and channels.unknown_codes(session, [code]):
        problems.append(FieldProblem("body.channel_code", "unknown_channel", f"no channel {code}"))


def _store_id(session: Session, problems: list[FieldProblem], code: str | None) -> int | None:
    if not code:
        return None
    try:
        loc = inventory.get_location_by_code(session, code)
    except NotFound:
        problems.append(FieldProblem("body.store_code", "unknown_store", f"no location {code}"))
        return None
    if loc.type != "store":
        problems.append(FieldProblem("body.store_code", "not_a_store", f"{code} is a {loc.type}, not a store"))
        return None
    return loc.id


def _ensure_store_access(actor: Principal, location_id: int | None) -> None:
    if location_id is not None and not can_access_location(actor, location_id):
        raise PermissionDenied("outside your store scope", extra={"code": "out_of_scope"})


def registration_problems(session: Session, data: TouchpointIn) -> tuple[list[FieldProblem], list[str], int | None]:
    """Every problem of a registration (kind of the type, factors, cost, channel, store, a taken
    code), the factors in canonical order and the store's location id."""
    problems: list[FieldProblem] = []
    _check_kind(problems, data.type, data.kind)
    factors = _check_factors(problems, data.factors)
    _check_cost(problems, data.cost_fen_month)
    _check_channel(session, problems, data.channel_code)
    location_id = _store_id(session, problems, data.store_code)
    if data.code and repo.by_code(session, data.code) is not None:
        problems.append(FieldProblem("body.code", "duplicate", f"touchpoint {data.code} already exists"))
    return problems, factors, location_id


def register_touchpoint(session: Session, actor: Principal, data: TouchpointIn) -> TouchpointOut:
    """Registers a touchpoint after checking every field against the registry's rules at once."""
    problems, factors, location_id = registration_problems(session, data)
    if problems:
        raise ValidationFailed(f"touchpoint {data.code} is invalid", errors=problems)
    _ensure_store_access(actor, location_id)
    at = data.registered_at.astimezone(UTC) if data.registered_at else utcnow()
    connected = data.connected_on or (local_day(at) if data.status == "active" else None)
    tp = Touchpoint(
        code=data.code,
        name=data.name,
        name_en=data.name_en,
        type=data.type,
        kind=data.kind,
        channel_code=data.channel_code or None,
        location_id=location_id,
        owner=data.owner,
        factors=factors,
        cost_fen_month=data.cost_fen_month,
        currency=data.currency.upper(),
        status=data.status,
        connected_on=connected,
        heartbeat_interval_s=data.heartbeat_interval_s,
        created_at=at,
        updated_at=at,
    )
    session.add(tp)
    session.flush()
    record(session, actor, "touchpoint.register", "touchpoint", tp.code, after=_snapshot(tp))
    return _out(tp, data.store_code if location_id else None)


def visible_touchpoint(session: Session, principal: Principal, code: str) -> Touchpoint:
    tp = repo.by_code(session, code)
    if tp is None:
        raise not_found("touchpoint", code)
    allowed = allowed_location_ids(principal)
    if allowed is not None and tp.location_id is not None and tp.location_id not in allowed:
        raise not_found("touchpoint", code)
    return tp


def update_touchpoint(session: Session, actor: Principal, code: str, patch: TouchpointPatch) -> TouchpointOut:
    """Edits a touchpoint; a status change must follow planned → active ⇄ paused → retired."""
    tp = visible_touchpoint(session, actor, code)
    changes = patch.model_dump(exclude_unset=True)
    problems: list[FieldProblem] = []
    kind = changes.get("kind", tp.kind)
    if "kind" in changes:
        _check_kind(problems, tp.type, kind)
    factors = _check_factors(problems, changes["factors"]) if changes.get("factors") is not None else None
    if changes.get("cost_fen_month") is not None:
        _check_cost(problems, changes["cost_fen_month"])
    if "channel_code" in changes:
        _check_channel(session, problems, changes["channel_code"])
    location_id = _store_id(session, problems, changes["store_code"]) if "store_code" in changes else tp.location_id
    for required in ("name", "kind", "cost_fen_month", "currency", "heartbeat_interval_s", "factors", "status"):
        if required in changes and changes[required] is None:
            problems.append(FieldProblem(f"body.{required}", "required", f"{required} cannot be null"))
    if problems:
        raise ValidationFailed(f"touchpoint {code} changes are invalid", errors=problems)
    _ensure_store_access(actor, location_id)
    status = changes.get("status") or tp.status
    if status != tp.status and status not in STATUS_FLOW[tp.status]:
        raise InvalidTransition(
            f"touchpoint {code} cannot go from {tp.status} to {status}", extra={"status": tp.status}
        )
    before = _snapshot(tp)
    for name in ("name", "name_en", "owner", "cost_fen_month", "heartbeat_interval_s", "connected_on"):
        if name in changes and (changes[name] is not None or name == "connected_on"):
            setattr(tp, name, changes[name])
    if "kind" in changes:
        tp.kind = kind
    if factors is not None:
        tp.factors = factors
    if "currency" in changes:
        tp.currency = str(changes["currency"]).upper()
    if "channel_code" in changes:
        tp.channel_code = changes["channel_code"] or None
    tp.location_id = location_id
    if status != tp.status:
        if status == "active" and tp.connected_on is None:
            tp.connected_on = local_day(utcnow())
        tp.status = status
    tp.updated_at = utcnow()
    after = _snapshot(tp)
    if after != before:
        record(session, actor, "touchpoint.update", "touchpoint", tp.code, before=before, after=after)
    session.flush()
    return outs(session, [tp])[0]


def get_touchpoint(session: Session, principal: Principal, code: str) -> TouchpointOut:
    return outs(session, [visible_touchpoint(session, principal, code)])[0]


def list_touchpoints(
    session: Session,
    principal: Principal,
    filters: TouchpointFilters | None = None,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[TouchpointOut]:
    """The touchpoints the principal may see, by code. A store-scoped reader sees their stores'
    touchpoints and every touchpoint without a store (online ones serve every store)."""
    f = filters or TouchpointFilters()
    location_id: int | None = None
    if f.store:
        location_id = inventory.location_ids_by_codes(session, [f.store]).get(f.store, -1)
    stmt = repo.touchpoints_query(type=f.type, status=f.status, channel=f.channel, location_id=location_id, q=f.q)
    allowed = allowed_location_ids(principal)
    if allowed is not None:
        stmt = repo.scope_visible(stmt, allowed)
    page = paginate(session, stmt, [SortKey(Touchpoint.code)], cursor=cursor, limit=limit)
    return Page(outs(session, page.items), page.next_cursor)


def ensure_channel_binding(actor: Principal, tp: Touchpoint) -> None:
    """An API key bound to a channel speaks only for that channel's touchpoints."""
    if actor.channel_code is not None and tp.channel_code != actor.channel_code:
        raise PermissionDenied(
            f"this key is bound to channel {actor.channel_code}; touchpoint {tp.code} is not",
            extra={"code": "wrong_channel"},
        )


def activate(session: Session, actor: Principal, tp: Touchpoint, at: datetime) -> None:
    """A planned touchpoint's first sign of life makes it active (connected on that local day)."""
    if tp.status != "planned":
        return
    if repo.activate_if_planned(session, tp.id, local_day(at)):
        record(session, actor, "touchpoint.activate", "touchpoint", tp.code, after={"status": "active"})


def record_heartbeat(session: Session, actor: Principal, code: str, data: HeartbeatIn) -> None:
    """A touchpoint says it is alive (and how well). Heartbeats are not audited one by one: the
    heartbeat rows are their own record; activation is."""
    tp = repo.by_code(session, code)
    if tp is None:
        raise not_found("touchpoint", code)
    ensure_channel_binding(actor, tp)
    if tp.status == "retired":
        raise InvalidTransition(f"touchpoint {code} is retired", extra={"status": tp.status})
    now = utcnow()
    at = min(data.at.astimezone(UTC), now) if data.at else now
    repo.record_heartbeat(
        session,
        tp.id,
        {
            "at": at,
            "status": data.status,
            "latency_ms": data.latency_ms,
            "version": data.version,
            "detail": data.detail,
        },
    )
    activate(session, actor, tp, at)


def heartbeats(session: Session, principal: Principal, code: str, *, hours: int = 24) -> list[HeartbeatOut]:
    """The touchpoint's heartbeats of the last ``hours``, oldest first."""
    tp = visible_touchpoint(session, principal, code)
    since = utcnow() - timedelta(hours=hours)
    return [HeartbeatOut.model_validate(h) for h in repo.heartbeats_since(session, tp.id, since)]


def health(tp: TouchpointOut, now: datetime | None = None) -> str:
    """healthy (a heartbeat within 1.5 intervals) | late (within 3) | down | never."""
    if tp.last_heartbeat_at is None:
        return "never"
    age = ((now or utcnow()) - tp.last_heartbeat_at).total_seconds()
    if age <= tp.heartbeat_interval_s * 1.5:
        return "healthy"
    if age <= tp.heartbeat_interval_s * 3:
        return "late"
    return "down"
