"""The order center in the console: the order list with its 14-day chart, an order's page (lines,
fulfilments, timeline, why it was routed where, returns and refunds, and the verbs the person's
role allows), a location's fulfilment queue, returns and the exception queue.

Every verb is a CSRF-protected form that calls one service function as the logged-in person. A
verb the service refuses (bad input, wrong state, no stock) rolls the transaction back and shows
the order again with the problem; nothing of it is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from zhongtai.auth.permissions import Perm
from zhongtai.catalog import service as catalog_service
from zhongtai.catalog.service import SkuRef
from zhongtai.channels import service as channels_service
from zhongtai.errors import Conflict, DomainError, FieldProblem, ValidationFailed, from_pydantic, not_found
from zhongtai.inventory import service as inventory_service
from zhongtai.inventory.schemas import LocationOut
from zhongtai.orders import service as order_service
from zhongtai.orders import stats
from zhongtai.orders.schemas import (
    DELIVERY_MODES,
    ORDER_STATUSES,
    PickIn,
    ReasonIn,
    ReceiveLineIn,
    RefundSettleIn,
    RerouteIn,
    ReturnRequestIn,
    RoutingDecisionOut,
    ShipIn,
    TimelineEntryOut,
)
from zhongtai.web import charts, formatting
from zhongtai.web.page import Console, ConsoleForm, PageContext, form_fields, render, safe_next, with_done
from zhongtai.web.views.lookups import visible_locations

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30
QUEUE_SIZE = 50
CHART_DAYS = 14
CHART_CHANNELS = 5  # the busiest channels get a colour each; the rest stack as "other"
CANDIDATES_SHOWN = 10  # candidate rows shown before "show the other N"
FULFILLING_TYPES = ("central_dc", "regional_dc", "store")
PAYMENT_STATUSES = ("unpaid", "paid", "partially_refunded", "refunded")
FULFILMENT_STATUSES = ("routed", "picking", "packed", "shipped", "delivered", "rejected", "cancelled")
FULFILMENT_KINDS = ("ship", "same_city", "pickup", "pos")
RETURN_STATUSES = ("requested", "approved", "rejected", "received", "closed")
REFUND_STATUSES = ("pending", "succeeded", "failed")
EXCEPTION_KINDS = (
    "no_stock",
    "cancel_after_shipment",
    "completed_before_shipment",
    "amount_mismatch",
    "same_city_unavailable",
    "reroute_failed",
)
EXCEPTION_STATUSES = ("open", "resolved")
EVENT_KINDS = ("status", "payment", "routing", "fulfilment", "return", "refund", "exception", "note", "channel")
TRIGGERS = ("capture", "reroute_rejected", "reroute_cancelled", "manual", "retry", "payment_late")
METHODS = ("single", "exact", "feasible", "none", "nearest", "manual")
EXCLUSIONS = (
    "excluded_by_request",
    "unsupported_type",
    "not_pickup_store",
    "not_a_store",
    "no_express_from_store",
    "no_coordinates",
    "beyond_same_city_radius",
    "over_workload_cap",
    "no_stock",
)
BREAKDOWN = ("legs_fen", "split_penalty_fen", "late_penalty_fen", "safety_dip_fen")
# What a timeline row may show of its data: never the buyer identifiers the service keeps there.
EVENT_FIELDS = ("fulfilment", "carrier", "tracking_no", "return", "location", "reason", "exception")
EVENT_MONEY = ("paid_fen", "amount_fen", "refund_fen")
DONE = (
    "rerouted",
    "retried",
    "cancelled",
    "picked",
    "packed",
    "shipped",
    "delivered",
    "rejected",
    "fulfilment_cancelled",
    "return_requested",
    "return_approved",
    "return_rejected",
    "return_received",
    "refund_settled",
    "resolved",
)
# Problems pydantic finds in a typed form: the translation says it all.
FORM_CODES = ("missing", "string_too_short", "string_too_long", "int_parsing", "greater_than_equal", "less_than_equal")
SERIAL_SPLIT = re.compile(r"[\s,，;；、]+")
M = TypeVar("M", bound=BaseModel)


# ================================================================ small helpers


def _parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc) from None


def _serials(text: str) -> list[str]:
    return [s for s in SERIAL_SPLIT.split(text.strip()) if s]


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _day_start(day: date, tz: str) -> datetime:
    return datetime.combine(day, time.min, ZoneInfo(tz)).astimezone(UTC)


def _done(value: str) -> str:
    return value if value in DONE else ""


def _sku_refs(ctx: PageContext, codes: Sequence[str]) -> dict[str, SkuRef]:
    return catalog_service.sku_refs_by_codes(ctx.session, sorted(set(codes)))


def _channel_names(ctx: PageContext) -> dict[str, str]:
    return {c.code: ctx.name_of(c) for c in channels_service.list_channels(ctx.session)}


def _fulfilling(ctx: PageContext) -> list[LocationOut]:
    """Stores and DCs the person sees: DCs first, then stores, by code."""
    return sorted(
        (loc for loc in visible_locations(ctx) if loc.type in FULFILLING_TYPES and loc.is_active),
        key=lambda loc: (FULFILLING_TYPES.index(loc.type), loc.code),
    )


@dataclass(frozen=True, slots=True)
class Problem:
    label: str
    text: str


def problems_of(ctx: PageContext, error: DomainError) -> list[Problem]:
    """Each field problem in the page's language where we know it, the service's words otherwise."""
    out = []
    for p in error.errors:
        name = p.field.split(".")[-1]
        label = ctx.t.maybe("orders.field", name) if ctx.t.has(f"orders.field.{name}") else p.field
        text = ctx.t(f"orders.problem.{p.code}") if ctx.t.has(f"orders.problem.{p.code}") else ""
        if not text or p.code in FORM_CODES:
            out.append(Problem(label, text or p.message))
        else:
            # The service's own words carry the specifics (which line, how many serials).
            out.append(Problem(label, f"{text}: {p.message}"))
    return out


@dataclass
class Failure:
    """A refused verb, shown at the top of the page it came from (and next to its form)."""

    form: str  # which form: "cancel", "reroute", "pick:<fulfilment>" …
    error: DomainError
    values: dict[str, str]
    problems: list[Problem]

    @property
    def key(self) -> str:
        if self.error.status == 422:
            return "invalid"
        return "conflict"


def _failure(ctx: PageContext, form: str, error: DomainError, values: dict[str, str]) -> Failure:
    # The refused verb may have written half of itself before it was refused: none of it stays.
    ctx.session.rollback()
    return Failure(form, error, values, problems_of(ctx, error))


# ================================================================ the order list


@dataclass(frozen=True, slots=True)
class Figures:
    today_orders: int
    today_fen: int
    period_orders: int
    period_fen: int


def _chart(ctx: PageContext, rows: list[stats.DayChannel], today: date, names: dict[str, str]) -> str:
    days = [today - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]
    by_channel: dict[str, int] = {}
    for r in rows:
        by_channel[r.channel_code] = by_channel.get(r.channel_code, 0) + r.orders
    ranked = sorted(by_channel, key=lambda c: (-by_channel[c], c))
    top, rest = ranked[:CHART_CHANNELS], ranked[CHART_CHANNELS:]
    if len(rest) == 1:
        top, rest = ranked, []
    counts = {(r.day, r.channel_code): r.orders for r in rows}
    series = [
        charts.Series(names.get(c, c), [counts.get((d, c), 0) for d in days], charts.PALETTE[i % len(charts.PALETTE)])
        for i, c in enumerate(top)
    ]
    if rest:
        series.append(
            charts.Series(
                ctx.t("orders.chart_other"), [sum(counts.get((d, c), 0) for c in rest) for d in days], "#cbd5e1"
            )
        )
    labels = [ctx.t("orders.chart_today") if d == today else d.strftime("%m-%d") for d in days]
    hrefs = [ctx.url("/orders", since=d.isoformat(), until=d.isoformat()) for d in days]
    return charts.stacked_bar_chart(
        labels,
        series,
        title=ctx.t("orders.chart_title", days=CHART_DAYS),
        width=720,
        height=250,
        hrefs=hrefs,
        empty_message=ctx.t("orders.chart_empty"),
    )


@router.get("/orders")
def order_list(
    ctx: Console,
    status: Annotated[str, Query(max_length=20)] = "",
    channel: Annotated[str, Query(max_length=32)] = "",
    mode: Annotated[str, Query(max_length=16)] = "",
    hold: Annotated[str, Query(max_length=1)] = "",
    location: Annotated[str, Query(max_length=32)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    q: Annotated[str, Query(max_length=64)] = "",
    cursor: str | None = None,
) -> Response:
    ctx.require(Perm.ORDERS_READ)
    tz = ctx.settings.default_timezone
    since_day, until_day = _parse_day(since), _parse_day(until)
    page = order_service.list_orders(
        ctx.session,
        ctx.principal,
        status=status if status in ORDER_STATUSES else None,
        channel_code=channel or None,
        delivery_mode=mode if mode in DELIVERY_MODES else None,
        on_hold={"1": True, "0": False}.get(hold),
        location_code=location or None,
        placed_from=_day_start(since_day, tz) if since_day else None,
        placed_to=_day_start(until_day + timedelta(days=1), tz) if until_day else None,
        q=q.strip() or None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    today = datetime.now(ZoneInfo(tz)).date()
    rows = stats.orders_by_day_and_channel(ctx.session, ctx.principal, CHART_DAYS, tz=tz, today=today)
    names = _channel_names(ctx)
    figures = Figures(
        today_orders=sum(r.orders for r in rows if r.day == today),
        today_fen=sum(r.total_fen for r in rows if r.day == today),
        period_orders=sum(r.orders for r in rows),
        period_fen=sum(r.total_fen for r in rows),
    )
    return render(
        ctx,
        "orders/list.html",
        orders=page.items,
        next_cursor=page.next_cursor,
        chart=_chart(ctx, rows, today, names),
        figures=figures,
        backlog=stats.backlog(ctx.session, ctx.principal),
        today=today.isoformat(),
        chart_days=CHART_DAYS,
        channel_names=names,
        channels=sorted(names.items()),
        statuses=ORDER_STATUSES,
        modes=DELIVERY_MODES,
        locations=[(loc.code, ctx.name_of(loc)) for loc in _fulfilling(ctx)],
        filters={
            "status": status,
            "channel": channel,
            "mode": mode,
            "hold": hold,
            "location": location,
            "since": since,
            "until": until,
            "q": q,
        },
        bad_dates=bool((since and since_day is None) or (until and until_day is None)),
        now=datetime.now(UTC),
    )


# ================================================================ an order's page


@dataclass(frozen=True, slots=True)
class CandidateRow:
    code: str
    name: str
    type: str
    distance_km: float | None
    cost_fen: int | None
    eta_hours: float | None
    fills_lines: list[int]
    excluded: str | None
    late: bool
    chosen: bool


@dataclass(frozen=True, slots=True)
class LegRow:
    code: str
    name: str
    lines: list[tuple[int, str, int]]  # line no, SKU code, units
    cost_fen: int
    eta_hours: float
    transfer_to: str
    late: bool
    safety_dip_units: int


@dataclass
class DecisionView:
    decision: RoutingDecisionOut
    summary: str
    reason: str
    legs: list[LegRow]
    shown: list[CandidateRow]
    more: list[CandidateRow]
    excluded_counts: list[tuple[str, int]]
    unfilled: list[tuple[int, str, int]]
    breakdown: list[tuple[str, int]]
    solve_ms: float | None


def _decision_view(
    ctx: PageContext, d: RoutingDecisionOut, sku_of_line: dict[int, str], names: dict[int, LocationOut]
) -> DecisionView:
    ex = d.explanation or {}

    def name(location_id: Any) -> str:
        loc = names.get(location_id) if isinstance(location_id, int) else None
        return ctx.name_of(loc) if loc else ""

    legs = []
    for leg in ex.get("legs") or []:
        per_line: dict[int, int] = {}
        for a in leg.get("assignments") or []:
            per_line[int(a["line_no"])] = per_line.get(int(a["line_no"]), 0) + int(a["quantity"])
        transfer = leg.get("transfer_to_location_id")
        legs.append(
            LegRow(
                code=str(leg.get("code", "")),
                name=name(leg.get("location_id")),
                lines=[(no, sku_of_line.get(no, ""), q) for no, q in sorted(per_line.items())],
                cost_fen=int(leg.get("cost_fen") or 0),
                eta_hours=float(leg.get("eta_hours") or 0),
                transfer_to=(names[transfer].code if isinstance(transfer, int) and transfer in names else ""),
                late=bool(leg.get("late")),
                safety_dip_units=int(leg.get("safety_dip_units") or 0),
            )
        )
    chosen = {leg.code for leg in legs}
    order_of_leg = {leg.code: i for i, leg in enumerate(legs)}
    rows = [
        CandidateRow(
            code=str(c.get("code", "")),
            name=name(c.get("location_id")),
            type=str(c.get("type", "")),
            distance_km=c.get("distance_km"),
            cost_fen=c.get("parcel_cost_fen"),
            eta_hours=c.get("eta_hours"),
            fills_lines=[int(n) for n in c.get("fills_lines") or []],
            excluded=c.get("excluded"),
            late=bool(c.get("late")),
            chosen=str(c.get("code", "")) in chosen,
        )
        for c in ex.get("candidates") or []
    ]
    rows.sort(
        key=lambda r: (
            0 if r.chosen else (1 if r.excluded is None else 2),
            order_of_leg.get(r.code, 0),
            r.cost_fen if r.cost_fen is not None else 0,
            r.excluded or "",
            r.distance_km if r.distance_km is not None else 1e9,
            r.code,
        )
    )
    counts: dict[str, int] = {}
    for r in rows:
        if r.excluded:
            counts[r.excluded] = counts.get(r.excluded, 0) + 1
    unfilled = [
        (int(u["line_no"]), sku_of_line.get(int(u["line_no"]), ""), int(u["quantity"]))
        for u in ex.get("unfilled") or []
    ]
    breakdown = [(k, int((ex.get("breakdown") or {}).get(k) or 0)) for k in BREAKDOWN]
    return DecisionView(
        decision=d,
        summary=_summary(ctx, d, legs),
        reason=str(ex.get("reason", "")),
        legs=legs,
        shown=rows[:CANDIDATES_SHOWN],
        more=rows[CANDIDATES_SHOWN:],
        excluded_counts=sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])),
        unfilled=unfilled,
        breakdown=[(k, v) for k, v in breakdown if v],
        solve_ms=ex.get("solve_ms"),
    )


def _summary(ctx: PageContext, d: RoutingDecisionOut, legs: list[LegRow]) -> str:
    """The decision in one sentence of the page's language (the router's own text is English)."""
    if not legs:
        return ctx.t("routing.summary_none")
    sep = ctx.t("routing.leg_sep")
    parts = []
    for leg in legs:
        lines = sep.join(ctx.t("routing.line_qty", no=no, qty=q) for no, _, q in leg.lines)
        parts.append(ctx.t("routing.leg", code=leg.code, lines=lines))
    return ctx.t(
        "routing.summary",
        count=len(legs),
        legs=ctx.t("routing.plus").join(parts),
        cost=formatting.money(d.cost_fen),
        method=ctx.t.maybe("routing.method", d.method),
    )


@dataclass(frozen=True, slots=True)
class EventRow:
    entry: TimelineEntryOut
    statuses: tuple[str, str]  # translated from → to ("" when the row changed no status)
    facts: list[tuple[str, str]]
    message: str  # the service's words, unless they only repeat the status change


def _event_rows(ctx: PageContext, entries: list[TimelineEntryOut]) -> list[EventRow]:
    out = []
    for e in entries:
        prefix = "fulfilment.status" if e.kind == "fulfilment" else "order.status"
        statuses = (ctx.t.maybe(prefix, e.from_status), ctx.t.maybe(prefix, e.to_status))
        facts = [(k, str(e.data[k])) for k in EVENT_FIELDS if isinstance(e.data.get(k), str | int) and e.data.get(k)]
        facts += [(k, ctx.money(e.data[k])) for k in EVENT_MONEY if isinstance(e.data.get(k), int)]
        change = f"{e.from_status} → {e.to_status}"
        plain = e.message in (change, f"{e.data.get('fulfilment')}: {change}")
        out.append(EventRow(e, statuses, facts, "" if plain else e.message))
    return out


@dataclass
class Actions:
    """What this person may do on this order, decided once for the template."""

    fulfil: bool
    manage: bool
    returns: bool
    # Fulfilments at locations in the person's scope (a store manager acts only on their stores').
    fulfilment_codes: set[str] = field(default_factory=set)


def _detail(
    ctx: PageContext,
    number: str,
    *,
    failure: Failure | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    order = order_service.get_order(ctx.session, ctx.principal, number)
    timeline = order_service.timeline(ctx.session, ctx.principal, order.number)
    decisions = order_service.routing_decisions(ctx.session, ctx.principal, order.number)
    returns = order_service.order_returns(ctx.session, ctx.principal, order.number)
    refunds = order_service.order_refunds(ctx.session, ctx.principal, order.number)
    actions = Actions(
        fulfil=ctx.can(Perm.ORDERS_FULFIL), manage=ctx.can(Perm.ORDERS_MANAGE), returns=ctx.can(Perm.RETURNS_WRITE)
    )
    fulfilling = _fulfilling(ctx)
    visible_codes = {loc.code for loc in fulfilling}
    actions.fulfilment_codes = {f.location_code for f in order.fulfilments if f.location_code in visible_codes}
    eligibility = (
        order_service.return_eligibility(ctx.session, ctx.principal, order.number) if actions.returns else None
    )
    refs = _sku_refs(ctx, [ln.sku_code for ln in order.lines])
    sku_of_line = {ln.line_no: ln.sku_code for ln in order.lines}
    ids: set[int] = set()
    for d in decisions:
        ex = d.explanation or {}
        ids |= {c.get("location_id") for c in ex.get("candidates") or [] if isinstance(c.get("location_id"), int)}
        ids |= {leg.get("transfer_to_location_id") for leg in ex.get("legs") or []} - {None}
    names = inventory_service.locations_by_ids(ctx.session, sorted(ids)) if ids else {}
    return render(
        ctx,
        "orders/detail.html",
        status_code=status_code,
        order=order,
        channel_name=_channel_names(ctx).get(order.channel_code, order.channel_code),
        events=_event_rows(ctx, timeline),
        decisions=[_decision_view(ctx, d, sku_of_line, names) for d in decisions],
        returns=returns,
        refunds=refunds,
        eligibility=eligibility,
        returnable=[e for e in eligibility.lines if e.returnable > 0] if eligibility else [],
        refs=refs,
        serial_lines={ln.line_no for ln in order.lines if ln.sku_code in refs and refs[ln.sku_code].serial_tracked},
        actions=actions,
        locations=[(loc.code, ctx.name_of(loc), loc.type) for loc in fulfilling],
        failure=failure,
        done=_done(done),
        now=datetime.now(UTC),
    )


@router.get("/orders/{number}")
def order_detail(number: str, ctx: Console, done: str = "") -> Response:
    ctx.require(Perm.ORDERS_READ)
    return _detail(ctx, number, done=done)


async def _act(
    ctx: PageContext,
    number: str,
    form_id: str,
    done: str,
    verb: Callable[[dict[str, str]], object],
) -> Response:
    """Runs ``verb`` with the form; success goes back where the form came from, a refusal shows
    the order with the problem (and writes nothing)."""
    values = await form_fields(ctx)
    back = safe_next(values.get("back")) if values.get("back") else f"/orders/{number}"
    try:
        verb(values)
    except (ValidationFailed, Conflict) as error:
        failure = _failure(ctx, form_id, error, values)
        return _detail(ctx, number, failure=failure, status_code=error.status)
    return RedirectResponse(with_done(back, done), status_code=303)


def _fulfilment_of(order_number: str, fulfilment: str) -> str:
    if fulfilment.rsplit("-F", 1)[0] != order_number:
        raise not_found("fulfilment", fulfilment)
    return fulfilment


def _return_of(order_number: str, return_number: str) -> str:
    if return_number.rsplit("-R", 1)[0] != order_number:
        raise not_found("return", return_number)
    return return_number


# ---------------------------------------------------------------- order verbs (orders:manage)


@router.post("/orders/{number}/reroute")
async def reroute(number: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_MANAGE)

    def verb(form: dict[str, str]) -> None:
        body = _parse(RerouteIn, {"location_code": form.get("location_code") or None, "reason": form.get("reason", "")})
        order_service.reroute(ctx.session, ctx.principal, number, location_code=body.location_code, reason=body.reason)

    return await _act(ctx, number, "reroute", "rerouted", verb)


@router.post("/orders/{number}/retry-routing")
async def retry_routing(number: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_MANAGE)
    return await _act(
        ctx, number, "retry", "retried", lambda _: order_service.retry_routing(ctx.session, ctx.principal, number)
    )


@router.post("/orders/{number}/cancel")
async def cancel(number: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_MANAGE)

    def verb(form: dict[str, str]) -> None:
        body = _parse(ReasonIn, {"reason": form.get("reason", "")})
        order_service.cancel(ctx.session, ctx.principal, number, body.reason)

    return await _act(ctx, number, "cancel", "cancelled", verb)


# ---------------------------------------------------------------- fulfilment verbs (orders:fulfil)


@router.post("/orders/{number}/fulfilments/{fulfilment}/pick")
async def pick(number: str, fulfilment: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_FULFIL)
    fnum = _fulfilment_of(number, fulfilment)

    def verb(form: dict[str, str]) -> None:
        lines = [
            {"line_no": int(key.removeprefix("serials_")), "serials": _serials(value)}
            for key, value in sorted(form.items())
            if key.startswith("serials_") and key.removeprefix("serials_").isdigit()
        ]
        order_service.start_picking(ctx.session, ctx.principal, fnum, _parse(PickIn, {"lines": lines}))

    return await _act(ctx, number, f"pick:{fnum}", "picked", verb)


@router.post("/orders/{number}/fulfilments/{fulfilment}/pack")
async def pack(number: str, fulfilment: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_FULFIL)
    fnum = _fulfilment_of(number, fulfilment)
    return await _act(
        ctx, number, f"pack:{fnum}", "packed", lambda _: order_service.pack(ctx.session, ctx.principal, fnum)
    )


@router.post("/orders/{number}/fulfilments/{fulfilment}/ship")
async def ship(number: str, fulfilment: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_FULFIL)
    fnum = _fulfilment_of(number, fulfilment)

    def verb(form: dict[str, str]) -> None:
        body = _parse(ShipIn, {"carrier": form.get("carrier", ""), "tracking_no": form.get("tracking_no", "")})
        order_service.ship(ctx.session, ctx.principal, fnum, body)

    return await _act(ctx, number, f"ship:{fnum}", "shipped", verb)


@router.post("/orders/{number}/fulfilments/{fulfilment}/deliver")
async def deliver(number: str, fulfilment: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_FULFIL)
    fnum = _fulfilment_of(number, fulfilment)
    return await _act(
        ctx, number, f"deliver:{fnum}", "delivered", lambda _: order_service.deliver(ctx.session, ctx.principal, fnum)
    )


@router.post("/orders/{number}/fulfilments/{fulfilment}/reject")
async def reject(number: str, fulfilment: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_FULFIL)
    fnum = _fulfilment_of(number, fulfilment)

    def verb(form: dict[str, str]) -> None:
        body = _parse(ReasonIn, {"reason": form.get("reason", "")})
        order_service.reject(ctx.session, ctx.principal, fnum, body.reason)

    return await _act(ctx, number, f"reject:{fnum}", "rejected", verb)


@router.post("/orders/{number}/fulfilments/{fulfilment}/cancel")
async def cancel_fulfilment(number: str, fulfilment: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_MANAGE)
    fnum = _fulfilment_of(number, fulfilment)

    def verb(form: dict[str, str]) -> None:
        body = _parse(ReasonIn, {"reason": form.get("reason", "")})
        order_service.cancel_fulfilment(ctx.session, ctx.principal, fnum, body.reason)

    return await _act(ctx, number, f"fcancel:{fnum}", "fulfilment_cancelled", verb)


# ---------------------------------------------------------------- returns and refunds


@router.post("/orders/{number}/returns")
async def request_return(number: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.RETURNS_WRITE)

    def verb(form: dict[str, str]) -> None:
        lines = []
        for key, value in sorted(form.items()):
            no = key.removeprefix("qty_")
            if key.startswith("qty_") and no.isdigit() and value.strip() not in ("", "0"):
                lines.append({"line_no": int(no), "quantity": value.strip()})
        body = _parse(ReturnRequestIn, {"lines": lines, "reason": form.get("reason", "")})
        order_service.request_return(ctx.session, ctx.principal, number, body.lines, body.reason)

    return await _act(ctx, number, "return", "return_requested", verb)


@router.post("/orders/{number}/returns/{return_number}/approve")
async def approve_return(number: str, return_number: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.RETURNS_WRITE)
    rnum = _return_of(number, return_number)
    return await _act(
        ctx,
        number,
        f"approve:{rnum}",
        "return_approved",
        lambda _: order_service.decide_return(ctx.session, ctx.principal, rnum, approve=True),
    )


@router.post("/orders/{number}/returns/{return_number}/reject")
async def reject_return(number: str, return_number: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.RETURNS_WRITE)
    rnum = _return_of(number, return_number)

    def verb(form: dict[str, str]) -> None:
        body = _parse(ReasonIn, {"reason": form.get("reason", "")})
        order_service.decide_return(ctx.session, ctx.principal, rnum, approve=False, reason=body.reason)

    return await _act(ctx, number, f"rreject:{rnum}", "return_rejected", verb)


@router.post("/orders/{number}/returns/{return_number}/receive")
async def receive_return(number: str, return_number: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.RETURNS_WRITE)
    rnum = _return_of(number, return_number)

    def verb(form: dict[str, str]) -> None:
        ret = next(
            (r for r in order_service.order_returns(ctx.session, ctx.principal, number) if r.number == rnum), None
        )
        if ret is None:
            raise not_found("return", rnum)
        disposition = form.get("disposition", "restock")
        lines = [
            _parse(
                ReceiveLineIn,
                {
                    "line_no": rl.line_no,
                    "quantity": rl.quantity,
                    "disposition": disposition,
                    "serials": _serials(form.get(f"serials_{rl.line_no}", "")),
                },
            )
            for rl in ret.lines
        ]
        location = form.get("location_code", "").strip()
        if not location:
            raise ValidationFailed(
                "no location", errors=[FieldProblem("body.location_code", "required", "where the goods came back")]
            )
        order_service.receive_return(ctx.session, ctx.principal, rnum, location_code=location, lines=lines)

    return await _act(ctx, number, f"receive:{rnum}", "return_received", verb)


@router.post("/orders/{number}/refunds/{refund_id}/settle")
async def settle_refund(number: str, refund_id: int, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_MANAGE)

    def verb(form: dict[str, str]) -> None:
        refunds = order_service.order_refunds(ctx.session, ctx.principal, number)
        if refund_id not in {r.id for r in refunds}:
            raise not_found("refund", refund_id)
        body = _parse(
            RefundSettleIn,
            {
                "external_ref": form.get("external_ref", ""),
                "succeeded": form.get("outcome", "succeeded") == "succeeded",
            },
        )
        order_service.settle_refund(
            ctx.session, ctx.principal, refund_id, succeeded=body.succeeded, external_ref=body.external_ref
        )

    return await _act(ctx, number, f"settle:{refund_id}", "refund_settled", verb)


# ================================================================ a location's fulfilment queue


def _default_queue_location(locations: list[LocationOut], work: dict[int, dict[str, int]]) -> str:
    """A store-scoped person's own store (the busiest of theirs); anyone else the busiest location."""
    if not locations:
        return ""
    busiest = sorted(locations, key=lambda loc: (-sum(work.get(loc.id, {}).values()), loc.type != "store", loc.code))
    return busiest[0].code


