"""Replenishment in the console: suggestions with their reasoning (approve, edit, reject, bulk
approve, run now), purchase orders (list, detail with the receive form and receipts) and the
transfers allocation and rebalancing made.

Every verb is a CSRF-protected form calling one service function as the logged-in person; a verb
the service refuses rolls back and shows the problem on the error page, nothing of it written.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from zhongtai import jobs
from zhongtai.auth.permissions import Perm
from zhongtai.errors import FieldProblem, ValidationFailed
from zhongtai.replenishment import service
from zhongtai.replenishment.schemas import (
    PO_STATUSES,
    SUGGESTION_KINDS,
    SUGGESTION_STATUSES,
    POFromSuggestionsIn,
    ReceiveIn,
    ReceiveLineIn,
    SuggestionOut,
)
from zhongtai.replenishment.tasks import REBALANCE, SUGGEST
from zhongtai.web import charts
from zhongtai.web.i18n import Translator
from zhongtai.web.page import Console, ConsoleForm, PageContext, form_fields, render, safe_next, with_done
from zhongtai.web.views.lookups import visible_locations

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
CHART_SUPPLIERS = 8
SERIAL_SPLIT = re.compile(r"[\s,，;；、]+")


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def reasoning(t: Translator, s: SuggestionOut) -> str:
    """The policy's reasons as one sentence: "14 天需求 93.4 件 + 安全库存 21 件 − 库存位置 60 件 =
    55 件 → 按箱规 12 取整 60 件"."""
    by = {r.get("code"): r for r in s.reasons}
    if "rebalance" in by:
        r = by["rebalance"]
        return t(
            "repl.reason.rebalance",
            source=_num(r.get("source_cover_days") or "∞"),
            target=_num(r.get("target_cover_days") or 0),
            km=_num(r.get("distance_km") or 0),
            units=_num(r.get("units") or s.quantity),
        )
    parts = [
        t(
            "repl.reason.base",
            days=_num(s.protection_days),
            demand=_num(s.demand_over_protection),
            safety=_num(s.safety_stock),
            position=_num(s.inventory_position),
            net=_num(s.order_up_to - s.inventory_position),
        )
    ]
    measured = by.get("protection_error")
    if measured is not None:
        # the safety stock above came from the measured error of forecast sums, not the quantiles
        parts.append(
            t(
                "repl.reason.protection_error",
                sigma=_num(measured.get("sigma_empirical") or 0.0),
                days=_num(measured.get("days") or s.protection_days),
                measured_sd=_num(measured.get("measured_sd") or 0.0),
                measured_days=_num(measured.get("measured_days") or 0),
                sigma_quantiles=_num(measured.get("sigma_quantiles") or 0.0),
            )
        )
    for code in ("moq", "case_pack", "shelf_cap", "allocation"):
        step = by.get(code)
        if step is None:
            continue
        values = {k: _num(v) for k, v in step.items() if k != "code" and v is not None}
        parts.append(t(f"repl.reason.{code}", **values))
    if "dc_demand" in by:
        parts.append(t("repl.reason.dc_demand", stores=by["dc_demand"].get("stores", 0)))
    return " → ".join(parts)


def _suggestion_filters(ctx: PageContext) -> dict[str, str]:
    q = ctx.request.query_params
    return {
        "status": q.get("status", "proposed"),
        "kind": q.get("kind", ""),
        "location": q.get("location", ""),
        "source": q.get("source", ""),
    }


