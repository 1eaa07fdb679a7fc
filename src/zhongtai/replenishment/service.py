"""Replenishment in the product: supplier terms, policies, suggestion runs, the decisions on them,
purchase orders and their receipts (the closed loop back into inventory), allocation and
rebalancing transfers.

Every state change is one verb here taking the acting ``Principal``; it writes its audit record
and never commits (the HTTP request or the job owns the transaction). Suggestions and purchase
orders change state through conditional UPDATEs in the repository, so two people (or a person and
the job) acting on the same row at once cannot both win: the loser gets a 409.

The run (``run_suggestions``), for the forecast's first day ``D`` (tomorrow in Beijing):

1. Stores are replenished from their DC (``parent_dc_id``) by transfer; their stock position is
   on hand, on order = in transit + draft transfers in, reserved. Lead time: the policy's
   transfer lead time.
2. When a DC's available stock (on hand - reserved - draft transfers out) cannot cover what its
   stores ask for a SKU, ``allocation.allocate`` splits it (fair share by need).
3. DCs are replenished from a supplier by purchase order (the preferred supplier's terms for the
   SKU, else the cheapest). A DC's demand is its own forecast plus its stores' forecasts, day by
   day; on order = open PO lines + in transit + draft transfers in; reserved includes the draft
   transfers out (stock already promised to stores).
4. ``policy.suggest`` gives the quantity and its reasons; positive suggestions are stored, older
   proposals nobody decided on are superseded, and the auto-approval rules run (see
   ``auto_rule``). Auto-approved transfers become inventory transfers at once; auto-approved
   purchase suggestions become approved POs, one per supplier x destination for the run.
"""

from __future__ import annotations

import math
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import allowed_location_ids, can_access_location, ensure_location_access
from zhongtai.catalog.service import SkuRef, sku_refs_by_codes, sku_refs_by_ids
from zhongtai.db import utcnow
from zhongtai.errors import Conflict, FieldProblem, InvalidTransition, NotFound, ValidationFailed, not_found
from zhongtai.forecasting import service as forecasting_service
from zhongtai.inventory import service as inventory_service
from zhongtai.inventory.geo import haversine_km
from zhongtai.inventory.schemas import LocationOut, StockLineIn
from zhongtai.pagination import Page, SortKey, paginate
from zhongtai.replenishment import repository as repo
from zhongtai.replenishment.allocation import LocationStock, StoreNeed, allocate, rebalance
from zhongtai.replenishment.errors import NothingToOrder, OverReceipt
from zhongtai.replenishment.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
    ReplenishmentPolicy,
    ReplenishmentRun,
    Suggestion,
    SupplierTerms,
    TransferLink,
)
from zhongtai.replenishment.policy import DemandForecast, PolicyParams, StockPosition, suggest
from zhongtai.replenishment.schemas import (
    POLICY_LOCATION_TYPES,
    BulkOut,
    POFromSuggestionsIn,
    POIn,
    PolicyIn,
    PolicyOut,
    POLineOut,
    POOut,
    POSummaryOut,
    ReceiptLineOut,
    ReceiptOut,
    ReceiveIn,
    RunOut,
    SuggestionOut,
    SupplierTermsIn,
    SupplierTermsOut,
    TransferLinkOut,
)

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
DC_TYPES = ("central_dc", "regional_dc")
STORE_TYPE = "store"
SUPPLIER_TYPE = "supplier"
# Forecast days a run reads at most: longer protection intervals are extended by the policy.
MAX_FORECAST_DAYS = 120
# Rebalancing thresholds (days of cover) and the forecast window that gives the daily demand.
REBALANCE_HIGH_COVER = 42.0
REBALANCE_LOW_COVER = 10.0
REBALANCE_WINDOW_DAYS = 28

Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str) -> None:
    return None