@router.get("/fulfilment-queue")
def fulfilment_queue(
    ctx: Console,
    location: Annotated[str, Query(max_length=32)] = "",
    cursor: str | None = None,
    done: str = "",
) -> Response:
    ctx.require(Perm.ORDERS_READ)
    locations = _fulfilling(ctx)
    work = stats.open_fulfilment_counts(ctx.session, ctx.principal)
    code = location or _default_queue_location(locations, work)
    items: list[Any] = []
    next_cursor = None
    current = None
    if code:
        # Another store's queue: the same 404 as a location that does not exist.
        current = inventory_service.get_location(ctx.session, ctx.principal, code)
        page = order_service.fulfilment_queue(ctx.session, ctx.principal, code, cursor=cursor, limit=QUEUE_SIZE)
        items, next_cursor = page.items, page.next_cursor
    refs = _sku_refs(ctx, [ln.sku_code for item in items for ln in item.fulfilment.lines])
    counts = work.get(current.id, {}) if current else {}
    return render(
        ctx,
        "orders/queue.html",
        items=items,
        next_cursor=next_cursor,
        location=current,
        locations=[(loc.code, ctx.name_of(loc), sum(work.get(loc.id, {}).values())) for loc in locations],
        counts=[(s, counts.get(s, 0)) for s in ("routed", "picking", "packed")],
        refs=refs,
        can_fulfil=ctx.can(Perm.ORDERS_FULFIL),
        done=_done(done),
        now=datetime.now(UTC),
        soon=datetime.now(UTC) + timedelta(hours=2),
    )