@router.get("/replenishment/suggestions")
def suggestions(ctx: Console) -> Response:
    ctx.require(Perm.PLANNING_READ)
    f = _suggestion_filters(ctx)
    status = f["status"] if f["status"] in SUGGESTION_STATUSES else None
    kind = f["kind"] if f["kind"] in SUGGESTION_KINDS else None
    page = service.list_suggestions(
        ctx.session,
        ctx.principal,
        status=status,
        kind=kind,
        location_code=f["location"] or None,
        source_code=f["source"] or None,
        cursor=ctx.request.query_params.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    by_source = service.value_by_source(ctx.session, ctx.principal)[:CHART_SUPPLIERS]
    chart = charts.hbar_chart(
        [
            charts.Datum(f"{name}", value / 100, href=ctx.url("/replenishment/suggestions", source=code))
            for code, name, _, value in by_source
        ],
        title=ctx.t("repl.chart_title"),
        value_format=lambda v: ctx.money_compact(round(v * 100)),
        empty_message=ctx.t("repl.chart_empty"),
    )
    locations = visible_locations(ctx)
    return render(
        ctx,
        "replenishment/suggestions.html",
        rows=[(s, reasoning(ctx.t, s)) for s in page.items],
        next_cursor=page.next_cursor,
        filters=f,
        statuses=SUGGESTION_STATUSES,
        kinds=SUGGESTION_KINDS,
        targets=[(loc.code, ctx.name_of(loc)) for loc in locations if loc.type != "supplier"],
        sources=[
            (loc.code, ctx.name_of(loc)) for loc in locations if loc.type in ("supplier", "central_dc", "regional_dc")
        ],
        chart=chart,
        run=service.latest_run(ctx.session, "suggest"),
        can_write=ctx.can(Perm.PLANNING_WRITE),
        done=ctx.request.query_params.get("done", ""),
    )


def _back(ctx: PageContext, fields: dict[str, str], default: str) -> str:
    return safe_next(fields.get("next") or default)


@router.post("/replenishment/runs")
async def run_now(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.PLANNING_WRITE)
    fields = await form_fields(ctx)
    kind = REBALANCE if fields.get("kind") == "rebalance" else SUGGEST
    job = jobs.enqueue(ctx.session, ctx.principal, kind)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/replenishment/suggestions/{suggestion_id}/{verb}")
async def decide(suggestion_id: int, verb: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.PLANNING_WRITE)
    fields = await form_fields(ctx)
    if verb == "approve":
        service.approve_suggestion(ctx.session, ctx.principal, suggestion_id)
    elif verb == "reject":
        service.reject_suggestion(ctx.session, ctx.principal, suggestion_id, fields.get("reason", "")[:255])
    elif verb == "quantity":
        raw = fields.get("quantity", "").strip()
        if not raw.isdigit():
            raise ValidationFailed(
                "bad quantity", errors=[FieldProblem("quantity", "int_parsing", ctx.t("repl.bad_quantity"))]
            )
        service.edit_suggestion(ctx.session, ctx.principal, suggestion_id, int(raw))
    else:
        raise ValidationFailed("unknown verb", errors=[FieldProblem("verb", "unknown", verb)])
    return RedirectResponse(with_done(_back(ctx, fields, "/replenishment/suggestions"), verb), status_code=303)


@router.post("/replenishment/suggestions-bulk")
async def bulk(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.PLANNING_WRITE)
    form = await ctx.request.form()
    ids = [int(v) for v in form.getlist("ids") if isinstance(v, str) and v.isdigit()]
    fields = await form_fields(ctx)
    if ids:
        service.bulk_approve(ctx.session, ctx.principal, ids)
    return RedirectResponse(with_done(_back(ctx, fields, "/replenishment/suggestions"), "approve"), status_code=303)


@router.post("/replenishment/purchase-orders/from-suggestions")
async def order_approved(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.PLANNING_WRITE)
    created = service.create_purchase_orders(ctx.session, ctx.principal, POFromSuggestionsIn())
    target = (
        f"/replenishment/purchase-orders/{created[0].number}" if len(created) == 1 else "/replenishment/purchase-orders"
    )
    return RedirectResponse(with_done(target, "ordered"), status_code=303)


# ---------------------------------------------------------------- purchase orders


@router.get("/replenishment/purchase-orders")
def purchase_orders(ctx: Console) -> Response:
    ctx.require(Perm.PLANNING_READ)
    q = ctx.request.query_params
    status = q.get("status", "")
    page = service.list_purchase_orders(
        ctx.session,
        ctx.principal,
        status=status if status in PO_STATUSES else None,
        supplier_code=q.get("supplier") or None,
        cursor=q.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    receipts = service.list_receipts(ctx.session, ctx.principal, limit=10).items
    suppliers = [(loc.code, ctx.name_of(loc)) for loc in visible_locations(ctx, type="supplier")]
    return render(
        ctx,
        "replenishment/purchase_orders.html",
        orders=page.items,
        next_cursor=page.next_cursor,
        receipts=receipts,
        statuses=PO_STATUSES,
        suppliers=suppliers,
        filters={"status": status, "supplier": q.get("supplier", "")},
        can_write=ctx.can(Perm.PLANNING_WRITE),
        done=q.get("done", ""),
    )


@router.get("/replenishment/purchase-orders/{number}")
def purchase_order(number: str, ctx: Console) -> Response:
    ctx.require(Perm.PLANNING_READ)
    po = service.get_purchase_order(ctx.session, ctx.principal, number)
    return render(
        ctx,
        "replenishment/purchase_order.html",
        po=po,
        can_write=ctx.can(Perm.PLANNING_WRITE),
        done=ctx.request.query_params.get("done", ""),
    )


@router.post("/replenishment/purchase-orders/{number}/{verb}")
async def po_verb(number: str, verb: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.PLANNING_WRITE)
    fields = await form_fields(ctx)
    if verb == "approve":
        service.approve_purchase_order(ctx.session, ctx.principal, number)
    elif verb == "send":
        service.send_purchase_order(ctx.session, ctx.principal, number)
    elif verb == "cancel":
        service.cancel_purchase_order(ctx.session, ctx.principal, number, fields.get("reason", "")[:255])
    elif verb == "receive":
        po = service.get_purchase_order(ctx.session, ctx.principal, number)
        lines = []
        for ln in po.order_lines:
            raw = fields.get(f"qty_{ln.id}", "").strip()
            if not raw or raw == "0":
                continue
            if not raw.isdigit():
                raise ValidationFailed(
                    "bad quantity", errors=[FieldProblem(f"qty_{ln.id}", "int_parsing", ctx.t("repl.bad_quantity"))]
                )
            serials = [s for s in SERIAL_SPLIT.split(fields.get(f"serials_{ln.id}", "").strip()) if s]
            lines.append(ReceiveLineIn(sku_code=ln.sku_code, quantity=int(raw), serials=serials))
        if not lines:
            raise ValidationFailed(
                "nothing received", errors=[FieldProblem("lines", "empty", ctx.t("repl.nothing_received"))]
            )
        service.receive_purchase_order(
            ctx.session, ctx.principal, number, ReceiveIn(lines=lines, note=fields.get("note", "")[:255])
        )
    else:
        raise ValidationFailed("unknown verb", errors=[FieldProblem("verb", "unknown", verb)])
    return RedirectResponse(with_done(f"/replenishment/purchase-orders/{number}", verb), status_code=303)


# ---------------------------------------------------------------- transfers


@router.get("/replenishment/transfers")
def transfers(ctx: Console) -> Response:
    ctx.require(Perm.PLANNING_READ)
    proposed = [
        s
        for kind in ("transfer", "rebalance")
        for s in service.list_suggestions(
            ctx.session, ctx.principal, status="proposed", kind=kind, limit=PAGE_SIZE
        ).items
    ]
    links = service.list_transfer_links(ctx.session, ctx.principal, limit=PAGE_SIZE)
    return render(
        ctx,
        "replenishment/transfers.html",
        proposed=[(s, reasoning(ctx.t, s)) for s in proposed],
        links=links.items,
        run=service.latest_run(ctx.session, "rebalance"),
        can_write=ctx.can(Perm.PLANNING_WRITE),
        done=ctx.request.query_params.get("done", ""),
    )