def business_tomorrow(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(BUSINESS_TZ).date() + timedelta(days=1)


def _fail(problems: list[FieldProblem], detail: str) -> None:
    if problems:
        raise ValidationFailed(detail, errors=problems)


def _location_by_code(session: Session, code: str) -> LocationOut | None:
    ids = inventory_service.location_ids_by_codes(session, [code])
    if code not in ids:
        return None
    return inventory_service.locations_by_ids(session, [ids[code]]).get(ids[code])


def _locations(session: Session, ids: Iterable[int]) -> dict[int, LocationOut]:
    return inventory_service.locations_by_ids(session, sorted(set(ids)))


# ================================================================ supplier terms


def _terms_out(t: SupplierTerms, sku: SkuRef | None, supplier: LocationOut | None) -> SupplierTermsOut:
    return SupplierTermsOut(
        id=t.id,
        supplier_code=supplier.code if supplier else str(t.supplier_location_id),
        supplier_name=supplier.name if supplier else "",
        sku_code=sku.code if sku else str(t.sku_id),
        sku_name=sku.name if sku else "",
        **_terms_snapshot(t),
        updated_at=t.updated_at,
        updated_by=t.updated_by,
    )


# The terms' own settings: what the API shows and what the audit log records of a change.
_TERMS_FIELDS = (
    "lead_time_days",
    "lead_time_sd_days",
    "moq",
    "case_pack",
    "unit_cost_fen",
    "currency",
    "preferred",
    "auto_approve",
)


def _terms_snapshot(t: SupplierTerms) -> dict[str, Any]:
    return {name: getattr(t, name) for name in _TERMS_FIELDS}


def set_supplier_terms(session: Session, actor: Principal, data: SupplierTermsIn) -> SupplierTermsOut:
    """Creates or replaces one supplier's terms for one SKU. ``preferred`` clears the flag on the
    SKU's other suppliers (one preferred supplier per SKU)."""
    problems: list[FieldProblem] = []
    supplier = _location_by_code(session, data.supplier_code)
    if supplier is None:
        problems.append(FieldProblem("body.supplier_code", "unknown_location", f"no location {data.supplier_code!r}"))
    elif supplier.type != SUPPLIER_TYPE:
        problems.append(FieldProblem("body.supplier_code", "not_a_supplier", f"{supplier.code} is a {supplier.type}"))
    sku = sku_refs_by_codes(session, [data.sku_code]).get(data.sku_code)
    if sku is None:
        problems.append(FieldProblem("body.sku_code", "unknown_sku", f"no SKU {data.sku_code!r}"))
    if data.lead_time_sd_days > data.lead_time_days:
        problems.append(
            FieldProblem("body.lead_time_sd_days", "sd_above_mean", "the lead-time sd cannot exceed its mean")
        )
    _fail(problems, "invalid supplier terms")
    assert supplier is not None
    assert sku is not None
    now = utcnow()
    terms = repo.terms_for(session, supplier.id, sku.id)
    before = _terms_snapshot(terms) if terms else None
    if terms is None:
        terms = SupplierTerms(supplier_location_id=supplier.id, sku_id=sku.id)
        session.add(terms)
    terms.lead_time_days = data.lead_time_days
    terms.lead_time_sd_days = data.lead_time_sd_days
    terms.moq = data.moq
    terms.case_pack = data.case_pack
    terms.unit_cost_fen = data.unit_cost_fen
    terms.currency = data.currency
    terms.preferred = data.preferred
    terms.auto_approve = data.auto_approve
    terms.updated_at = now
    terms.updated_by = actor.name[:128]
    session.flush()
    if data.preferred:
        for other in repo.all_terms(session, [sku.id]):
            if other.id != terms.id and other.preferred:
                other.preferred = False
        session.flush()
    record(
        session,
        actor,
        "supplier_terms.set",
        "supplier_terms",
        f"{supplier.code}/{sku.code}",
        before=before,
        after=_terms_snapshot(terms),
    )
    return _terms_out(terms, sku, supplier)


def delete_supplier_terms(session: Session, actor: Principal, terms_id: int) -> None:
    terms = repo.terms_by_id(session, terms_id)
    if terms is None:
        raise not_found("supplier terms", terms_id)
    snapshot = _terms_snapshot(terms)
    session.delete(terms)
    session.flush()
    record(session, actor, "supplier_terms.delete", "supplier_terms", terms_id, before=snapshot)


def list_supplier_terms(
    session: Session,
    *,
    supplier_code: str | None = None,
    sku_code: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[SupplierTermsOut]:
    supplier_id = sku_id = None
    if supplier_code:
        supplier_id = inventory_service.location_ids_by_codes(session, [supplier_code]).get(supplier_code, -1)
    if sku_code:
        ref = sku_refs_by_codes(session, [sku_code]).get(sku_code)
        sku_id = ref.id if ref else -1
    stmt = repo.terms_query(supplier_id=supplier_id, sku_id=sku_id)
    page = paginate(session, stmt, [SortKey(SupplierTerms.id)], cursor=cursor, limit=limit)
    skus = sku_refs_by_ids(session, [t.sku_id for t in page.items])
    locs = _locations(session, [t.supplier_location_id for t in page.items])
    return page.map(lambda t: _terms_out(t, skus.get(t.sku_id), locs.get(t.supplier_location_id)))


# ================================================================ policies


def _policy_out(p: ReplenishmentPolicy, sku: SkuRef | None, loc: LocationOut | None) -> PolicyOut:
    return PolicyOut(
        id=p.id,
        scope=p.scope,
        location_type=p.location_type,
        sku_code=sku.code if sku else None,
        location_code=loc.code if loc else None,
        **_policy_snapshot(p),
        updated_at=p.updated_at,
        updated_by=p.updated_by,
    )


# The policy's own settings: what the API shows and what the audit log records of a change.
_POLICY_FIELDS = (
    "enabled",
    "review_period_days",
    "service_level",
    "shelf_capacity",
    "transfer_lead_time_days",
    "transfer_lead_time_sd_days",
    "auto_approve_max_fen",
    "auto_approve_max_change_pct",
)


def _policy_snapshot(p: ReplenishmentPolicy) -> dict[str, Any]:
    return {name: getattr(p, name) for name in _POLICY_FIELDS}


def set_policy(session: Session, actor: Principal, data: PolicyIn) -> PolicyOut:
    """Creates or replaces a location type's default policy or one SKU x location's policy."""
    problems: list[FieldProblem] = []
    pair = data.sku_code is not None or data.location_code is not None
    if pair and data.location_type is not None:
        problems.append(FieldProblem("body.location_type", "two_scopes", "give a location type or a SKU x location"))
    if not pair and data.location_type is None:
        problems.append(FieldProblem("body.location_type", "required", "give a location type or a SKU x location"))
    sku = loc = None
    if pair:
        if data.sku_code is None:
            problems.append(FieldProblem("body.sku_code", "required", "a pair policy names its SKU"))
        else:
            sku = sku_refs_by_codes(session, [data.sku_code]).get(data.sku_code)
            if sku is None:
                problems.append(FieldProblem("body.sku_code", "unknown_sku", f"no SKU {data.sku_code!r}"))
        if data.location_code is None:
            problems.append(FieldProblem("body.location_code", "required", "a pair policy names its location"))
        else:
            loc = _location_by_code(session, data.location_code)
            if loc is None:
                problems.append(
                    FieldProblem("body.location_code", "unknown_location", f"no location {data.location_code!r}")
                )
            elif loc.type not in POLICY_LOCATION_TYPES:
                problems.append(FieldProblem("body.location_code", "not_replenished", f"{loc.code} is a {loc.type}"))
    if data.transfer_lead_time_sd_days > data.transfer_lead_time_days:
        problems.append(
            FieldProblem("body.transfer_lead_time_sd_days", "sd_above_mean", "the lead-time sd cannot exceed its mean")
        )
    _fail(problems, "invalid replenishment policy")
    scope = f"pair:{sku.id}:{loc.id}" if sku is not None and loc is not None else f"type:{data.location_type}"
    if loc is not None:
        ensure_location_access(actor, loc.id)
    policy = repo.policy_by_scope(session, scope)
    before = _policy_snapshot(policy) if policy else None
    if policy is None:
        policy = ReplenishmentPolicy(
            scope=scope,
            location_type=None if pair else data.location_type,
            sku_id=sku.id if sku else None,
            location_id=loc.id if loc else None,
        )
        session.add(policy)
    policy.enabled = data.enabled
    policy.review_period_days = data.review_period_days
    policy.service_level = data.service_level
    policy.shelf_capacity = data.shelf_capacity
    policy.transfer_lead_time_days = data.transfer_lead_time_days
    policy.transfer_lead_time_sd_days = data.transfer_lead_time_sd_days
    policy.auto_approve_max_fen = data.auto_approve_max_fen
    policy.auto_approve_max_change_pct = data.auto_approve_max_change_pct
    policy.updated_at = utcnow()
    policy.updated_by = actor.name[:128]
    session.flush()
    record(
        session,
        actor,
        "replenishment_policy.set",
        "replenishment_policy",
        scope,
        before=before,
        after=_policy_snapshot(policy),
    )
    return _policy_out(policy, sku, loc)


def delete_policy(session: Session, actor: Principal, policy_id: int) -> None:
    policy = repo.policy_by_id(session, policy_id)
    if policy is None:
        raise not_found("replenishment policy", policy_id)
    if policy.location_id is not None:
        ensure_location_access(actor, policy.location_id)
    snapshot = {"scope": policy.scope, **_policy_snapshot(policy)}
    session.delete(policy)
    session.flush()
    record(session, actor, "replenishment_policy.delete", "replenishment_policy", policy.scope, before=snapshot)


def list_policies(
    session: Session,
    principal: Principal,
    *,
    location_code: str | None = None,
    location_type: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[PolicyOut]:
    (location_id,) = _filter_location_ids(session, location_code)
    stmt = repo.policies_query(location_id=location_id, location_type=location_type, allowed=_allowed(principal))
    page = paginate(session, stmt, [SortKey(ReplenishmentPolicy.id)], cursor=cursor, limit=limit)
    skus = sku_refs_by_ids(session, [p.sku_id for p in page.items if p.sku_id is not None])
    locs = _locations(session, [p.location_id for p in page.items if p.location_id is not None])
    return page.map(
        lambda p: _policy_out(
            p,
            skus.get(p.sku_id) if p.sku_id is not None else None,
            locs.get(p.location_id) if p.location_id is not None else None,
        )
    )


@dataclass(frozen=True, slots=True)
class _Policies:
    by_type: Mapping[str, ReplenishmentPolicy]
    by_pair: Mapping[tuple[int, int], ReplenishmentPolicy]

    def for_pair(self, sku_id: int, loc: LocationOut) -> ReplenishmentPolicy | None:
        """The pair's own policy, else its location type's default; None: not replenished."""
        own = self.by_pair.get((sku_id, loc.id))
        if own is not None:
            return own if own.enabled else None
        default = self.by_type.get(loc.type)
        return default if default is not None and default.enabled else None

    def covers(self, loc: LocationOut) -> bool:
        d = self.by_type.get(loc.type)
        return (d is not None and d.enabled) or any(k[1] == loc.id for k in self.by_pair)


def _load_policies(session: Session) -> _Policies:
    by_type: dict[str, ReplenishmentPolicy] = {}
    by_pair: dict[tuple[int, int], ReplenishmentPolicy] = {}
    for p in repo.all_policies(session):
        if p.location_type is not None:
            by_type[p.location_type] = p
        elif p.sku_id is not None and p.location_id is not None:
            by_pair[(p.sku_id, p.location_id)] = p
    return _Policies(by_type, by_pair)


# ================================================================ the suggestion run


@dataclass(slots=True)
class _Planned:
    """One positive suggestion before it is stored."""

    kind: str
    sku_id: int
    location_id: int
    source_location_id: int
    result_quantity: int
    needed: int
    numbers: dict[str, Any]
    reasons: list[dict[str, Any]]
    unit_cost_fen: int
    currency: str
    policy: ReplenishmentPolicy
    terms: SupplierTerms | None = None


@dataclass(slots=True)
class RunResult:
    run_id: int
    counts: dict[str, int] = field(default_factory=dict)


def _float(value: Decimal | float | int) -> float:
    return float(value)


def _pick_terms(options: Sequence[SupplierTerms]) -> SupplierTerms | None:
    """The preferred supplier's terms, else the cheapest (then the shortest lead time)."""
    if not options:
        return None
    preferred = [t for t in options if t.preferred]
    pool = preferred or list(options)
    return min(pool, key=lambda t: (t.unit_cost_fen, t.lead_time_days, t.supplier_location_id))


def _sum_forecasts(parts: Sequence[forecasting_service.DailyForecast], days: int) -> DemandForecast:
    """Daily means add; the daily sds add in variance (stores' demands treated as independent).

    The measured error of the forecast sum (``sum_error_sd`` over ``sum_error_days``) becomes the
    policy's ``protection_sd``. For a DC, whose demand is its own forecast plus its stores', the
    parts' measured sds combine as the root of the sum of their squares (errors of different
    locations treated as independent, as the daily sds are), each first scaled to the days of the
    first measured part by sqrt(days / its days). A part with a forecast but no measured error (a
    series too short to backtest) adds the variance of its daily quantiles over those days, so it
    is not counted as certain; a part without a forecast adds nothing. When no part is measured,
    there is no ``protection_sd`` and the policy uses the quantiles alone.
    """
    z = 1.2815515655446004
    mean = [0.0] * days
    var = [0.0] * days
    daily_var: list[list[float]] = []
    for f in parts:
        own = [(max(0.0, hi - lo) / (2 * z)) ** 2 for lo, hi in zip(f.p10, f.p90, strict=True)]
        daily_var.append(own)
        for i in range(min(days, len(f.mean))):
            mean[i] += max(0.0, f.mean[i])
            var[i] += own[i]
    p10 = tuple(max(0.0, m - z * math.sqrt(v)) for m, v in zip(mean, var, strict=True))
    p90 = tuple(m + z * math.sqrt(v) for m, v in zip(mean, var, strict=True))
    measured_days = [d for f in parts if f.sum_error_sd is not None and (d := f.sum_error_days)]
    if not measured_days:
        return DemandForecast(tuple(mean), p10, p90)
    over = measured_days[0]
    square = 0.0
    for f, own in zip(parts, daily_var, strict=True):
        if f.sum_error_sd is not None and f.sum_error_days:
            square += f.sum_error_sd**2 * over / f.sum_error_days
        else:
            square += sum(own[:over])
    return DemandForecast(tuple(mean), p10, p90, protection_sd=math.sqrt(square), protection_sd_days=over)


def _numbers(result: Any, position: StockPosition) -> dict[str, Any]:
    return {
        "demand_over_protection": round(float(result.demand_over_protection), 3),
        "protection_days": float(result.protection_days),
        "safety_stock": int(result.safety_stock),
        "order_up_to": int(result.order_up_to),
        "on_hand": position.on_hand,
        "on_order": position.on_order,
        "reserved": position.reserved,
        "inventory_position": int(result.inventory_position),
    }


def start_run(session: Session, actor: Principal, *, kind: str, job_id: int | None = None) -> ReplenishmentRun:
    run = ReplenishmentRun(
        kind=kind, status="running", job_id=job_id, first_day=business_tomorrow(), created_by=actor.name[:128]
    )
    session.add(run)
    session.flush()
    record(session, actor, f"replenishment.{kind}.start", "replenishment_run", run.id, after={"job_id": job_id})
    return run


def run_suggestions(
    session: Session,
    actor: Principal,
    *,
    run_id: int | None = None,
    first_day: date | None = None,
    progress: Progress = no_progress,
) -> RunResult:
    """One suggestion run (see the module docstring), in the caller's transaction."""
    run = repo.get_run(session, run_id) if run_id is not None else start_run(session, actor, kind="suggest")
    if run is None:
        raise not_found("replenishment run", run_id)
    if first_day is not None:
        run.first_day = first_day
    day0 = run.first_day
    counts: dict[str, int] = defaultdict(int)
    policies = _load_policies(session)
    stores = [s for s in inventory_service.locations_of_types(session, [STORE_TYPE]) if policies.covers(s)]
    dcs = inventory_service.locations_of_types(session, DC_TYPES)
    dc_by_id = {d.id: d for d in dcs}
    all_loc_ids = [s.id for s in stores] + [d.id for d in dcs]
    figures = inventory_service.stock_figures(session, all_loc_ids)
    open_po = repo.open_po_quantities(session, all_loc_ids)
    progress(0, 4, "forecasts")

    # Which pairs: anything stocked, forecast or on order at a covered location.
    forecast_all = forecasting_service.demand_forecasts(session, None, day0, MAX_FORECAST_DAYS)
    loc_ids = set(all_loc_ids)
    pairs: set[tuple[int, int]] = {k for k in figures if k[1] in loc_ids}
    pairs |= {k for k in forecast_all if k[1] in loc_ids}
    pairs |= set(open_po)
    stores_of_dc: dict[int, list[LocationOut]] = defaultdict(list)
    for s in stores:
        if s.parent_dc_id is not None and s.parent_dc_id in dc_by_id:
            stores_of_dc[s.parent_dc_id].append(s)
    # A DC replenishes every SKU its stores need, even one it never held itself.
    parent_of = {s.id: s.parent_dc_id for s in stores}
    for sku_id, loc_id in list(pairs):
        parent = parent_of.get(loc_id)
        if parent is not None and parent in dc_by_id:
            pairs.add((sku_id, parent))
    sku_ids = sorted({s for s, _ in pairs})
    skus = sku_refs_by_ids(session, sku_ids)
    terms_by_sku: dict[int, list[SupplierTerms]] = defaultdict(list)
    for t in repo.all_terms(session, sku_ids):
        terms_by_sku[t.sku_id].append(t)
    empty = forecasting_service.DailyForecast(0, 0, (), (), (), ())

    def forecast_of(sku_id: int, loc_id: int, days: int) -> DemandForecast:
        f = forecast_all.get((sku_id, loc_id), empty)
        return _sum_forecasts([f], days)

    def fig(sku_id: int, loc_id: int) -> inventory_service.StockFigures:
        return figures.get((sku_id, loc_id)) or inventory_service.StockFigures(sku_id, loc_id)

    planned: list[_Planned] = []
    # ---- 1. stores from their DC
    progress(1, 4, "stores")
    store_plans: dict[tuple[int, int], list[_Planned]] = defaultdict(list)  # (dc, sku) -> plans
    for s in stores:
        for sku_id in sorted(sk for sk, lo in pairs if lo == s.id):
            sku = skus.get(sku_id)
            policy = policies.for_pair(sku_id, s)
            if sku is None or policy is None:
                counts["skipped_no_policy"] += 1
                continue
            if s.parent_dc_id is None or s.parent_dc_id not in dc_by_id:
                counts["skipped_no_dc"] += 1
                continue
            position = _position(fig(sku_id, s.id), open_po.get((sku_id, s.id), 0))
            params = PolicyParams(
                review_period_days=policy.review_period_days,
                service_level=_float(policy.service_level),
                lead_time_days=_float(policy.transfer_lead_time_days),
                lead_time_sd_days=_float(policy.transfer_lead_time_sd_days),
                shelf_capacity=policy.shelf_capacity,
            )
            days = min(MAX_FORECAST_DAYS, math.ceil(params.protection_days))
            result = suggest(position, forecast_of(sku_id, s.id, days), params)
            counts["pairs"] += 1
            if result.quantity <= 0:
                counts["no_order"] += 1
                continue
            plan = _Planned(
                kind="transfer",
                sku_id=sku_id,
                location_id=s.id,
                source_location_id=s.parent_dc_id,
                result_quantity=result.quantity,
                needed=result.quantity,
                numbers=_numbers(result, position),
                reasons=[r.to_json() for r in result.reasons],
                unit_cost_fen=sku.unit_cost_fen,
                currency=sku.currency,
                policy=policy,
            )
            store_plans[(s.parent_dc_id, sku_id)].append(plan)
            planned.append(plan)

    # ---- 2. allocation where a DC is short
    progress(2, 4, "allocation")
    store_codes = {s.id: s.code for s in stores}
    for (dc_id, sku_id), plans in store_plans.items():
        f = fig(sku_id, dc_id)
        available = max(0, f.on_hand - f.reserved - f.outbound_draft)
        need = sum(p.result_quantity for p in plans)
        if need <= available:
            continue
        shares = allocate(available, [StoreNeed(store_codes[p.location_id], p.result_quantity) for p in plans])
        counts["allocated_pairs"] += len(plans)
        for p in plans:
            got = shares.get(store_codes[p.location_id], 0)
            p.reasons.append(
                {"code": "allocation", "dc_available": available, "total_need": need, "need": p.needed, "to": got}
            )
            p.result_quantity = got
    planned = [p for p in planned if p.kind != "transfer" or p.result_quantity > 0]

    # ---- 3. DCs from suppliers
    progress(3, 4, "distribution centres")
    for dc in dcs:
        children = stores_of_dc.get(dc.id, [])
        for sku_id in sorted(sk for sk, lo in pairs if lo == dc.id):
            sku = skus.get(sku_id)
            policy = policies.for_pair(sku_id, dc)
            if sku is None or policy is None:
                counts["skipped_no_policy"] += 1
                continue
            terms = _pick_terms(terms_by_sku.get(sku_id, []))
            if terms is None:
                counts["skipped_no_supplier"] += 1
                continue
            position = _position(fig(sku_id, dc.id), open_po.get((sku_id, dc.id), 0))
            params = PolicyParams(
                review_period_days=policy.review_period_days,
                service_level=_float(policy.service_level),
                lead_time_days=_float(terms.lead_time_days),
                lead_time_sd_days=_float(terms.lead_time_sd_days),
                moq=terms.moq,
                case_pack=terms.case_pack,
                shelf_capacity=policy.shelf_capacity,
            )
            days = min(MAX_FORECAST_DAYS, math.ceil(params.protection_days))
            parts = [forecast_all.get((sku_id, dc.id), empty)] + [
                forecast_all.get((sku_id, c.id), empty) for c in children
            ]
            result = suggest(position, _sum_forecasts(parts, days), params)
            counts["pairs"] += 1
            if result.quantity <= 0:
                counts["no_order"] += 1
                continue
            reasons = [r.to_json() for r in result.reasons]
            if children:
                reasons.insert(1, {"code": "dc_demand", "stores": len(children)})
            planned.append(
                _Planned(
                    kind="purchase",
                    sku_id=sku_id,
                    location_id=dc.id,
                    source_location_id=terms.supplier_location_id,
                    result_quantity=result.quantity,
                    needed=result.quantity,
                    numbers=_numbers(result, position),
                    reasons=reasons,
                    unit_cost_fen=terms.unit_cost_fen,
                    currency=terms.currency,
                    policy=policy,
                    terms=terms,
                )
            )

    # ---- 4. store, supersede, auto-approve, order
    counts["superseded"] = repo.supersede_proposed(session, ("purchase", "transfer"), run.id)
    rows = _store_plans(session, run, planned)
    counts["suggestions"] = len(rows)
    approved = _auto_approve(session, actor, rows, {id(r): p for r, p in zip(rows, planned, strict=True)})
    counts["auto_approved"] = len(approved)
    transfers = [r for r in approved if r.kind == "transfer"]
    counts["transfers"] = len(_order_transfers(session, actor, transfers)) if transfers else 0
    purchases = [r for r in approved if r.kind == "purchase"]
    counts["purchase_orders"] = len(_order_purchases(session, actor, purchases, auto=True)) if purchases else 0
    _finish_run(session, actor, run, dict(counts))
    progress(4, 4, "done")
    return RunResult(run.id, dict(counts))


def _store_plans(session: Session, run: ReplenishmentRun, planned: Sequence[_Planned]) -> list[Suggestion]:
    rows = [
        Suggestion(
            run_id=run.id,
            kind=p.kind,
            sku_id=p.sku_id,
            location_id=p.location_id,
            source_location_id=p.source_location_id,
            status="proposed",
            quantity=p.result_quantity,
            needed_quantity=p.needed,
            reasons=p.reasons,
            unit_cost_fen=p.unit_cost_fen,
            currency=p.currency,
            **p.numbers,
        )
        for p in planned
    ]
    repo.add_suggestions(session, rows)
    return rows


def auto_rule(
    *,
    value_fen: int,
    quantity: int,
    last_quantity: int | None,
    max_fen: int | None,
    max_change_pct: int | None,
    supplier_opt_in: bool,
) -> str:
    """Which auto-approval rule approves a suggestion, or "" when a person must decide.

    * ``supplier_opt_in``: vendor-managed terms (the supplier x SKU's ``auto_approve``).
    * ``value_and_change``: the policy sets a value ceiling, the suggestion is worth at most that,
      and, when the policy also sets a change limit, the pair had an approved quantity before and
      this one is within that percentage of it (a first order or a jump goes to a person).
    """
    if supplier_opt_in:
        return "supplier_opt_in"
    if max_fen is None or value_fen > max_fen:
        return ""
    if max_change_pct is None:
        return "value_and_change"
    if last_quantity is None or last_quantity <= 0:
        return ""
    if abs(quantity - last_quantity) * 100 <= max_change_pct * last_quantity:
        return "value_and_change"
    return ""


def _auto_approve(
    session: Session, actor: Principal, rows: Sequence[Suggestion], plans: Mapping[int, _Planned]
) -> list[Suggestion]:
    approved: list[Suggestion] = []
    now = utcnow()
    for kind in ("transfer", "purchase"):
        of_kind = [r for r in rows if r.kind == kind]
        last = repo.last_decided_quantities(session, kind, [(r.sku_id, r.location_id) for r in of_kind])
        for r in of_kind:
            p = plans[id(r)]
            rule = auto_rule(
                value_fen=r.quantity * r.unit_cost_fen,
                quantity=r.quantity,
                last_quantity=last.get((r.sku_id, r.location_id)),
                max_fen=p.policy.auto_approve_max_fen,
                max_change_pct=p.policy.auto_approve_max_change_pct,
                supplier_opt_in=bool(p.terms is not None and p.terms.auto_approve),
            )
            if not rule:
                continue
            r.status, r.auto_rule, r.decided_by, r.decided_at = "approved", rule, f"auto:{rule}", now
            approved.append(r)
            record(
                session,
                actor,
                "suggestion.auto_approve",
                "suggestion",
                r.id,
                before={"status": "proposed"},
                after={"status": "approved", "rule": rule, "quantity": r.quantity},
            )
    session.flush()
    return approved


def _finish_run(session: Session, actor: Principal, run: ReplenishmentRun, counts: dict[str, int]) -> None:
    run.status = "succeeded"
    run.counts = counts
    run.finished_at = utcnow()
    session.flush()
    record(session, actor, f"replenishment.{run.kind}.finish", "replenishment_run", run.id, after=counts)


def fail_run(session: Session, actor: Principal, run_id: int, error: str) -> None:
    run = repo.get_run(session, run_id)
    if run is None or run.status != "running":
        return
    run.status = "failed"
    run.message = error[:255]
    run.finished_at = utcnow()
    record(session, actor, f"replenishment.{run.kind}.fail", "replenishment_run", run.id, after={"error": error[:255]})


# ================================================================ rebalancing


def run_rebalance(
    session: Session,
    actor: Principal,
    *,
    run_id: int | None = None,
    first_day: date | None = None,
    progress: Progress = no_progress,
) -> RunResult:
    """Rebalancing suggestions (偏仓) between stores of one region: ``allocation.rebalance`` over
    available stock and the forecast's mean daily demand, nearest pairs first."""
    run = repo.get_run(session, run_id) if run_id is not None else start_run(session, actor, kind="rebalance")
    if run is None:
        raise not_found("replenishment run", run_id)
    if first_day is not None:
        run.first_day = first_day
    stores = inventory_service.locations_of_types(session, [STORE_TYPE])
    by_code = {s.code: s for s in stores}
    figures = inventory_service.stock_figures(session, [s.id for s in stores])
    forecasts = forecasting_service.demand_forecasts(session, None, run.first_day, REBALANCE_WINDOW_DAYS)
    by_sku: dict[int, list[LocationStock]] = defaultdict(list)
    store_by_id = {s.id: s for s in stores}
    for (sku_id, loc_id), f in figures.items():
        s = store_by_id.get(loc_id)
        if s is None:
            continue
        fc = forecasts.get((sku_id, loc_id))
        daily = sum(max(0.0, m) for m in fc.mean) / REBALANCE_WINDOW_DAYS if fc else 0.0
        available = max(0, f.on_hand - f.reserved - f.outbound_draft)
        by_sku[sku_id].append(LocationStock(s.code, s.region, available, daily))

    def distance(a: str, b: str) -> float:
        la, lb = by_code[a], by_code[b]
        if None in (la.latitude, la.longitude, lb.latitude, lb.longitude):
            return 10_000.0
        return haversine_km(la.latitude or 0.0, la.longitude or 0.0, lb.latitude or 0.0, lb.longitude or 0.0)

    skus = sku_refs_by_ids(session, list(by_sku))
    counts: dict[str, int] = defaultdict(int)
    counts["superseded"] = repo.supersede_proposed(session, ("rebalance",), run.id)
    rows: list[Suggestion] = []
    total = len(by_sku)
    for i, (sku_id, stock) in enumerate(sorted(by_sku.items())):
        progress(i, total, "rebalancing")
        sku = skus.get(sku_id)
        if sku is None or len(stock) < 2:
            continue
        moves = rebalance(
            stock, high_cover_days=REBALANCE_HIGH_COVER, low_cover_days=REBALANCE_LOW_COVER, cost=distance
        )
        for m in moves:
            src, dst = by_code[m.source], by_code[m.target]
            rows.append(
                Suggestion(
                    run_id=run.id,
                    kind="rebalance",
                    sku_id=sku_id,
                    location_id=dst.id,
                    source_location_id=src.id,
                    status="proposed",
                    quantity=m.quantity,
                    needed_quantity=m.quantity,
                    on_hand=figures[(sku_id, dst.id)].on_hand if (sku_id, dst.id) in figures else 0,
                    reasons=[
                        {
                            "code": "rebalance",
                            "source_cover_days": _finite(m.source_cover_days),
                            "target_cover_days": _finite(m.target_cover_days),
                            "high_cover_days": REBALANCE_HIGH_COVER,
                            "low_cover_days": REBALANCE_LOW_COVER,
                            "distance_km": round(m.cost, 1),
                            "units": m.quantity,
                        }
                    ],
                    unit_cost_fen=sku.unit_cost_fen,
                    currency=sku.currency,
                )
            )
    repo.add_suggestions(session, rows)
    counts["suggestions"] = len(rows)
    counts["skus"] = total
    _finish_run(session, actor, run, dict(counts))
    progress(total, total, "done")
    return RunResult(run.id, dict(counts))


def _finite(value: float) -> float | None:
    return round(value, 1) if math.isfinite(value) else None


# ================================================================ deciding on suggestions


def _visible_suggestion(session: Session, principal: Principal, suggestion_id: int) -> Suggestion:
    s = repo.get_suggestion(session, suggestion_id)
    if s is None or not can_access_location(principal, s.location_id):
        raise not_found("suggestion", suggestion_id)
    return s


def _transition(
    session: Session, actor: Principal, s: Suggestion, *, expected: Sequence[str], action: str, **values: Any
) -> Suggestion:
    before = {"status": s.status, "quantity": s.final_quantity}
    if not repo.set_suggestion_status(
        session, s.id, expected=expected, now=utcnow(), decided_by=actor.name[:128], **values
    ):
        current = repo.get_suggestion(session, s.id)
        status = current.status if current else "gone"
        raise InvalidTransition(f"suggestion {s.id} is {status}", extra={"status": status})
    fresh = repo.get_suggestion(session, s.id)
    assert fresh is not None
    record(
        session,
        actor,
        action,
        "suggestion",
        s.id,
        before=before,
        after={"status": fresh.status, "quantity": fresh.final_quantity},
    )
    return fresh


def approve_suggestion(session: Session, actor: Principal, suggestion_id: int) -> SuggestionOut:
    """proposed -> approved. A transfer or rebalancing suggestion becomes an inventory transfer
    (draft, at its source) at once and is then ``ordered``; a purchase suggestion waits for
    ``create_purchase_orders`` to group it with the others of its supplier."""
    s = _visible_suggestion(session, actor, suggestion_id)
    ensure_location_access(actor, s.location_id)
    s = _transition(session, actor, s, expected=("proposed",), action="suggestion.approve", status="approved")
    if s.kind in ("transfer", "rebalance"):
        _order_transfers(session, actor, [s])
    return _suggestion_outs(session, [repo.get_suggestion(session, s.id) or s])[0]


def edit_suggestion(session: Session, actor: Principal, suggestion_id: int, quantity: int) -> SuggestionOut:
    """A planner's quantity instead of the policy's (while nobody has ordered it yet)."""
    s = _visible_suggestion(session, actor, suggestion_id)
    ensure_location_access(actor, s.location_id)
    if quantity < 0:
        raise ValidationFailed("invalid quantity", errors=[FieldProblem("body.quantity", "negative", "0 or more")])
    s = _transition(
        session, actor, s, expected=("proposed", "approved"), action="suggestion.edit", edited_quantity=quantity
    )
    return _suggestion_outs(session, [s])[0]


def reject_suggestion(session: Session, actor: Principal, suggestion_id: int, reason: str = "") -> SuggestionOut:
    s = _visible_suggestion(session, actor, suggestion_id)
    ensure_location_access(actor, s.location_id)
    s = _transition(session, actor, s, expected=("proposed", "approved"), action="suggestion.reject", status="rejected")
    if reason:
        record(session, actor, "suggestion.reject_reason", "suggestion", s.id, after={"reason": reason})
    return _suggestion_outs(session, [s])[0]


def bulk_approve(session: Session, actor: Principal, ids: Sequence[int]) -> BulkOut:
    """Approves every proposed suggestion among ``ids``; the others are listed with why."""
    approved: list[int] = []
    skipped: list[dict[str, Any]] = []
    for sid in sorted(set(ids)):
        s = repo.get_suggestion(session, sid)
        if s is None or not can_access_location(actor, s.location_id):
            skipped.append({"id": sid, "code": "not_found"})
        elif s.status != "proposed":
            skipped.append({"id": sid, "code": "invalid_transition", "status": s.status})
        else:
            approve_suggestion(session, actor, sid)
            approved.append(sid)
    return BulkOut(approved=approved, skipped=skipped)


def _order_transfers(session: Session, actor: Principal, rows: Sequence[Suggestion]) -> list[str]:
    """Approved transfer suggestions -> one draft inventory transfer per source x destination,
    each with a link row saying why (replenishment, allocation when the DC was short, rebalance)."""
    groups: dict[tuple[int, int, str], list[Suggestion]] = defaultdict(list)
    for r in rows:
        groups[(r.source_location_id, r.location_id, r.kind)].append(r)
    locs = _locations(session, [k[0] for k in groups] + [k[1] for k in groups])
    skus = sku_refs_by_ids(session, [r.sku_id for r in rows])
    codes: list[str] = []
    for (src, dst, kind), group in sorted(groups.items()):
        lines = [
            StockLineIn(sku_code=skus[r.sku_id].code, quantity=r.final_quantity) for r in group if r.final_quantity
        ]
        if not lines:
            repo.mark_ordered(session, [r.id for r in group])
            continue
        allocated = any(r.needed_quantity > r.quantity for r in group)
        link_kind = "rebalance" if kind == "rebalance" else ("allocation" if allocated else "replenishment")
        note = f"{link_kind}: run {group[0].run_id}"
        t = inventory_service.create_transfer(
            session,
            actor,
            source_location_code=locs[src].code,
            dest_location_code=locs[dst].code,
            lines=lines,
            note=note,
        )
        reason = _link_reason(link_kind, group)
        session.add(
            TransferLink(
                transfer_code=t.code,
                suggestion_id=group[0].id,
                kind=link_kind,
                reason=reason[:255],
                details={"suggestions": [r.id for r in group], "run_id": group[0].run_id},
                created_by=actor.name[:128],
            )
        )
        if repo.mark_ordered(session, [r.id for r in group], transfer_code=t.code) != len(group):
            raise Conflict("a suggestion changed while its transfer was made", extra={"code": "suggestion_changed"})
        record(
            session,
            actor,
            "suggestion.transfer",
            "transfer",
            t.code,
            after={"kind": link_kind, "suggestions": [r.id for r in group]},
        )
        codes.append(t.code)
    session.flush()
    return codes


def _link_reason(kind: str, group: Sequence[Suggestion]) -> str:
    if kind == "rebalance":
        r = group[0].reasons[0] if group[0].reasons else {}
        return (
            f"rebalance: source cover {r.get('source_cover_days')} d > {r.get('high_cover_days')} d, "
            f"target cover {r.get('target_cover_days')} d < {r.get('low_cover_days')} d, {r.get('distance_km')} km"
        )
    if kind == "allocation":
        cut = [f"{r.quantity}/{r.needed_quantity}" for r in group if r.needed_quantity > r.quantity]
        return f"allocation: DC short, lines cut to fair share ({', '.join(cut)})"
    return f"replenishment: order-up-to from run {group[0].run_id}"


# ================================================================ purchase orders


def _po_number(po: PurchaseOrder) -> str:
    return f"PO{po.created_at.astimezone(BUSINESS_TZ):%y%m%d}{po.id:06d}"


def _new_po(
    session: Session,
    actor: Principal,
    *,
    supplier_id: int,
    dest_id: int,
    currency: str,
    lead_days: float,
    run_id: int | None,
    note: str,
    expected: date | None = None,
) -> PurchaseOrder:
    now = utcnow()
    po = PurchaseOrder(
        number=f"tmp-{secrets.token_hex(12)}",
        supplier_location_id=supplier_id,
        dest_location_id=dest_id,
        status="draft",
        currency=currency,
        expected_date=expected or (now.astimezone(BUSINESS_TZ).date() + timedelta(days=math.ceil(lead_days))),
        run_id=run_id,
        note=note,
        created_by=actor.name[:128],
        created_at=now,
        updated_at=now,
    )
    session.add(po)
    session.flush()
    po.number = _po_number(po)
    session.flush()
    return po


def _add_lines(session: Session, po: PurchaseOrder, wanted: Sequence[tuple[int, int, int]]) -> None:
    """(sku_id, quantity, unit_cost_fen) onto the PO: a SKU already on it gets the quantity added."""
    lines = repo.po_lines(session, [po.id])[po.id]
    by_sku = {ln.sku_id: ln for ln in lines}
    next_no = max((ln.line_no for ln in lines), default=0) + 1
    for sku_id, qty, cost in wanted:
        ln = by_sku.get(sku_id)
        if ln is None:
            ln = PurchaseOrderLine(
                purchase_order_id=po.id,
                line_no=next_no,
                sku_id=sku_id,
                quantity=0,
                received_quantity=0,
                unit_cost_fen=cost,
                total_fen=0,
            )
            session.add(ln)
            by_sku[sku_id] = ln
            next_no += 1
        ln.quantity += qty
        ln.total_fen = ln.quantity * ln.unit_cost_fen
    session.flush()
    po.total_fen = sum(ln.total_fen for ln in by_sku.values())
    session.flush()


def _order_purchases(session: Session, actor: Principal, rows: Sequence[Suggestion], *, auto: bool) -> list[str]:
    """Approved purchase suggestions -> POs, one per run x supplier x destination (lines added to
    that run's PO if it is still draft or approved). ``auto``: the run's auto-approved lines make
    an approved PO."""
    groups: dict[tuple[int, int, int], list[Suggestion]] = defaultdict(list)
    for r in rows:
        groups[(r.run_id, r.source_location_id, r.location_id)].append(r)
    numbers: list[str] = []
    terms = {(t.supplier_location_id, t.sku_id): t for t in repo.all_terms(session, [r.sku_id for r in rows])}
    for (run_id, supplier_id, dest_id), group in sorted(groups.items()):
        wanted = [(r.sku_id, r.final_quantity, r.unit_cost_fen) for r in group if r.final_quantity > 0]
        po = repo.draft_po_for(session, run_id, supplier_id, dest_id)
        if po is None and wanted:
            lead = max(
                (
                    _float(terms[(supplier_id, r.sku_id)].lead_time_days)
                    for r in group
                    if (supplier_id, r.sku_id) in terms
                ),
                default=7.0,
            )
            po = _new_po(
                session,
                actor,
                supplier_id=supplier_id,
                dest_id=dest_id,
                currency=group[0].currency,
                lead_days=lead,
                run_id=run_id,
                note=f"run {run_id}",
            )
            if auto:
                po.status, po.approved_by, po.approved_at = "approved", f"auto:{group[0].auto_rule}", utcnow()
            record(
                session,
                actor,
                "purchase_order.create",
                "purchase_order",
                po.number,
                after={"status": po.status, "run_id": run_id},
            )
        if po is not None and wanted:
            _add_lines(session, po, wanted)
            numbers.append(po.number)
        changed = repo.mark_ordered(session, [r.id for r in group], purchase_order_id=po.id if po else None)
        if changed != len(group):
            raise Conflict("a suggestion changed while its PO was made", extra={"code": "suggestion_changed"})
        if po is not None:
            record(
                session,
                actor,
                "purchase_order.add_suggestions",
                "purchase_order",
                po.number,
                after={"suggestions": [r.id for r in group], "total_fen": po.total_fen},
            )
    return sorted(set(numbers))


def create_purchase_orders(session: Session, actor: Principal, data: POFromSuggestionsIn) -> list[POSummaryOut]:
    """Approved, not yet ordered purchase suggestions (all of them, or ``ids``) -> POs."""
    if data.ids is not None:
        rows = repo.suggestions_by_ids(session, data.ids)
        found = {r.id for r in rows}
        problems = [
            FieldProblem(f"body.ids.{i}", "not_found", f"no suggestion {sid}")
            for i, sid in enumerate(data.ids)
            if sid not in found
        ]
        for i, sid in enumerate(data.ids):
            r = next((x for x in rows if x.id == sid), None)
            if r is None:
                continue
            if r.kind != "purchase":
                problems.append(FieldProblem(f"body.ids.{i}", "not_a_purchase", f"suggestion {sid} is a {r.kind}"))
            elif r.status != "approved":
                problems.append(FieldProblem(f"body.ids.{i}", "not_approved", f"suggestion {sid} is {r.status}"))
        _fail(problems, "these suggestions cannot be ordered")
    else:
        rows = list(
            session.scalars(
                repo.suggestions_query().where(Suggestion.kind == "purchase", Suggestion.status == "approved")
            )
        )
    for r in rows:
        ensure_location_access(actor, r.location_id)
    if not rows:
        raise NothingToOrder("no approved purchase suggestion waits for a PO")
    numbers = _order_purchases(session, actor, rows, auto=False)
    pos = [p for n in numbers if (p := repo.po_by_number(session, n)) is not None]
    return _po_summaries(session, pos)


def create_purchase_order(session: Session, actor: Principal, data: POIn) -> POOut:
    """A PO keyed in by a buyer (not from suggestions): a draft."""
    problems: list[FieldProblem] = []
    supplier = _location_by_code(session, data.supplier_code)
    if supplier is None:
        problems.append(FieldProblem("body.supplier_code", "unknown_location", f"no location {data.supplier_code!r}"))
    elif supplier.type != SUPPLIER_TYPE:
        problems.append(FieldProblem("body.supplier_code", "not_a_supplier", f"{supplier.code} is a {supplier.type}"))
    dest = _location_by_code(session, data.dest_location_code)
    if dest is None:
        problems.append(
            FieldProblem("body.dest_location_code", "unknown_location", f"no location {data.dest_location_code!r}")
        )
    elif dest.type == SUPPLIER_TYPE:
        problems.append(FieldProblem("body.dest_location_code", "is_a_supplier", "goods go to a DC or a store"))
    skus = sku_refs_by_codes(session, [ln.sku_code for ln in data.lines])
    terms: dict[int, SupplierTerms] = {}
    if supplier is not None:
        terms = {
            t.sku_id: t
            for t in repo.all_terms(session, [s.id for s in skus.values()])
            if t.supplier_location_id == supplier.id
        }
    seen: set[str] = set()
    wanted: list[tuple[int, int, int]] = []
    for i, ln in enumerate(data.lines):
        at = f"body.lines.{i}"
        ref = skus.get(ln.sku_code)
        if ref is None:
            problems.append(FieldProblem(f"{at}.sku_code", "unknown_sku", f"no SKU {ln.sku_code!r}"))
            continue
        if ln.sku_code in seen:
            problems.append(FieldProblem(f"{at}.sku_code", "duplicate_line", f"{ln.sku_code} is listed twice"))
        seen.add(ln.sku_code)
        cost = (
            ln.unit_cost_fen
            if ln.unit_cost_fen is not None
            else (terms[ref.id].unit_cost_fen if ref.id in terms else None)
        )
        if cost is None:
            problems.append(
                FieldProblem(f"{at}.unit_cost_fen", "no_terms", f"no supplier terms for {ln.sku_code}: give a cost")
            )
            continue
        wanted.append((ref.id, ln.quantity, cost))
    _fail(problems, "invalid purchase order")
    assert supplier is not None
    assert dest is not None
    ensure_location_access(actor, dest.id)
    lead = max((_float(terms[s].lead_time_days) for s, _, _ in wanted if s in terms), default=7.0)
    po = _new_po(
        session,
        actor,
        supplier_id=supplier.id,
        dest_id=dest.id,
        currency=next((terms[s].currency for s, _, _ in wanted if s in terms), "CNY"),
        lead_days=lead,
        run_id=None,
        note=data.note,
        expected=data.expected_date,
    )
    _add_lines(session, po, wanted)
    record(
        session,
        actor,
        "purchase_order.create",
        "purchase_order",
        po.number,
        after={"supplier": supplier.code, "dest": dest.code, "lines": [ln.model_dump() for ln in data.lines]},
    )
    return get_purchase_order(session, actor, po.number)


def _visible_po(session: Session, principal: Principal, number: str, *, for_update: bool = False) -> PurchaseOrder:
    po = repo.po_by_number(session, number, for_update=for_update)
    if po is None or not can_access_location(principal, po.dest_location_id):
        raise not_found("purchase order", number)
    return po


def _po_step(
    session: Session, actor: Principal, number: str, *, expected: Sequence[str], action: str, **values: Any
) -> POOut:
    po = _visible_po(session, actor, number)
    ensure_location_access(actor, po.dest_location_id)
    before = po.status
    if not repo.set_po_status(session, po.id, expected=expected, now=utcnow(), **values):
        current = repo.get_po(session, po.id)
        status = current.status if current else "gone"
        raise InvalidTransition(f"purchase order {number} is {status}", extra={"status": status})
    record(
        session,
        actor,
        action,
        "purchase_order",
        number,
        before={"status": before},
        after={"status": values.get("status")},
    )
    return get_purchase_order(session, actor, number)


def approve_purchase_order(session: Session, actor: Principal, number: str) -> POOut:
    return _po_step(
        session,
        actor,
        number,
        expected=("draft",),
        action="purchase_order.approve",
        status="approved",
        approved_by=actor.name[:128],
        approved_at=utcnow(),
    )


def send_purchase_order(session: Session, actor: Principal, number: str) -> POOut:
    """approved -> sent (to the supplier); goods can be received from now on."""
    return _po_step(
        session, actor, number, expected=("approved",), action="purchase_order.send", status="sent", sent_at=utcnow()
    )


def cancel_purchase_order(session: Session, actor: Principal, number: str, reason: str = "") -> POOut:
    """Only before any goods arrived; its suggestions go back to approved (order them again or
    reject them)."""
    out = _po_step(
        session,
        actor,
        number,
        expected=("draft", "approved", "sent"),
        action="purchase_order.cancel",
        status="cancelled",
        cancelled_at=utcnow(),
        cancel_reason=reason[:255],
    )
    for sid in out.suggestion_ids:
        repo.set_suggestion_status(
            session, sid, expected=("ordered",), now=utcnow(), status="approved", purchase_order_id=None
        )
    return out


def receive_purchase_order(session: Session, actor: Principal, number: str, data: ReceiveIn) -> POOut:
    """Goods in against a sent PO, in full or in part: ``receipt`` movements at the destination
    through ``inventory.receive_stock`` with the PO number as their reference (stock goes up),
    a receipt row, and the PO's status follows (partially_received / received).

    Race-safe: the PO row is locked first (two receipts of one PO queue up), and each line's
    ``received_quantity`` grows by a conditional UPDATE that keeps it within the ordered quantity.
    A line asking for more than is still open is an ``over_receipt`` naming every such line, and
    nothing is written."""
    po = _visible_po(session, actor, number, for_update=True)
    ensure_location_access(actor, po.dest_location_id)
    if po.status not in ("sent", "partially_received"):
        raise InvalidTransition(f"purchase order {number} is {po.status}", extra={"status": po.status})
    lines = repo.po_lines(session, [po.id])[po.id]
    skus = sku_refs_by_ids(session, [ln.sku_id for ln in lines])
    by_code = {skus[ln.sku_id].code: ln for ln in lines if ln.sku_id in skus}
    problems: list[FieldProblem] = []
    over: list[FieldProblem] = []
    seen: set[str] = set()
    for i, rl in enumerate(data.lines):
        at = f"body.lines.{i}"
        ln = by_code.get(rl.sku_code)
        if ln is None:
            problems.append(FieldProblem(f"{at}.sku_code", "not_on_order", f"{rl.sku_code} is not on {number}"))
            continue
        if rl.sku_code in seen:
            problems.append(FieldProblem(f"{at}.sku_code", "duplicate_line", f"{rl.sku_code} is listed twice"))
        seen.add(rl.sku_code)
        open_qty = ln.quantity - ln.received_quantity
        if rl.quantity > open_qty:
            over.append(
                FieldProblem(
                    f"{at}.quantity", "over_receipt", f"{open_qty} of {ln.quantity} still expected for {rl.sku_code}"
                )
            )
        serial_tracked = skus[ln.sku_id].serial_tracked
        if serial_tracked and len(rl.serials) != rl.quantity:
            problems.append(FieldProblem(f"{at}.serials", "serial_count", f"name the {rl.quantity} serial(s) received"))
        if not serial_tracked and rl.serials:
            problems.append(FieldProblem(f"{at}.serials", "not_serial_tracked", f"{rl.sku_code} has no serials"))
    if over:
        raise OverReceipt(f"{len(over)} line(s) over the open quantity", errors=over + problems)
    _fail(problems, "invalid receipt")
    for rl in data.lines:
        if not repo.add_received(session, by_code[rl.sku_code].id, rl.quantity):
            raise OverReceipt(
                "received meanwhile by someone else",
                errors=[FieldProblem("body.lines", "over_receipt", f"{rl.sku_code} was received meanwhile")],
            )
    locs = _locations(session, [po.dest_location_id])
    seq = repo.receipt_count(session, po.id) + 1
    receipt_no = f"{po.number}-R{seq}"
    movements = inventory_service.receive_stock(
        session,
        actor,
        location_code=locs[po.dest_location_id].code,
        lines=[StockLineIn(sku_code=rl.sku_code, quantity=rl.quantity, serials=list(rl.serials)) for rl in data.lines],
        reference=po.number,
        reason=f"purchase order {po.number} receipt {receipt_no}" + (f"; {data.note}" if data.note else ""),
    )
    value = sum(rl.quantity * by_code[rl.sku_code].unit_cost_fen for rl in data.lines)
    receipt = Receipt(
        number=receipt_no,
        purchase_order_id=po.id,
        location_id=po.dest_location_id,
        units=sum(rl.quantity for rl in data.lines),
        value_fen=value,
        movement_ids=[m.id for m in movements],
        note=data.note,
        received_by=actor.name[:128],
        received_at=utcnow(),
    )
    session.add(receipt)
    session.flush()
    session.add_all(
        ReceiptLine(
            receipt_id=receipt.id,
            purchase_order_line_id=by_code[rl.sku_code].id,
            sku_id=by_code[rl.sku_code].sku_id,
            quantity=rl.quantity,
            serials=list(rl.serials),
        )
        for rl in data.lines
    )
    fresh = repo.po_lines(session, [po.id])[po.id]
    complete = all(ln.received_quantity >= ln.quantity for ln in fresh)
    status = "received" if complete else "partially_received"
    now = utcnow()
    if not repo.set_po_status(
        session,
        po.id,
        expected=("sent", "partially_received"),
        now=now,
        status=status,
        received_fen=po.received_fen + value,
        received_at=now if complete else None,
    ):
        raise InvalidTransition(f"purchase order {number} changed meanwhile")
    session.flush()
    record(
        session,
        actor,
        "purchase_order.receive",
        "purchase_order",
        po.number,
        before={"status": po.status},
        after={
            "status": status,
            "receipt": receipt_no,
            "lines": [{"sku_code": rl.sku_code, "quantity": rl.quantity} for rl in data.lines],
            "movement_ids": receipt.movement_ids,
        },
    )
    return get_purchase_order(session, actor, number)


# ---------------------------------------------------------------- PO reads


def _po_summaries(session: Session, pos: Sequence[PurchaseOrder]) -> list[POSummaryOut]:
    lines = repo.po_lines(session, [p.id for p in pos])
    locs = _locations(session, [p.supplier_location_id for p in pos] + [p.dest_location_id for p in pos])
    return [_po_summary(p, lines[p.id], locs) for p in pos]


def _po_summary(p: PurchaseOrder, lines: Sequence[PurchaseOrderLine], locs: Mapping[int, LocationOut]) -> POSummaryOut:
    sup, dst = locs.get(p.supplier_location_id), locs.get(p.dest_location_id)
    return POSummaryOut(
        id=p.id,
        number=p.number,
        status=p.status,
        supplier_code=sup.code if sup else "",
        supplier_name=sup.name if sup else "",
        dest_location_code=dst.code if dst else "",
        dest_location_name=dst.name if dst else "",
        currency=p.currency,
        total_fen=p.total_fen,
        received_fen=p.received_fen,
        lines=len(lines),
        units=sum(ln.quantity for ln in lines),
        received_units=sum(ln.received_quantity for ln in lines),
        expected_date=p.expected_date,
        run_id=p.run_id,
        created_by=p.created_by,
        created_at=p.created_at,
    )


def get_purchase_order(session: Session, principal: Principal, number: str) -> POOut:
    po = _visible_po(session, principal, number)
    lines = repo.po_lines(session, [po.id])[po.id]
    locs = _locations(session, [po.supplier_location_id, po.dest_location_id])
    skus = sku_refs_by_ids(session, [ln.sku_id for ln in lines])
    receipts = repo.receipts_of(session, po.id)
    rskus = sku_refs_by_ids(session, [ln.sku_id for _, rls in receipts for ln in rls])
    summary = _po_summary(po, lines, locs)
    suggestion_ids = [
        int(i)
        for i in session.scalars(
            repo.suggestions_query().with_only_columns(Suggestion.id).where(Suggestion.purchase_order_id == po.id)
        )
    ]
    return POOut(
        **summary.model_dump(),
        note=po.note,
        cancel_reason=po.cancel_reason,
        approved_by=po.approved_by,
        approved_at=po.approved_at,
        sent_at=po.sent_at,
        received_at=po.received_at,
        cancelled_at=po.cancelled_at,
        order_lines=[
            POLineOut(
                id=ln.id,
                line_no=ln.line_no,
                sku_id=ln.sku_id,
                sku_code=skus[ln.sku_id].code if ln.sku_id in skus else str(ln.sku_id),
                sku_name=skus[ln.sku_id].name if ln.sku_id in skus else "",
                serial_tracked=bool(skus[ln.sku_id].serial_tracked) if ln.sku_id in skus else False,
                quantity=ln.quantity,
                received_quantity=ln.received_quantity,
                open_quantity=ln.quantity - ln.received_quantity,
                unit_cost_fen=ln.unit_cost_fen,
                total_fen=ln.total_fen,
            )
            for ln in lines
        ],
        receipts=[
            ReceiptOut(
                id=r.id,
                number=r.number,
                purchase_order_number=po.number,
                location_code=summary.dest_location_code,
                units=r.units,
                value_fen=r.value_fen,
                movement_ids=[int(m) for m in r.movement_ids],
                note=r.note,
                received_by=r.received_by,
                received_at=r.received_at,
                lines=[
                    ReceiptLineOut(
                        sku_code=rskus[ln.sku_id].code if ln.sku_id in rskus else str(ln.sku_id),
                        quantity=ln.quantity,
                        serials=[str(s) for s in ln.serials],
                    )
                    for ln in rls
                ],
            )
            for r, rls in receipts
        ],
        suggestion_ids=sorted(suggestion_ids),
    )


def _allowed(principal: Principal) -> list[int] | None:
    """The locations a store-scoped principal may see (None: all), for the list queries."""
    allowed = allowed_location_ids(principal)
    return sorted(allowed) if allowed is not None else None


def _filter_location_ids(session: Session, *codes: str | None) -> tuple[int | None, ...]:
    """Location ids for optional filter codes: None where no code was given, -1 (matches nothing)
    for an unknown one."""
    ids = inventory_service.location_ids_by_codes(session, [c for c in codes if c])
    return tuple(ids.get(c, -1) if c else None for c in codes)


def list_purchase_orders(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    supplier_code: str | None = None,
    location_code: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[POSummaryOut]:
    supplier_id, dest_id = _filter_location_ids(session, supplier_code, location_code)
    stmt = repo.pos_query(allowed=_allowed(principal), status=status, supplier_id=supplier_id, dest_id=dest_id)
    page = paginate(session, stmt, [SortKey(PurchaseOrder.id, descending=True)], cursor=cursor, limit=limit)
    return Page(_po_summaries(session, page.items), page.next_cursor)


def list_receipts(
    session: Session, principal: Principal, *, cursor: str | None = None, limit: int = 50
) -> Page[ReceiptOut]:
    stmt = repo.receipts_query(allowed=_allowed(principal))
    page = paginate(session, stmt, [SortKey(Receipt.id, descending=True)], cursor=cursor, limit=limit)
    numbers = repo.po_numbers(session, [r.purchase_order_id for r in page.items])
    locs = _locations(session, [r.location_id for r in page.items])
    return page.map(
        lambda r: ReceiptOut(
            id=r.id,
            number=r.number,
            purchase_order_number=numbers.get(r.purchase_order_id, ""),
            location_code=locs[r.location_id].code if r.location_id in locs else "",
            units=r.units,
            value_fen=r.value_fen,
            movement_ids=[int(m) for m in r.movement_ids],
            note=r.note,
            received_by=r.received_by,
            received_at=r.received_at,
            lines=[],
        )
    )


# ================================================================ suggestion and run reads


def _suggestion_outs(session: Session, rows: Sequence[Suggestion]) -> list[SuggestionOut]:
    skus = sku_refs_by_ids(session, [r.sku_id for r in rows])
    locs = _locations(session, [r.location_id for r in rows] + [r.source_location_id for r in rows])
    pos = repo.po_numbers(session, [r.purchase_order_id for r in rows if r.purchase_order_id is not None])
    out = []
    for r in rows:
        sku, loc, src = skus.get(r.sku_id), locs.get(r.location_id), locs.get(r.source_location_id)
        out.append(
            SuggestionOut(
                id=r.id,
                run_id=r.run_id,
                kind=r.kind,
                status=r.status,
                sku_id=r.sku_id,
                sku_code=sku.code if sku else str(r.sku_id),
                sku_name=sku.name if sku else "",
                location_id=r.location_id,
                location_code=loc.code if loc else "",
                location_name=loc.name if loc else "",
                source_location_id=r.source_location_id,
                source_code=src.code if src else "",
                source_name=src.name if src else "",
                quantity=r.quantity,
                edited_quantity=r.edited_quantity,
                final_quantity=r.final_quantity,
                needed_quantity=r.needed_quantity,
                demand_over_protection=r.demand_over_protection,
                protection_days=r.protection_days,
                safety_stock=r.safety_stock,
                order_up_to=r.order_up_to,
                on_hand=r.on_hand,
                on_order=r.on_order,
                reserved=r.reserved,
                inventory_position=r.inventory_position,
                reasons=[dict(x) for x in r.reasons],
                unit_cost_fen=r.unit_cost_fen,
                value_fen=r.final_quantity * r.unit_cost_fen,
                currency=r.currency,
                auto_rule=r.auto_rule,
                decided_by=r.decided_by,
                decided_at=r.decided_at,
                purchase_order_number=pos.get(r.purchase_order_id) if r.purchase_order_id is not None else None,
                transfer_code=r.transfer_code,
                created_at=r.created_at,
            )
        )
    return out


def get_suggestion(session: Session, principal: Principal, suggestion_id: int) -> SuggestionOut:
    return _suggestion_outs(session, [_visible_suggestion(session, principal, suggestion_id)])[0]


def list_suggestions(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    kind: str | None = None,
    location_code: str | None = None,
    source_code: str | None = None,
    run_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[SuggestionOut]:
    """Suggestions at locations the principal may see, newest first."""
    location_id, source_id = _filter_location_ids(session, location_code, source_code)
    stmt = repo.suggestions_query(
        allowed=_allowed(principal),
        status=status,
        kind=kind,
        location_id=location_id,
        source_id=source_id,
        run_id=run_id,
    )
    page = paginate(session, stmt, [SortKey(Suggestion.id, descending=True)], cursor=cursor, limit=limit)
    return Page(_suggestion_outs(session, page.items), page.next_cursor)


def value_by_source(
    session: Session,
    principal: Principal,
    *,
    statuses: Sequence[str] = ("proposed", "approved"),
    kind: str = "purchase",
) -> list[tuple[str, str, int, int]]:
    """(source code, source name, suggestions, value in fen) of open suggestions, largest first."""
    rows = repo.suggestion_value_by_source(session, statuses, kind, _allowed(principal))
    locs = _locations(session, [r[0] for r in rows])
    out = [(locs[r[0]].code, locs[r[0]].name, r[1], r[2]) for r in rows if r[0] in locs]
    return sorted(out, key=lambda x: -x[3])


def latest_run(session: Session, kind: str = "suggest") -> RunOut | None:
    run = repo.latest_run(session, kind)
    return RunOut.model_validate(run) if run else None


def get_run(session: Session, run_id: int) -> RunOut:
    run = repo.get_run(session, run_id)
    if run is None:
        raise not_found("replenishment run", run_id)
    return RunOut.model_validate(run)


def list_runs(session: Session, *, cursor: str | None = None, limit: int = 50) -> Page[RunOut]:
    page = paginate(
        session, repo.runs_query(), [SortKey(ReplenishmentRun.id, descending=True)], cursor=cursor, limit=limit
    )
    return page.map(RunOut.model_validate)


# ================================================================ transfers from allocation and rebalancing


def list_transfer_links(
    session: Session, principal: Principal, *, kind: str | None = None, cursor: str | None = None, limit: int = 50
) -> Page[TransferLinkOut]:
    """Transfers replenishment made, with why, newest first (the transfer's own state from inventory)."""
    stmt = repo.links_query()
    if kind:
        stmt = stmt.where(TransferLink.kind == kind)
    page = paginate(session, stmt, [SortKey(TransferLink.id, descending=True)], cursor=cursor, limit=limit)
    out: list[TransferLinkOut] = []
    for link in page.items:
        try:
            t = inventory_service.get_transfer(session, principal, link.transfer_code)
        except NotFound:
            continue  # outside the principal's stores
        out.append(
            TransferLinkOut(
                transfer_code=link.transfer_code,
                kind=link.kind,
                reason=link.reason,
                details=dict(link.details),
                suggestion_id=link.suggestion_id,
                status=t.status,
                source_code=t.source_location_code,
                dest_code=t.dest_location_code,
                units=sum(ln.quantity for ln in t.lines),
                created_by=link.created_by,
                created_at=link.created_at,
            )
        )
    return Page(out, page.next_cursor)


def _position(f: inventory_service.StockFigures, open_po_units: int) -> StockPosition:
    """On order: open PO lines, stock in transit and draft transfers in. Reserved: held for
    orders, plus draft transfers out (stock already promised elsewhere)."""
    return StockPosition(f.on_hand, open_po_units + f.in_transit + f.inbound_draft, f.reserved + f.outbound_draft)


def positions_for(session: Session, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], StockPosition]:
    """The stock position of these SKU x location pairs as a run sees it."""
    loc_ids = sorted({lo for _, lo in pairs})
    figures = inventory_service.stock_figures(session, loc_ids)
    open_po = repo.open_po_quantities(session, loc_ids)
    return {
        pair: _position(figures.get(pair) or inventory_service.StockFigures(*pair), open_po.get(pair, 0))
        for pair in pairs
    }