@router.get("/locations/{code}/fulfilment-queue")
def location_queue(code: str, ctx: Console) -> Response:
    ctx.require(Perm.ORDERS_READ)
    return RedirectResponse(ctx.url("/fulfilment-queue", location=code), status_code=303)


# ================================================================ returns


@router.get("/returns")
def return_list(
    ctx: Console,
    status: Annotated[str, Query(max_length=16)] = "",
    cursor: str | None = None,
    done: str = "",
) -> Response:
    ctx.require(Perm.ORDERS_READ)
    page = order_service.list_returns(
        ctx.session,
        ctx.principal,
        status=status if status in RETURN_STATUSES else None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    refs = _sku_refs(ctx, [ln.sku_code for r in page.items for ln in r.lines])
    return render(
        ctx,
        "orders/returns.html",
        returns=page.items,
        next_cursor=page.next_cursor,
        statuses=RETURN_STATUSES,
        filters={"status": status},
        refs=refs,
        can_write=ctx.can(Perm.RETURNS_WRITE),
        done=_done(done),
    )


# ================================================================ the exception queue


def _exceptions_page(
    ctx: PageContext,
    *,
    status: str,
    kind: str,
    channel: str,
    cursor: str | None,
    failure: Failure | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    page = order_service.list_exceptions(
        ctx.session,
        ctx.principal,
        status=status if status in EXCEPTION_STATUSES else None,
        kind=kind or None,
        channel_code=channel or None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    names = _channel_names(ctx)
    return render(
        ctx,
        "orders/exceptions.html",
        status_code=status_code,
        exceptions=page.items,
        next_cursor=page.next_cursor,
        kinds=EXCEPTION_KINDS,
        statuses=EXCEPTION_STATUSES,
        channel_names=names,
        channels=sorted(names.items()),
        filters={"status": status, "kind": kind, "channel": channel},
        failure=failure,
        done=_done(done),
    )


@router.get("/exceptions")
def exception_list(
    ctx: Console,
    status: Annotated[str, Query(max_length=16)] = "open",
    kind: Annotated[str, Query(max_length=32)] = "",
    channel: Annotated[str, Query(max_length=32)] = "",
    cursor: str | None = None,
    done: str = "",
) -> Response:
    ctx.require(Perm.ORDERS_MANAGE)
    return _exceptions_page(ctx, status=status, kind=kind, channel=channel, cursor=cursor, done=done)


@router.post("/exceptions/{exception_id}/resolve")
async def resolve_exception(exception_id: int, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.ORDERS_MANAGE)
    values = await form_fields(ctx)
    back = safe_next(values.get("back")) if values.get("back") else "/exceptions"
    try:
        body = _parse(ReasonIn, {"reason": values.get("reason", "")})
        order_service.resolve_exception(ctx.session, ctx.principal, exception_id, body.reason)
    except (ValidationFailed, Conflict) as error:
        failure = _failure(ctx, f"resolve:{exception_id}", error, values)
        return _exceptions_page(
            ctx, status="open", kind="", channel="", cursor=None, failure=failure, status_code=error.status
        )
    return RedirectResponse(with_done(back, "resolved"), status_code=303)


def order_status_keys() -> dict[str, Sequence[str]]:
    """Every family of values the order pages translate by name (a test checks both catalogs)."""
    return {
        "order.status": ORDER_STATUSES,
        "order.mode": DELIVERY_MODES,
        "order.payment": PAYMENT_STATUSES,
        "order.event": EVENT_KINDS,
        "fulfilment.status": FULFILMENT_STATUSES,
        "fulfilment.kind": FULFILMENT_KINDS,
        "return.status": RETURN_STATUSES,
        "refund.status": REFUND_STATUSES,
        "exception.kind": EXCEPTION_KINDS,
        "exception.status": EXCEPTION_STATUSES,
        "routing.trigger": TRIGGERS,
        "routing.method": METHODS,
        "routing.excluded": EXCLUSIONS,
        "routing.breakdown": BREAKDOWN,
        "orders.done": DONE,
        "orders.event_field": EVENT_FIELDS + EVENT_MONEY,
    }
