"""Console pages: the touchpoint registry (/touchpoints) and one touchpoint (/touchpoints/{code}):
health, last event, monthly cost and factors; register and edit forms (touchpoints:write);
heartbeat latency over 24 hours, events by type over 7 days, the latest rejections and an
integration snippet."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from zhongtai.auth.permissions import Perm
from zhongtai.channels import service as channels_service
from zhongtai.db import utcnow
from zhongtai.errors import ValidationFailed, from_pydantic
from zhongtai.touchpoints import service
from zhongtai.touchpoints.schemas import TouchpointFilters, TouchpointIn, TouchpointOut, TouchpointPatch
from zhongtai.web import charts
from zhongtai.web.page import Console, ConsoleForm, PageContext, form_fields, render
from zhongtai.web.views.lookups import visible_locations

router = APIRouter(include_in_schema=False)
LIST_LIMIT = 200
RECENT_REJECTIONS = 10
FORM_FIELDS = (
    "code",
    "name",
    "name_en",
    "type",
    "kind",
    "channel_code",
    "store_code",
    "owner",
    "cost_fen_month",
    "heartbeat_interval_s",
)


def _problems_by_field(error: ValidationFailed) -> dict[str, str]:
    return {p.field.split(".")[-1]: p.message for p in error.errors}


def age_text(ctx: PageContext, tp_at: Any) -> str:
    """'3 min ago' style age of a timestamp, or — when it never happened."""
    if tp_at is None:
        return "—"
    seconds = max(int((utcnow() - tp_at).total_seconds()), 0)
    if seconds < 120:
        return ctx.t("tp.age_s", n=seconds)
    if seconds < 7200:
        return ctx.t("tp.age_m", n=seconds // 60)
    if seconds < 172_800:
        return ctx.t("tp.age_h", n=seconds // 3600)
    return ctx.t("tp.age_d", n=seconds // 86_400)


def _choices(ctx: PageContext) -> dict[str, Any]:
    return {
        "types": service.TYPES,
        "kinds": service.KINDS,
        "factors": service.FACTORS,
        "statuses": service.STATUSES,
        "channels": [(c.code, c.name) for c in channels_service.list_channels(ctx.session)],
        "stores": [(loc.code, ctx.name_of(loc)) for loc in visible_locations(ctx, type="store")],
    }


def _list_page(
    ctx: PageContext,
    filters: TouchpointFilters,
    *,
    form: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    page = service.list_touchpoints(ctx.session, ctx.principal, filters, limit=LIST_LIMIT)
    rows = [{"tp": tp, "health": service.health(tp), "event_age": age_text(ctx, tp.last_event_at)} for tp in page.items]
    return render(
        ctx,
        "touchpoints/list.html",
        status_code=status_code,
        rows=rows,
        filters=filters,
        truncated=page.next_cursor is not None,
        form=form or {"type": "online", "heartbeat_interval_s": "300", "cost_fen_month": "0", "factors": []},
        problems=problems or {},
        done=done,
        **_choices(ctx),
    )


@router.get("/touchpoints")
def touchpoints(
    ctx: Console, type: str = "", status: str = "", store: str = "", q: str = "", done: str = ""
) -> Response:
    ctx.require(Perm.ANALYTICS_READ)
    filters = TouchpointFilters(type=type or None, status=status or None, store=store or None, q=q or None)
    return _list_page(ctx, filters, done=done)


async def _form(ctx: PageContext) -> dict[str, Any]:
    fields: dict[str, Any] = await form_fields(ctx)
    raw = await ctx.request.form()
    fields["factors"] = [str(v) for v in raw.getlist("factors")]
    return fields


def _cleaned(form: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The form's values as the schema wants them: blanks dropped (defaults apply), money in fen."""
    data: dict[str, Any] = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            continue
        data[name] = value
    data["factors"] = list(form.get("factors") or [])
    return data


def _with_registry_problems(ctx: PageContext, cleaned: dict[str, Any], error: ValidationFailed) -> ValidationFailed:
    """The form's shape problems plus the registry's own checks on the fields that had the right
    shape, so one answer names every bad field."""
    flagged = {p.field for p in error.errors}
    lenient = TouchpointIn.model_construct(
        code=str(cleaned.get("code", "")),
        name=str(cleaned.get("name", "")),
        type=str(cleaned.get("type", "")),
        kind=str(cleaned.get("kind", "")),
        factors=list(cleaned.get("factors") or []),
        cost_fen_month=int(cleaned["cost_fen_month"]) if "body.cost_fen_month" not in flagged else 0,
        channel_code=cleaned.get("channel_code"),
        store_code=cleaned.get("store_code"),
    )
    extra = [p for p in service.registration_problems(ctx.session, lenient)[0] if p.field not in flagged]
    return ValidationFailed(error.detail, errors=[*error.errors, *extra])


@router.post("/touchpoints")
async def register(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.TOUCHPOINTS_WRITE)
    form = await _form(ctx)
    try:
        cleaned = _cleaned(form, FORM_FIELDS)
        try:
            data = TouchpointIn.model_validate(cleaned)
        except ValidationError as exc:
            raise _with_registry_problems(ctx, cleaned, from_pydantic(exc)) from exc
        tp = service.register_touchpoint(ctx.session, ctx.principal, data)
    except ValidationFailed as error:
        return _list_page(ctx, TouchpointFilters(), form=form, problems=_problems_by_field(error), status_code=422)
    return RedirectResponse(f"/touchpoints/{tp.code}?done=registered", status_code=303)


# The example event of the integration snippet, by what the touchpoint is: a camera counts
# visitors (demographic bands, never faces), a shelf sees goods picked up, a guide chats ...
_EXAMPLE_EVENTS: dict[str, dict[str, Any]] = {
    "camera": {
        "type": "store_entry",
        "data": {"visitor": "track-8f2c", "gender": "female", "age_band": "25-34"},
    },
    "smart_shelf": {"type": "shelf_interaction", "data": {"shelf": "A-03", "action": "pick_up", "duration_s": 12}},
    "scanner": {"type": "scan", "data": {"code": "6901234567892"}},
    "interactive_screen": {"type": "scan", "data": {"code": "6901234567892"}},
    "smart_cart": {"type": "scan", "data": {"code": "6901234567892"}},
    "guide_wecom": {"type": "chat", "data": {"direction": "in", "intent": "product_question"}},
    "wechat_group": {"type": "chat", "data": {"direction": "in"}},
}
_DEFAULT_EXAMPLE: dict[str, Any] = {"type": "search", "data": {"query": "手机", "results": 12}}


def _snippet(ctx: PageContext, tp: TouchpointOut) -> str:
    base = str(ctx.request.base_url).rstrip("/")
    example = _EXAMPLE_EVENTS.get(tp.kind, _DEFAULT_EXAMPLE)
    event: dict[str, Any] = {"id": "evt-000001", "type": example["type"], "at": "2026-12-05T10:15:00+08:00"}
    if tp.type != "offline":  # a store's devices see anonymous visitors, the others may know the member
        event["identifiers"] = [{"kind": "phone", "value": "13800138000"}]
    event["data"] = example["data"]
    batch = {"touchpoint": tp.code, "events": [event]}
    body = json.dumps(batch, ensure_ascii=False, indent=2)
    return (
        f"curl -X POST {base}/api/v1/events \\\n"
        '  -H "Authorization: Bearer $ZHONGTAI_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{body}'"
    )


def _detail_page(
    ctx: PageContext,
    code: str,
    *,
    form: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    tp = service.get_touchpoint(ctx.session, ctx.principal, code)
    beats = service.heartbeats(ctx.session, ctx.principal, code, hours=24)
    latency = [b for b in beats if b.latency_ms is not None]
    latency_svg = charts.line_chart(
        [b.at.astimezone(ZoneInfo(ctx.settings.default_timezone)).strftime("%H:%M") for b in latency],
        [charts.Series(ctx.t("tp.latency_ms"), [b.latency_ms or 0 for b in latency])],
        title=ctx.t("tp.latency_chart"),
        empty_message=ctx.t("tp.no_heartbeats"),
    )
    by_type = service.event_counts_by_type(ctx.session, ctx.principal, code, days=7)
    types_svg = charts.hbar_chart(
        [charts.Datum(ctx.t.maybe("tp.event_type", c.type), c.count) for c in by_type],
        title=ctx.t("tp.events_chart"),
        empty_message=ctx.t("tp.no_events"),
    )
    can_write = ctx.can(Perm.TOUCHPOINTS_WRITE)
    rejections = (
        service.list_rejections(ctx.session, ctx.principal, code, limit=RECENT_REJECTIONS).items if can_write else []
    )
    counts = service.rejection_counts(ctx.session, ctx.principal, code) if can_write else None
    default_form = {
        "name": tp.name,
        "name_en": tp.name_en,
        "kind": tp.kind,
        "channel_code": tp.channel_code or "",
        "store_code": tp.store_code or "",
        "owner": tp.owner,
        "cost_fen_month": str(tp.cost_fen_month),
        "heartbeat_interval_s": str(tp.heartbeat_interval_s),
        "status": tp.status,
        "factors": tp.factors,
    }
    return render(
        ctx,
        "touchpoints/detail.html",
        status_code=status_code,
        tp=tp,
        health=service.health(tp),
        event_age=age_text(ctx, tp.last_event_at),
        heartbeat_age=age_text(ctx, tp.last_heartbeat_at),
        latency_svg=latency_svg,
        types_svg=types_svg,
        events_7d=sum(c.count for c in by_type),
        rejections=rejections,
        counts=counts,
        snippet=_snippet(ctx, tp),
        form=form or default_form,
        problems=problems or {},
        done=done,
        can_write=can_write,
        since=utcnow() - timedelta(hours=24),
        **_choices(ctx),
    )


@router.get("/touchpoints/{code}")
def touchpoint(code: str, ctx: Console, done: str = "") -> Response:
    ctx.require(Perm.ANALYTICS_READ)
    return _detail_page(ctx, code, done=done)


@router.post("/touchpoints/{code}")
async def edit(code: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.TOUCHPOINTS_WRITE)
    form = await _form(ctx)
    data = _cleaned(
        form, ("name", "name_en", "kind", "channel_code", "owner", "cost_fen_month", "heartbeat_interval_s", "status")
    )
    # Blank selects mean "none" for the optional references, not "leave as is".
    data["channel_code"] = str(form.get("channel_code") or "").strip() or None
    data["store_code"] = str(form.get("store_code") or "").strip() or None
    data["name_en"] = str(form.get("name_en") or "").strip()
    data["owner"] = str(form.get("owner") or "").strip()
    try:
        try:
            patch = TouchpointPatch.model_validate(data)
        except ValidationError as exc:
            raise from_pydantic(exc) from exc
        service.update_touchpoint(ctx.session, ctx.principal, code, patch)
    except ValidationFailed as error:
        return _detail_page(ctx, code, form=form, problems=_problems_by_field(error), status_code=422)
    return RedirectResponse(f"/touchpoints/{code}?done=saved", status_code=303)
