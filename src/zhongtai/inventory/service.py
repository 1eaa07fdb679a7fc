"""The inventory center (库存中心): locations, the movement ledger, balances, reservations,
serial numbers, transfers, counts and the availability queries.

Every state change is one verb here taking the acting ``Principal``; it writes its audit record,
checks the actor's store scope (``ensure_location_access``) and never commits: the HTTP request
or the job owns the transaction. Every read of store-owned rows passes through
``scope_to_locations``; a store-scoped caller asking for another store's row gets a 404.

The reservation contract (what the order center calls)
======================================================

``reserve_stock(session, actor, *, reference, channel_code, lines, ttl_s) -> ReservationOut``

* ``lines``: ``ReserveLine(sku_code | sku_id, location_id | location_code, quantity, serials=[])``.
  ``serials`` holds those exact units of a serial-tracked SKU (then exactly ``quantity`` of them).
  A SKU × location may appear once per request.
* Idempotent on ``(channel_code, reference)``: a retry with the same lines returns the existing
  active reservation; other lines, or a reservation that is no longer active, is a 409
  ``reservation_exists``.
* All or nothing: units are held with conditional UPDATEs
  (``reserved = reserved + q WHERE on_hand - reserved - safety >= q``, rowcount checked), taken in
  ``(location_id, sku_id)`` order inside one savepoint. If any line is short (or any named serial
  is not in stock there), ONE ``InsufficientStock`` (409 ``insufficient_stock``) lists every short
  line with what the channel may still sell (``shortages``) and every unavailable serial
  (``unavailable_serials``), and nothing is written.
* ``safety``: the channel's safety stock at that location (SKU override, else the location
  default, else 0). ``channel_code=None`` sells down to the last unit.
* ``ttl_s``: seconds until the hold lapses (the ``inventory.reservation-expiry`` schedule
  releases it, every 30 s); ``None`` holds until consumed or released (a paid order).
* An API key bound to a channel may only reserve for that channel, and only sees, consumes or
  releases that channel's reservations.

``consume_reservation(session, actor, reservation_id, lines=None, reference=None)`` turns held
units into ``sale`` movements (all, or the ``ConsumeLine`` s of a partial shipment; serial-tracked
units must be named unless they were reserved by serial); ``release_reservation(session, actor,
reservation_id, reason)`` gives them back. Both are 409 ``invalid_transition`` unless the
reservation is active.

Invariants (whatever the concurrency): ``0 <= reserved <= on_hand`` (available never below zero;
CHECK constraints back the conditional UPDATEs); per SKU × location the ledger's
``sum(on_hand_delta) == on_hand`` and ``sum(in_transit_delta) == in_transit``; the open quantity of
active reservation lines sums to ``reserved``; a serial is in one place and sold at most once.
``check_ledger`` verifies the first three.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Select, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import (
    allowed_location_ids,
    can_access_location,
    ensure_location_access,
    scope_to_locations,
)
from zhongtai.catalog.service import SkuRef, sku_refs_by_codes, sku_refs_by_ids
from zhongtai.channels import service as channels_service
from zhongtai.db import Database, utcnow
from zhongtai.errors import (
    Conflict,
    FieldProblem,
    InvalidTransition,
    PermissionDenied,
    ValidationFailed,
    not_found,
)
from zhongtai.inventory import repository as repo
from zhongtai.inventory.errors import (
    InsufficientStock,
    ReservationMismatch,
    Shortage,
    UnavailableSerial,
)
from zhongtai.inventory.geo import bounding_box, nearest_within
from zhongtai.inventory.hours import normalise_opening_hours, opening_hours_problems, timezone_problems
from zhongtai.inventory.models import (
    ChannelSafetyStock,
    Location,
    Reservation,
    ReservationLine,
    SerialNumber,
    StockBalance,
    StockCount,
    StockMovement,
    Transfer,
    TransferLine,
)
from zhongtai.inventory.schemas import (
    DC_TYPES,
    AdjustmentLineIn,
    AvailabilityOut,
    BalanceOut,
    ChannelSafetyOut,
    ConsumeLine,
    CountLineIn,
    CountRowError,
    GroupFigure,
    LocationIn,
    LocationOut,
    LocationPatch,
    LocationStockOut,
    MovementOut,
    ReceiveLineIn,
    ReservationLineOut,
    ReservationOut,
    ReserveLine,
    SerialOut,
    StockCountOut,
    StockLineIn,
    StockSummary,
    StockTotals,
    TransferLineOut,
    TransferOut,
)
from zhongtai.pagination import Page, SortKey, paginate

EXPIRY_ACTOR = Principal.system("inventory.reservation-expiry")
MAX_RADIUS_KM = 1000.0


# ================================================================ small shared pieces


@contextmanager
def _all_or_nothing(session: Session) -> Iterator[None]:
    """A savepoint: if the verb fails half way, the caller's transaction is as it was."""
    savepoint = session.begin_nested()
    try:
        yield
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    else:
        savepoint.commit()


def _fail(problems: list[FieldProblem], detail: str = "") -> None:
    if problems:
        raise ValidationFailed(detail or f"{len(problems)} invalid field(s)", errors=problems)


def _location_or_404(session: Session, principal: Principal | None, code: str) -> Location:
    loc = repo.location_by_code(session, code)
    if loc is None or (principal is not None and not can_access_location(principal, loc.id)):
        raise not_found("location", code)
    return loc


def _sku_or_404(session: Session, code: str) -> SkuRef:
    ref = sku_refs_by_codes(session, [code]).get(code)
    if ref is None:
        raise not_found("sku", code)
    return ref


def _location_out(loc: Location, parent_code: str | None = None) -> LocationOut:
    out = LocationOut.model_validate(loc)
    out.parent_dc_code = parent_code
    return out


def _movement_out(m: StockMovement, sku_code: str, location_code: str) -> MovementOut:
    return MovementOut(
        id=m.id,
        occurred_at=m.occurred_at,
        type=m.type,
        sku_id=m.sku_id,
        sku_code=sku_code,
        location_id=m.location_id,
        location_code=location_code,
        on_hand_delta=m.on_hand_delta,
        in_transit_delta=m.in_transit_delta,
        on_hand_after=m.on_hand_after,
        reference_type=m.reference_type,
        reference_id=m.reference_id,
        reason=m.reason,
        serials=[str(s) for s in m.serials or []],
        actor_type=m.actor_type,
        actor_name=m.actor_name,
    )


def _movements_out(session: Session, movements: Sequence[StockMovement]) -> list[MovementOut]:
    skus = sku_refs_by_ids(session, [m.sku_id for m in movements])
    locs = repo.locations_by_ids(session, [m.location_id for m in movements])
    return [
        _movement_out(
            m,
            skus[m.sku_id].code if m.sku_id in skus else str(m.sku_id),
            locs[m.location_id].code if m.location_id in locs else str(m.location_id),
        )
        for m in movements
    ]


def _serial_problems(
    serials: Sequence[str], quantity: int, tracked: bool, where: str, sku_code: str
) -> list[FieldProblem]:
    problems = []
    if tracked and len(serials) != quantity:
        problems.append(
            FieldProblem(
                f"{where}.serials",
                "serial_count",
                f"{sku_code} is serial-tracked: list exactly {quantity} serial(s), got {len(serials)}",
            )
        )
    if not tracked and serials:
        problems.append(FieldProblem(f"{where}.serials", "not_serial_tracked", f"{sku_code} has no serial numbers"))
    if len(set(serials)) != len(serials):
        problems.append(FieldProblem(f"{where}.serials", "duplicate_serial", "a serial is listed twice"))
    return problems


# ================================================================ the one way stock moves


@dataclass(slots=True)
class SerialChange:
    """What a movement does to the serial numbers it lists (see ``repo.move_serials``)."""

    from_states: tuple[str, ...]
    to_state: str
    from_location_id: int | None = None
    reservation_id: int | None = None
    to_location_id: int | object | None = repo._KEEP
    set_reservation_id: int | object | None = repo._KEEP
    sold: bool = False
    create: bool = False  # new units (receipts): inserted, not moved


@dataclass(slots=True)
class MovementSpec:
    type: str
    sku: SkuRef
    location: Location
    on_hand_delta: int = 0
    in_transit_delta: int = 0
    reserved_delta: int = 0
    reference_type: str | None = None
    reference_id: str | None = None
    reason: str = ""
    serials: tuple[str, ...] = ()
    serial_change: SerialChange | None = None
    write_ledger: bool = True


@dataclass(slots=True)
class _Outcome:
    movements: list[StockMovement] = field(default_factory=list)
    shortages: list[Shortage] = field(default_factory=list)
    bad_serials: list[UnavailableSerial] = field(default_factory=list)

    def raise_if_short(self) -> None:
        if self.shortages or self.bad_serials:
            raise InsufficientStock.of(self.shortages, self.bad_serials)


def _apply_one(session: Session, actor: Principal, spec: MovementSpec, now: datetime, out: _Outcome) -> None:
    """Applies one movement: the conditional balance UPDATE (creating the row on first use), the
    ledger row with the actor, and the serial changes. Records a shortage instead of raising."""
    sku_id, loc_id = spec.sku.id, spec.location.id
    deltas = {"on_hand": spec.on_hand_delta, "reserved": spec.reserved_delta, "in_transit": spec.in_transit_delta}
    after = repo.apply_balance_delta(session, sku_id, loc_id, now=now, **deltas)
    if after is None:
        # Absent row (first stock here) or a real shortage. The upsert is a no-op in the latter
        # case; retrying once also covers a concurrent creator that committed in between.
        repo.ensure_balance(session, sku_id, loc_id, now)
        after = repo.apply_balance_delta(session, sku_id, loc_id, now=now, **deltas)
    if after is None:
        current = repo.balances(session, [(sku_id, loc_id)]).get((sku_id, loc_id))
        out.shortages.append(
            Shortage(
                sku_code=spec.sku.code,
                location_code=spec.location.code,
                requested=-spec.on_hand_delta if spec.on_hand_delta < 0 else -spec.in_transit_delta,
                available=max(0, current.available) if current else 0,
                sku_id=sku_id,
                location_id=loc_id,
            )
        )
        return
    if spec.serials and spec.serial_change is not None:
        out.bad_serials.extend(_change_serials(session, spec, now))
    if spec.write_ledger:
        movement = StockMovement(
            occurred_at=now,
            type=spec.type,
            sku_id=sku_id,
            location_id=loc_id,
            on_hand_delta=spec.on_hand_delta,
            in_transit_delta=spec.in_transit_delta,
            on_hand_after=after[0],
            reference_type=spec.reference_type,
            reference_id=spec.reference_id,
            reason=spec.reason[:255],
            serials=list(spec.serials),
            actor_type=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name[:128],
        )
        out.movements.append(repo.add_movement(session, movement))


def _change_serials(session: Session, spec: MovementSpec, now: datetime) -> list[UnavailableSerial]:
    change = spec.serial_change
    assert change is not None
    serials = list(spec.serials)
    if change.create:
        existing = repo.serial_states(session, spec.sku.id, serials)
        if existing:
            return [
                UnavailableSerial(spec.sku.code, spec.location.code, s, st[0]) for s, st in sorted(existing.items())
            ]
        session.add_all(
            [
                SerialNumber(
                    sku_id=spec.sku.id,
                    serial=s,
                    state=change.to_state,
                    location_id=spec.location.id,
                    received_at=now,
                    updated_at=now,
                )
                for s in serials
            ]
        )
        return []
    states = repo.serial_states(session, spec.sku.id, serials)

    def movable(st: tuple[str, int | None, int | None] | None) -> bool:
        return (
            st is not None
            and st[0] in change.from_states
            and (change.from_location_id is None or st[1] == change.from_location_id)
            and (change.reservation_id is None or st[2] == change.reservation_id)
        )

    def unavailable(found: dict[str, tuple[str, int | None, int | None]], s: str) -> UnavailableSerial:
        st = found.get(s)
        return UnavailableSerial(spec.sku.code, spec.location.code, s, st[0] if st else None)

    bad = [unavailable(states, s) for s in sorted(set(serials)) if not movable(states.get(s))]
    if bad:
        return bad
    changed = repo.move_serials(
        session,
        spec.sku.id,
        serials,
        from_states=change.from_states,
        to_state=change.to_state,
        now=now,
        from_location_id=change.from_location_id,
        reservation_id=change.reservation_id,
        to_location_id=change.to_location_id,
        set_reservation_id=change.set_reservation_id,
        sold=change.sold,
    )
    if changed != len(set(serials)):
        # Another transaction moved a unit between our read and our UPDATE.
        fresh = repo.serial_states(session, spec.sku.id, serials)
        return [unavailable(fresh, s) for s in sorted(set(serials))]
    return []


def _apply_movements(session: Session, actor: Principal, specs: Sequence[MovementSpec]) -> _Outcome:
    """Applies movements in (location_id, sku_id) order: every verb takes balance row locks in
    that one order, so two transactions never wait on each other in a cycle."""
    now = utcnow()
    out = _Outcome()
    for spec in sorted(specs, key=lambda s: (s.location.id, s.sku.id)):
        _apply_one(session, actor, spec, now, out)
    session.flush()
    return out


# ================================================================ locations


def _location_problems(
    session: Session,
    *,
    type_: str,
    latitude: float | None,
    longitude: float | None,
    timezone: str,
    opening_hours: dict[str, Any],
    parent_dc_code: str | None,
    self_id: int | None = None,
) -> tuple[list[FieldProblem], Location | None]:
    problems = opening_hours_problems(opening_hours) + timezone_problems(timezone)
    if (latitude is None) != (longitude is None):
        missing = "body.longitude" if longitude is None else "body.latitude"
        problems.append(FieldProblem(missing, "required", "give both latitude and longitude, or neither"))
    parent = None
    if parent_dc_code is not None:
        parent = repo.location_by_code(session, parent_dc_code)
        if parent is None:
            problems.append(FieldProblem("body.parent_dc_code", "unknown_location", f"no location {parent_dc_code!r}"))
        elif parent.type not in DC_TYPES:
            problems.append(FieldProblem("body.parent_dc_code", "not_a_dc", f"{parent_dc_code} is a {parent.type}"))
        elif self_id is not None and parent.id == self_id:
            problems.append(FieldProblem("body.parent_dc_code", "self_parent", "a location cannot supply itself"))
    if type_ == "in_transit" and (latitude is not None):
        problems.append(FieldProblem("body.latitude", "virtual_location", "in_transit locations have no coordinates"))
    return problems, parent


def _location_snapshot(loc: Location) -> dict[str, Any]:
    return {
        c: getattr(loc, c)
        for c in (
            "code",
            "name",
            "name_en",
            "type",
            "region",
            "province",
            "city",
            "address",
            "latitude",
            "longitude",
            "timezone",
            "opening_hours",
            "parent_dc_id",
            "is_active",
        )
    }


def create_location(session: Session, actor: Principal, data: LocationIn) -> LocationOut:
    problems, parent = _location_problems(
        session,
        type_=data.type,
        latitude=data.latitude,
        longitude=data.longitude,
        timezone=data.timezone,
        opening_hours=data.opening_hours,
        parent_dc_code=data.parent_dc_code,
    )
    if repo.location_by_code(session, data.code) is not None:
        problems.append(FieldProblem("body.code", "taken", f"location {data.code!r} exists"))
    _fail(problems, "invalid location")
    loc = Location(
        code=data.code,
        name=data.name,
        name_en=data.name_en,
        type=data.type,
        region=data.region,
        province=data.province,
        city=data.city,
        address=data.address,
        latitude=data.latitude,
        longitude=data.longitude,
        timezone=data.timezone,
        opening_hours=normalise_opening_hours(data.opening_hours),
        parent_dc_id=parent.id if parent else None,
        is_active=data.is_active,
    )
    session.add(loc)
    session.flush()
    record(session, actor, "location.create", "location", loc.code, after=_location_snapshot(loc))
    return _location_out(loc, parent.code if parent else None)


def update_location(session: Session, actor: Principal, code: str, patch: LocationPatch) -> LocationOut:
    loc = _location_or_404(session, actor, code)
    before = _location_snapshot(loc)
    sent = patch.model_fields_set
    lat = patch.latitude if "latitude" in sent else loc.latitude
    lon = patch.longitude if "longitude" in sent else loc.longitude
    type_ = patch.type if patch.type is not None else loc.type
    timezone = patch.timezone if patch.timezone is not None else loc.timezone
    hours = patch.opening_hours if patch.opening_hours is not None else loc.opening_hours
    current_parent = (
        repo.locations_by_ids(session, [loc.parent_dc_id]).get(loc.parent_dc_id) if loc.parent_dc_id else None
    )
    parent_code = (
        patch.parent_dc_code if "parent_dc_code" in sent else (current_parent.code if current_parent else None)
    )
    problems, parent = _location_problems(
        session,
        type_=type_,
        latitude=lat,
        longitude=lon,
        timezone=timezone,
        opening_hours=hours,
        parent_dc_code=parent_code,
        self_id=loc.id,
    )
    if type_ != loc.type and type_ != "store" and loc.type == "store":
        # Users may be scoped to this store; turning it into something else would silently widen
        # or break their scope.
        problems.append(FieldProblem("body.type", "store_type_fixed", "a store stays a store"))
    _fail(problems, "invalid location")
    for name in ("name", "name_en", "region", "province", "city", "address", "is_active"):
        value = getattr(patch, name)
        if value is not None:
            setattr(loc, name, value)
    loc.type = type_
    loc.latitude, loc.longitude = lat, lon
    loc.timezone = timezone
    loc.opening_hours = normalise_opening_hours(hours)
    loc.parent_dc_id = parent.id if parent else None
    session.flush()
    record(session, actor, "location.update", "location", loc.code, before=before, after=_location_snapshot(loc))
    return _location_out(loc, parent.code if parent else None)


def get_location_by_code(session: Session, code: str) -> LocationOut:
    """Unscoped lookup for commands and the system (the CLI's ``users create --store``)."""
    loc = _location_or_404(session, None, code)
    parent = repo.locations_by_ids(session, [loc.parent_dc_id]).get(loc.parent_dc_id) if loc.parent_dc_id else None
    return _location_out(loc, parent.code if parent else None)


def get_location(session: Session, principal: Principal, code: str) -> LocationOut:
    loc = _location_or_404(session, principal, code)
    parent = repo.locations_by_ids(session, [loc.parent_dc_id]).get(loc.parent_dc_id) if loc.parent_dc_id else None
    return _location_out(loc, parent.code if parent else None)


def list_locations(
    session: Session,
    principal: Principal,
    *,
    type: str | None = None,
    city: str | None = None,
    active: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[LocationOut]:
    """Locations the principal may see (a store manager: only their stores), by id."""
    stmt = scope_to_locations(principal, repo.locations_query(type=type, city=city, active=active), Location.id)
    page = paginate(session, stmt, [SortKey(Location.id)], cursor=cursor, limit=limit)
    parents = repo.locations_by_ids(session, [p.parent_dc_id for p in page.items if p.parent_dc_id])
    items = [
        _location_out(loc, parents[loc.parent_dc_id].code if loc.parent_dc_id in parents else None)
        for loc in page.items
    ]
    return Page(items=items, next_cursor=page.next_cursor)


def location_ids_by_codes(session: Session, codes: Sequence[str]) -> dict[str, int]:
    """{code: id} for the codes that exist (the order center's routing, the demo loader)."""
    return {c: loc.id for c, loc in repo.locations_by_codes(session, codes).items()}


# ================================================================ receipts, adjustments, returns


@dataclass(slots=True)
class _Resolved:
    maybe_location: Location | None
    skus: dict[str, SkuRef]

    @property
    def location(self) -> Location:
        assert self.maybe_location is not None, "checked by _fail"
        return self.maybe_location


def _resolve_stock_lines(
    session: Session,
    actor: Principal,
    location_code: str,
    sku_codes: Sequence[str],
    *,
    location_field: str = "body.location_code",
    lines_field: str = "body.lines",
) -> tuple[_Resolved, list[FieldProblem]]:
    problems: list[FieldProblem] = []
    loc = repo.location_by_code(session, location_code)
    if loc is None:
        problems.append(FieldProblem(location_field, "unknown_location", f"no location {location_code!r}"))
    else:
        ensure_location_access(actor, loc.id)  # a write outside the actor's stores: 403
    skus = sku_refs_by_codes(session, sku_codes)
    seen: dict[str, int] = {}
    for i, code in enumerate(sku_codes):
        if code not in skus:
            problems.append(FieldProblem(f"{lines_field}.{i}.sku_code", "unknown_sku", f"no SKU {code!r}"))
        if code in seen:
            problems.append(
                FieldProblem(f"{lines_field}.{i}.sku_code", "duplicate_line", f"{code} is also line {seen[code]}")
            )
        seen.setdefault(code, i)
    return _Resolved(loc, skus), problems


def _lines_serial_problems(resolved: _Resolved, lines: Sequence[StockLineIn]) -> list[FieldProblem]:
    """The serial checks of every line whose SKU is known (unknown ones are already reported)."""
    problems: list[FieldProblem] = []
    for i, ln in enumerate(lines):
        ref = resolved.skus.get(ln.sku_code)
        if ref is not None:
            problems += _serial_problems(ln.serials, ln.quantity, ref.serial_tracked, f"body.lines.{i}", ref.code)
    return problems


def receive_stock(
    session: Session,
    actor: Principal,
    *,
    location_code: str,
    lines: Sequence[StockLineIn],
    reference: str | None = None,
    reason: str = "",
) -> list[MovementOut]:
    """Goods in (from a supplier, a purchase order): ``receipt`` movements, new serials in stock.

    Serial-tracked SKUs must list exactly ``quantity`` serials, none known yet for that SKU.
    """
    resolved, problems = _resolve_stock_lines(session, actor, location_code, [ln.sku_code for ln in lines])
    problems += _lines_serial_problems(resolved, lines)
    _fail(problems, "invalid receipt")
    ensure_location_access(actor, resolved.location.id)
    specs = [
        MovementSpec(
            type="receipt",
            sku=resolved.skus[ln.sku_code],
            location=resolved.location,
            on_hand_delta=ln.quantity,
            reference_type="receipt" if reference else None,
            reference_id=reference,
            reason=reason,
            serials=tuple(ln.serials),
            serial_change=SerialChange((), "in_stock", create=True) if ln.serials else None,
        )
        for ln in lines
    ]
    with _all_or_nothing(session):
        outcome = _apply_movements(session, actor, specs)
        if outcome.bad_serials:
            raise Conflict(
                "serial numbers already known",
                extra={"code": "serial_exists", "serials": [b.as_dict() for b in outcome.bad_serials]},
            )
        outcome.raise_if_short()
    record(
        session,
        actor,
        "stock.receive",
        "location",
        resolved.location.code,
        after={"reference": reference, "reason": reason, "lines": [ln.model_dump() for ln in lines]},
    )
    return _movements_out(session, outcome.movements)


def adjust_stock(
    session: Session,
    actor: Principal,
    *,
    location_code: str,
    lines: Sequence[AdjustmentLineIn],
    reason: str,
    reference: str | None = None,
) -> list[MovementOut]:
    """Corrections with a reason (found, damaged, lost): ``adjustment`` movements.

    A negative delta may not take on hand below what is reserved. Serial-tracked SKUs name the
    units: removed ones (in stock here) become ``scrapped``; added ones are new, or known units
    that were scrapped or returned and are back in stock here.
    """
    resolved, problems = _resolve_stock_lines(session, actor, location_code, [ln.sku_code for ln in lines])
    if not reason.strip():
        problems.append(FieldProblem("body.reason", "required", "say why stock is adjusted"))
    for i, ln in enumerate(lines):
        if ln.delta == 0:
            problems.append(FieldProblem(f"body.lines.{i}.delta", "zero", "a delta of 0 changes nothing"))
        ref = resolved.skus.get(ln.sku_code)
        if ref is not None:
            problems += _serial_problems(ln.serials, abs(ln.delta), ref.serial_tracked, f"body.lines.{i}", ref.code)
    _fail(problems, "invalid adjustment")
    ensure_location_access(actor, resolved.location.id)
    specs = []
    loc = resolved.location
    for ln in lines:
        ref = resolved.skus[ln.sku_code]
        change = None
        if ln.serials and ln.delta < 0:
            change = SerialChange(("in_stock",), "scrapped", from_location_id=loc.id)
        elif ln.serials:
            known = repo.serial_states(session, ref.id, ln.serials)
            change = (
                SerialChange(("scrapped", "returned"), "in_stock", to_location_id=loc.id)
                if known
                else SerialChange((), "in_stock", create=True)
            )
            if known and len(known) != len(ln.serials):
                raise ValidationFailed(
                    "invalid adjustment",
                    errors=[
                        FieldProblem("body.lines.serials", "mixed_serials", "add known and new units in separate lines")
                    ],
                )
        specs.append(
            MovementSpec(
                type="adjustment",
                sku=ref,
                location=loc,
                on_hand_delta=ln.delta,
                reference_type="adjustment" if reference else None,
                reference_id=reference,
                reason=reason,
                serials=tuple(ln.serials),
                serial_change=change,
            )
        )
    with _all_or_nothing(session):
        outcome = _apply_movements(session, actor, specs)
        outcome.raise_if_short()
    record(
        session,
        actor,
        "stock.adjust",
        "location",
        loc.code,
        after={"reason": reason, "reference": reference, "lines": [ln.model_dump() for ln in lines]},
    )
    return _movements_out(session, outcome.movements)


def scrap_stock(
    session: Session, actor: Principal, *, location_code: str, lines: Sequence[StockLineIn], reason: str
) -> list[MovementOut]:
    """Write-offs of damaged or expired units: ``scrap`` movements; serials become ``scrapped``."""
    resolved, problems = _resolve_stock_lines(session, actor, location_code, [ln.sku_code for ln in lines])
    if not reason.strip():
        problems.append(FieldProblem("body.reason", "required", "say why stock is scrapped"))
    problems += _lines_serial_problems(resolved, lines)
    _fail(problems, "invalid scrap")
    ensure_location_access(actor, resolved.location.id)
    specs = [
        MovementSpec(
            type="scrap",
            sku=resolved.skus[ln.sku_code],
            location=resolved.location,
            on_hand_delta=-ln.quantity,
            reason=reason,
            serials=tuple(ln.serials),
            serial_change=SerialChange(("in_stock",), "scrapped", from_location_id=resolved.location.id),
        )
        for ln in lines
    ]
    with _all_or_nothing(session):
        outcome = _apply_movements(session, actor, specs)
        outcome.raise_if_short()
    record(session, actor, "stock.scrap", "location", resolved.location.code, after={"reason": reason})
    return _movements_out(session, outcome.movements)


def return_stock(
    session: Session,
    actor: Principal,
    *,
    location_code: str,
    lines: Sequence[StockLineIn],
    reference: str | None = None,
    reason: str = "",
    restock: bool = True,
) -> list[MovementOut]:
    """Customer returns: ``return`` movements. Restocked units go back on hand (serials: sold →
    in_stock here); units not restocked are recorded with a zero delta (serials → ``returned``)."""
    resolved, problems = _resolve_stock_lines(session, actor, location_code, [ln.sku_code for ln in lines])
    problems += _lines_serial_problems(resolved, lines)
    _fail(problems, "invalid return")
    loc = resolved.location
    ensure_location_access(actor, loc.id)
    specs = [
        MovementSpec(
            type="return",
            sku=resolved.skus[ln.sku_code],
            location=loc,
            on_hand_delta=ln.quantity if restock else 0,
            reference_type="return" if reference else None,
            reference_id=reference,
            reason=reason or ("restocked" if restock else "returned, not restocked"),
            serials=tuple(ln.serials),
            serial_change=SerialChange(
                ("sold",), "in_stock" if restock else "returned", to_location_id=loc.id, set_reservation_id=None
            ),
        )
        for ln in lines
    ]
    with _all_or_nothing(session):
        outcome = _apply_movements(session, actor, specs)
        outcome.raise_if_short()
    record(session, actor, "stock.return", "location", loc.code, after={"reference": reference, "restock": restock})
    return _movements_out(session, outcome.movements)


def set_safety_stock(
    session: Session, actor: Principal, *, location_code: str, sku_code: str, quantity: int
) -> BalanceOut:
    """The minimum a location should hold of a SKU; below it the SKU counts as "low"."""
    problems = []
    if quantity < 0:
        problems.append(FieldProblem("body.quantity", "negative", "must be 0 or more"))
    loc = repo.location_by_code(session, location_code)
    if loc is None:
        raise not_found("location", location_code)
    ensure_location_access(actor, loc.id)
    ref = sku_refs_by_codes(session, [sku_code]).get(sku_code)
    if ref is None:
        problems.append(FieldProblem("body.sku_code", "unknown_sku", f"no SKU {sku_code!r}"))
    _fail(problems)
    assert ref is not None
    ensure_location_access(actor, loc.id)
    before = repo.balances(session, [(ref.id, loc.id)]).get((ref.id, loc.id))
    repo.set_safety_stock(session, ref.id, loc.id, quantity, utcnow())
    record(
        session,
        actor,
        "stock.safety_stock",
        "stock_balance",
        f"{loc.code}/{ref.code}",
        before={"safety_stock": before.safety_stock if before else 0},
        after={"safety_stock": quantity},
    )
    row = repo.balances(session, [(ref.id, loc.id)])[(ref.id, loc.id)]
    return _balance_out(row, ref, loc)


def set_channel_safety_stock(
    session: Session,
    actor: Principal,
    *,
    location_code: str,
    channel_code: str,
    sku_code: str | None,
    quantity: int,
) -> ChannelSafetyOut:
    """Units of a location's stock that one channel may not sell (kept for the others): the
    location × channel default (``sku_code=None``) or a SKU override."""
    problems = []
    loc = repo.location_by_code(session, location_code)
    if loc is None:
        problems.append(FieldProblem("body.location_code", "unknown_location", f"no location {location_code!r}"))
    else:
        ensure_location_access(actor, loc.id)
    if channels_service.unknown_codes(session, [channel_code]):
        problems.append(FieldProblem("body.channel_code", "unknown_channel", f"no channel {channel_code!r}"))
    ref = None
    if sku_code is not None:
        ref = sku_refs_by_codes(session, [sku_code]).get(sku_code)
        if ref is None:
            problems.append(FieldProblem("body.sku_code", "unknown_sku", f"no SKU {sku_code!r}"))
    if quantity < 0:
        problems.append(FieldProblem("body.quantity", "negative", "must be 0 or more"))
    _fail(problems, "invalid channel safety stock")
    assert loc is not None
    ensure_location_access(actor, loc.id)
    row = repo.find_channel_safety(session, loc.id, channel_code, ref.id if ref else None)
    before = row.quantity if row else None
    if row is None:
        row = ChannelSafetyStock(
            location_id=loc.id, channel_code=channel_code, sku_id=ref.id if ref else None, quantity=quantity
        )
        session.add(row)
    else:
        row.quantity = quantity
    session.flush()
    record(
        session,
        actor,
        "stock.channel_safety_stock",
        "channel_safety_stock",
        f"{loc.code}/{channel_code}/{ref.code if ref else '*'}",
        before={"quantity": before},
        after={"quantity": quantity},
    )
    return ChannelSafetyOut(
        id=row.id,
        location_id=loc.id,
        location_code=loc.code,
        channel_code=channel_code,
        sku_id=ref.id if ref else None,
        sku_code=ref.code if ref else None,
        quantity=quantity,
    )


# ================================================================ reservations


@dataclass(frozen=True, slots=True)
class _Want:
    sku: SkuRef
    location: Location
    quantity: int
    serials: tuple[str, ...]

    @property
    def key(self) -> tuple[int, int]:
        return (self.location.id, self.sku.id)


def reserve_line_problems(lines: Sequence[ReserveLine | ConsumeLine], where: str = "body.lines") -> list[FieldProblem]:
    """Checks of reservation (and consume) lines that need no database: who names the SKU and the
    location, quantities, serial counts and duplicates. Every problem, not the first."""
    problems: list[FieldProblem] = []
    seen: dict[tuple[str, str], int] = {}
    serials_seen: dict[tuple[str, str], int] = {}
    for i, ln in enumerate(lines):
        at = f"{where}.{i}"
        if (ln.sku_code is None) == (ln.sku_id is None):
            problems.append(FieldProblem(f"{at}.sku_code", "sku_required", "give exactly one of sku_code, sku_id"))
        if (ln.location_id is None) == (ln.location_code is None):
            problems.append(
                FieldProblem(f"{at}.location_id", "location_required", "give exactly one of location_id, location_code")
            )
        if ln.quantity < 1:
            problems.append(FieldProblem(f"{at}.quantity", "not_positive", "quantity must be at least 1"))
        if ln.serials and len(ln.serials) != ln.quantity:
            problems.append(
                FieldProblem(f"{at}.serials", "serial_count", f"list exactly {ln.quantity} serial(s) or none")
            )
        if len(set(ln.serials)) != len(ln.serials):
            problems.append(FieldProblem(f"{at}.serials", "duplicate_serial", "a serial is listed twice"))
        sku_key = str(ln.sku_code if ln.sku_code is not None else f"#{ln.sku_id}")
        loc_key = str(ln.location_code if ln.location_code is not None else f"#{ln.location_id}")
        if (sku_key, loc_key) in seen:
            problems.append(
                FieldProblem(
                    f"{at}.sku_code",
                    "duplicate_line",
                    f"same SKU and location as line {seen[(sku_key, loc_key)]}: merge them",
                )
            )
        seen.setdefault((sku_key, loc_key), i)
        for s in set(ln.serials):
            if (sku_key, s) in serials_seen and serials_seen[(sku_key, s)] != i:
                problems.append(
                    FieldProblem(
                        f"{at}.serials", "duplicate_serial", f"serial {s} is also in line {serials_seen[(sku_key, s)]}"
                    )
                )
            serials_seen.setdefault((sku_key, s), i)
    return problems


def _resolve_reserve_lines(
    session: Session, lines: Sequence[ReserveLine | ConsumeLine], where: str = "body.lines"
) -> tuple[list[_Want], list[FieldProblem]]:
    problems = reserve_line_problems(lines, where)
    by_code = sku_refs_by_codes(session, [ln.sku_code for ln in lines if ln.sku_code is not None])
    by_id = sku_refs_by_ids(session, [ln.sku_id for ln in lines if ln.sku_id is not None])
    locs_by_id = repo.locations_by_ids(session, [ln.location_id for ln in lines if ln.location_id is not None])
    locs_by_code = repo.locations_by_codes(session, [ln.location_code for ln in lines if ln.location_code is not None])
    wants: list[_Want] = []
    for i, ln in enumerate(lines):
        at = f"{where}.{i}"
        sku = by_code.get(ln.sku_code) if ln.sku_code is not None else by_id.get(ln.sku_id or -1)
        if sku is None and (ln.sku_code is not None or ln.sku_id is not None):
            f, v = ("sku_code", ln.sku_code) if ln.sku_code is not None else ("sku_id", ln.sku_id)
            problems.append(FieldProblem(f"{at}.{f}", "unknown_sku", f"no SKU {v!r}"))
        loc = (
            locs_by_code.get(ln.location_code) if ln.location_code is not None else locs_by_id.get(ln.location_id or -1)
        )
        if loc is None and (ln.location_code is not None or ln.location_id is not None):
            f, v = (
                ("location_code", ln.location_code) if ln.location_code is not None else ("location_id", ln.location_id)
            )
            problems.append(FieldProblem(f"{at}.{f}", "unknown_location", f"no location {v!r}"))
        elif loc is not None and not loc.is_active:
            problems.append(FieldProblem(f"{at}.location_id", "inactive_location", f"{loc.code} is not active"))
        if sku is not None and ln.serials and not sku.serial_tracked:
            problems.append(FieldProblem(f"{at}.serials", "not_serial_tracked", f"{sku.code} has no serial numbers"))
        if sku is not None and loc is not None:
            wants.append(_Want(sku, loc, ln.quantity, tuple(sorted(ln.serials))))
    return wants, problems


def _check_channel_actor(actor: Principal, channel_code: str | None) -> None:
    if actor.kind == "api_key" and actor.channel_code is not None and channel_code != actor.channel_code:
        raise PermissionDenied(
            f"this API key reserves for channel {actor.channel_code} only",
            extra={"reason": "wrong_channel", "channel_code": actor.channel_code},
        )


def _same_lines(existing: list[ReservationLine], wants: list[_Want]) -> bool:
    have = sorted((ln.location_id, ln.sku_id, ln.quantity, tuple(sorted(ln.serials or []))) for ln in existing)
    want = sorted((w.location.id, w.sku.id, w.quantity, w.serials) for w in wants)
    return have == want


def _existing_reservation(session: Session, found: Reservation, wants: list[_Want]) -> ReservationOut:
    lines = repo.reservation_lines(session, [found.id])[found.id]
    if found.status == "active" and _same_lines(lines, wants):
        return _reservation_out(session, found, lines)
    raise ReservationMismatch(
        f"reference {found.reference} already has a {found.status} reservation"
        + ("" if found.status != "active" else " with other lines"),
        extra={"reservation_id": found.id, "status": found.status},
    )


def reserve_stock(
    session: Session,
    actor: Principal,
    *,
    reference: str,
    channel_code: str | None,
    lines: Sequence[ReserveLine],
    ttl_s: int | None,
) -> ReservationOut:
    """Holds stock for an order: see the module docstring for the full contract."""
    _check_channel_actor(actor, channel_code)
    wants, problems = _resolve_reserve_lines(session, lines)
    if not reference.strip() or len(reference) > 64:
        problems.append(FieldProblem("body.reference", "invalid", "1 to 64 characters"))
    if ttl_s is not None and ttl_s < 1:
        problems.append(FieldProblem("body.ttl_s", "not_positive", "seconds, at least 1 (or null: no expiry)"))
    if not lines:
        problems.append(FieldProblem("body.lines", "required", "at least one line"))
    if channel_code is not None and channels_service.unknown_codes(session, [channel_code]):
        problems.append(FieldProblem("body.channel_code", "unknown_channel", f"no channel {channel_code!r}"))
    _fail(problems, "invalid reservation")
    ensure_location_access(actor, [w.location.id for w in wants])

    found = repo.reservation_by_reference(session, channel_code, reference)
    if found is not None:
        return _existing_reservation(session, found, wants)

    wants.sort(key=lambda w: w.key)
    pairs = [(w.sku.id, w.location.id) for w in wants]
    safety = repo.channel_safety(session, channel_code, pairs) if channel_code else {}
    _precheck(session, wants, safety)
    now = utcnow()
    for _attempt in range(3):
        savepoint = session.begin_nested()
        try:
            res = Reservation(
                reference=reference,
                channel_code=channel_code,
                status="active",
                expires_at=now + timedelta(seconds=ttl_s) if ttl_s is not None else None,
                created_at=now,
                created_by=actor.name[:128],
            )
            session.add(res)
            session.flush()
        except IntegrityError:
            # A concurrent call with the same reference got there first (on PostgreSQL this
            # insert waited for it to commit or roll back).
            savepoint.rollback()
            found = repo.reservation_by_reference(session, channel_code, reference)
            if found is not None:
                return _existing_reservation(session, found, wants)
            continue
        try:
            shortages, bad_serials = _hold(session, res, wants, safety, now)
            if shortages or bad_serials:
                raise InsufficientStock.of(shortages, bad_serials)
            line_rows = [
                ReservationLine(
                    reservation_id=res.id,
                    sku_id=w.sku.id,
                    location_id=w.location.id,
                    quantity=w.quantity,
                    consumed=0,
                    serials=list(w.serials),
                )
                for w in wants
            ]
            session.add_all(line_rows)
            session.flush()
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()
        _record_created(session, actor, res, [(w.sku.code, w.location.code, w.quantity, w.serials) for w in wants])
        return _reservation_out(
            session,
            res,
            line_rows,
            skus={w.sku.id: w.sku for w in wants},
            locs={w.location.id: w.location for w in wants},
        )
    raise Conflict("the reservation could not be taken; retry", extra={"reference": reference})


def _record_created(
    session: Session, actor: Principal, res: Reservation, lines: Sequence[tuple[str, str, int, Sequence[str]]]
) -> None:
    """The audit row of a new reservation (``reserve_stock`` and ``hold_stock`` alike)."""
    record(
        session,
        actor,
        "reservation.create",
        "reservation",
        res.id,
        after={
            "reference": res.reference,
            "channel_code": res.channel_code,
            "expires_at": res.expires_at,
            "lines": [[sku, loc, qty, list(serials)] for sku, loc, qty, serials in lines],
        },
    )


def _precheck(session: Session, wants: list[_Want], safety: dict[tuple[int, int], int]) -> None:
    """A read before any write: most refused reservations (a sold-out SKU under load) are refused
    here without inserting and rolling back anything. It only ever refuses early; what is granted
    is decided by the conditional UPDATEs in ``_hold``."""
    shortages = [sh for sh in _shortages(session, wants, safety) if sh.available < sh.requested]
    bad_serials = []
    for w in wants:
        if w.serials:
            states = repo.serial_states(session, w.sku.id, w.serials)
            for s in w.serials:
                st = states.get(s)
                if st is None or st[0] != "in_stock" or st[1] != w.location.id:
                    bad_serials.append(_unavailable_serial(w, s, st))
    if shortages or bad_serials:
        raise InsufficientStock.of(shortages, bad_serials)


def _hold(
    session: Session, res: Reservation, wants: list[_Want], safety: dict[tuple[int, int], int], now: datetime
) -> tuple[list[Shortage], list[UnavailableSerial]]:
    """The conditional UPDATEs, in (location_id, sku_id) order. Rolled back by the caller on any
    shortage; the report then shows what the channel may sell now."""
    short: list[_Want] = []
    bad_serials: list[UnavailableSerial] = []
    for w in wants:
        if not repo.reserve_units(
            session, w.sku.id, w.location.id, w.quantity, safety.get((w.sku.id, w.location.id), 0), now
        ):
            short.append(w)
            continue
        if w.serials:
            changed = repo.move_serials(
                session,
                w.sku.id,
                w.serials,
                from_states=("in_stock",),
                from_location_id=w.location.id,
                to_state="reserved",
                set_reservation_id=res.id,
                now=now,
            )
            if changed != len(w.serials):
                states = repo.serial_states(session, w.sku.id, w.serials)
                for s in w.serials:
                    st = states.get(s)
                    if st is None or st[2] != res.id:
                        bad_serials.append(_unavailable_serial(w, s, st))
    return (_shortages(session, short, safety) if short else []), bad_serials


def _shortages(session: Session, wants: Sequence[_Want], safety: dict[tuple[int, int], int]) -> list[Shortage]:
    """What each line asks for against what the channel may sell there now (available less its
    safety stock, never below 0)."""
    current = repo.balances(session, [(w.sku.id, w.location.id) for w in wants])
    out = []
    for w in wants:
        row = current.get((w.sku.id, w.location.id))
        sellable = max(0, row.available - safety.get((w.sku.id, w.location.id), 0)) if row else 0
        out.append(Shortage(w.sku.code, w.location.code, w.quantity, sellable, w.sku.id, w.location.id))
    return out


def _unavailable_serial(w: _Want, serial: str, st: tuple[str, int | None, int | None] | None) -> UnavailableSerial:
    """A serial a line cannot hold, with its state (``…@elsewhere`` when at another location)."""
    state = None if st is None else (st[0] if st[1] == w.location.id else f"{st[0]}@elsewhere")
    return UnavailableSerial(w.sku.code, w.location.code, serial, state)


def _reservation_out(
    session: Session,
    res: Reservation,
    lines: list[ReservationLine],
    *,
    skus: dict[int, SkuRef] | None = None,
    locs: dict[int, Location] | None = None,
) -> ReservationOut:
    skus = skus if skus is not None else sku_refs_by_ids(session, [ln.sku_id for ln in lines])
    locs = locs if locs is not None else repo.locations_by_ids(session, [ln.location_id for ln in lines])
    return ReservationOut(
        id=res.id,
        reference=res.reference,
        channel_code=res.channel_code,
        status=res.status,
        expires_at=res.expires_at,
        created_at=res.created_at,
        closed_at=res.closed_at,
        close_reason=res.close_reason,
        created_by=res.created_by,
        lines=[
            ReservationLineOut(
                id=ln.id,
                sku_id=ln.sku_id,
                sku_code=skus[ln.sku_id].code if ln.sku_id in skus else str(ln.sku_id),
                location_id=ln.location_id,
                location_code=locs[ln.location_id].code if ln.location_id in locs else str(ln.location_id),
                quantity=ln.quantity,
                consumed=ln.consumed,
                open=ln.quantity - ln.consumed if res.status == "active" else 0,
                serials=[str(s) for s in ln.serials or []],
            )
            for ln in sorted(lines, key=lambda x: (x.location_id, x.sku_id))
        ],
    )


def _visible_reservation(
    session: Session, principal: Principal, reservation_id: int, *, for_update: bool = False
) -> tuple[Reservation, list[ReservationLine]]:
    res = repo.reservation(session, reservation_id, for_update=for_update)
    if res is None:
        raise not_found("reservation", reservation_id)
    lines = repo.reservation_lines(session, [res.id])[res.id]
    if (
        principal.kind == "api_key"
        and principal.channel_code is not None
        and res.channel_code != principal.channel_code
    ):
        raise not_found("reservation", reservation_id)
    if not all(can_access_location(principal, ln.location_id) for ln in lines):
        raise not_found("reservation", reservation_id)
    return res, lines


def get_reservation(session: Session, principal: Principal, reservation_id: int) -> ReservationOut:
    res, lines = _visible_reservation(session, principal, reservation_id)
    return _reservation_out(session, res, lines)


def _close(
    session: Session, actor: Principal, res: Reservation, lines: list[ReservationLine], status: str, reason: str
) -> None:
    """Gives back every unit still held (in the fixed order) and closes the reservation."""
    _close_many(session, actor, [(res, lines)], status, reason)


def _close_many(
    session: Session,
    actor: Principal,
    items: Sequence[tuple[Reservation, list[ReservationLine]]],
    status: str,
    reason: str,
) -> None:
    """Closes several reservations at once. The units are given back per SKU × location in the
    one global (location, SKU) order, so a batch (the expiry schedule) takes balance locks in the
    same order as every other verb and cannot deadlock with them."""
    now = utcnow()
    held: dict[tuple[int, int], int] = {}
    for _res, lines in items:
        for ln in lines:
            left = ln.quantity - ln.consumed
            if left > 0:
                held[(ln.location_id, ln.sku_id)] = held.get((ln.location_id, ln.sku_id), 0) + left
    for (location_id, sku_id), quantity in sorted(held.items()):
        if not repo.unreserve_units(session, sku_id, location_id, quantity, now):
            # Cannot happen while the invariant holds; refuse rather than corrupt the balance.
            raise Conflict(
                "reserved stock is lower than the reservations hold",
                extra={"reservation_ids": [res.id for res, _ in items]},
            )
    for res, lines in items:
        for ln in lines:
            if ln.serials:
                repo.move_serials(
                    session,
                    ln.sku_id,
                    [str(s) for s in ln.serials],
                    from_states=("reserved",),
                    reservation_id=res.id,
                    to_state="in_stock",
                    set_reservation_id=None,
                    now=now,
                )
        res.status = status
        res.closed_at = now
        res.close_reason = reason[:255]
    session.flush()
    for res, _lines in items:
        record(
            session,
            actor,
            f"reservation.{'release' if status == 'released' else status}",
            "reservation",
            res.id,
            before={"status": "active"},
            after={"status": status, "reason": reason},
        )


def release_reservation(session: Session, actor: Principal, reservation_id: int, reason: str = "") -> ReservationOut:
    """Gives the held units back (order cancelled, cart abandoned). 409 unless active."""
    res, lines = _visible_reservation(session, actor, reservation_id, for_update=True)
    ensure_location_access(actor, [ln.location_id for ln in lines])
    if res.status != "active":
        raise InvalidTransition(f"reservation {res.id} is {res.status}", extra={"status": res.status})
    _close(session, actor, res, lines, "released", reason or "released")
    return _reservation_out(session, res, lines)


def consume_reservation(
    session: Session,
    actor: Principal,
    reservation_id: int,
    lines: Sequence[ConsumeLine] | None = None,
    reference: str | None = None,
) -> ReservationOut:
    """Turns held units into ``sale`` movements (on hand and reserved both go down).

    ``lines=None`` consumes everything still held; otherwise the listed quantities (a partial
    shipment), each at most what its line still holds. Serial-tracked units are named: reserved
    serials default to the held ones; units held without serials must be named here (they must be
    in stock at that location). The reservation is ``consumed`` once nothing is left.
    """
    res, res_lines = _visible_reservation(session, actor, reservation_id, for_update=True)
    ensure_location_access(actor, [ln.location_id for ln in res_lines])
    if res.status != "active":
        raise InvalidTransition(f"reservation {res.id} is {res.status}", extra={"status": res.status})
    if res.expires_at is not None and res.expires_at <= utcnow():
        raise InvalidTransition(f"reservation {res.id} has expired", extra={"status": "expired"})
    skus = sku_refs_by_ids(session, [ln.sku_id for ln in res_lines])
    locs = repo.locations_by_ids(session, [ln.location_id for ln in res_lines])
    held_serials = repo.reserved_serials_of(session, res.id)
    by_key = {(ln.location_id, ln.sku_id): ln for ln in res_lines}
    plan: list[tuple[ReservationLine, int, tuple[str, ...], bool]] = []  # line, qty, serials, held-by-serial
    problems: list[FieldProblem] = []
    if lines is None:
        for i, ln in enumerate(res_lines):
            left = ln.quantity - ln.consumed
            if left <= 0:
                continue
            held = held_serials.get((ln.sku_id, ln.location_id), [])
            if skus[ln.sku_id].serial_tracked and len(held) < left:
                problems.append(
                    FieldProblem(
                        f"body.lines.{i}",
                        "serials_required",
                        f"{skus[ln.sku_id].code} is serial-tracked and held without serials: name the units shipped",
                    )
                )
            plan.append((ln, left, tuple(held[:left]), bool(held)))
    else:
        wants, problems = _resolve_reserve_lines(session, lines)
        for i, w in enumerate(wants):
            line = by_key.get(w.key)
            at = f"body.lines.{i}"
            if line is None:
                problems.append(
                    FieldProblem(
                        f"{at}.sku_code", "not_reserved", f"{w.sku.code}@{w.location.code} is not in this reservation"
                    )
                )
                continue
            left = line.quantity - line.consumed
            if w.quantity > left:
                problems.append(FieldProblem(f"{at}.quantity", "over_consume", f"{left} left to consume on this line"))
            held = held_serials.get((line.sku_id, line.location_id), [])
            serials = w.serials
            if held:
                if not serials and w.quantity == len(held):
                    serials = tuple(held)
                elif not serials:
                    problems.append(FieldProblem(f"{at}.serials", "serials_required", "name which reserved units ship"))
                elif set(serials) - set(held):
                    problems.append(
                        FieldProblem(
                            f"{at}.serials",
                            "not_held",
                            f"not held by this reservation: {sorted(set(serials) - set(held))}",
                        )
                    )
            elif w.sku.serial_tracked and len(serials) != w.quantity:
                problems.append(
                    FieldProblem(f"{at}.serials", "serials_required", f"name the {w.quantity} unit(s) shipped")
                )
            plan.append((line, w.quantity, serials, bool(held)))
    _fail(problems, "invalid consumption")
    ref = reference or res.reference
    specs = []
    for ln, qty, serials, by_serial in plan:
        change = (
            SerialChange(("reserved",), "sold", reservation_id=res.id, sold=True)
            if by_serial
            else SerialChange(
                ("in_stock",), "sold", from_location_id=ln.location_id, set_reservation_id=res.id, sold=True
            )
        )
        specs.append(
            MovementSpec(
                type="sale",
                sku=skus[ln.sku_id],
                location=locs[ln.location_id],
                on_hand_delta=-qty,
                reserved_delta=-qty,
                reference_type="reservation",
                reference_id=ref,
                reason=f"reservation {res.id}",
                serials=serials,
                serial_change=change if serials else None,
            )
        )
    with _all_or_nothing(session):
        outcome = _apply_movements(session, actor, specs)
        outcome.raise_if_short()
        for ln, qty, _serials, _by in plan:
            ln.consumed += qty
        if all(ln.consumed >= ln.quantity for ln in res_lines):
            res.status = "consumed"
            res.closed_at = utcnow()
            res.close_reason = f"consumed: {ref}"[:255]
        session.flush()
    record(
        session,
        actor,
        "reservation.consume",
        "reservation",
        res.id,
        after={
            "reference": ref,
            "status": res.status,
            "lines": [[skus[ln.sku_id].code, locs[ln.location_id].code, qty, list(s)] for ln, qty, s, _ in plan],
        },
    )
    return _reservation_out(session, res, res_lines, skus=skus, locs=locs)


def expire_reservations(target: Database | Session, now: datetime | None = None, *, batch: int = 200) -> int:
    """Releases every active reservation whose ``expires_at`` has passed; returns how many.

    Given a ``Database`` (the ``inventory.reservation-expiry`` schedule) it works in batches, one
    transaction each; given a ``Session`` it works inside the caller's transaction. Rows another
    transaction holds (a consume in flight) are skipped and picked up by the next run.
    """
    now = now or utcnow()
    if isinstance(target, Session):
        return _expire_batch(target, now, limit=None)
    total = 0
    while True:
        with target.transaction() as session:
            done, seen = _expire_batch_counted(session, now, batch)
        total += done
        if seen < batch or done == 0:
            return total


def _expire_batch(session: Session, now: datetime, limit: int | None) -> int:
    return _expire_batch_counted(session, now, limit or 1_000_000)[0]


def _expire_batch_counted(session: Session, now: datetime, limit: int) -> tuple[int, int]:
    ids = repo.due_reservation_ids(session, now, limit)
    due = []
    for rid in ids:
        res = repo.reservation(session, rid, for_update=True, skip_locked=True)
        if res is None or res.status != "active" or res.expires_at is None or res.expires_at > now:
            continue
        due.append(res)
    lines = repo.reservation_lines(session, [res.id for res in due])
    if due:
        _close_many(session, EXPIRY_ACTOR, [(res, lines[res.id]) for res in due], "expired", "expired")
    return len(due), len(ids)


# ================================================================ transfers


def _transfer_out(session: Session, t: Transfer, lines: list[TransferLine]) -> TransferOut:
    skus = sku_refs_by_ids(session, [ln.sku_id for ln in lines])
    locs = repo.locations_by_ids(session, [t.source_location_id, t.dest_location_id])
    return _build_transfer_out(t, lines, skus, locs)


def _build_transfer_out(
    t: Transfer, lines: Sequence[TransferLine], skus: Mapping[int, SkuRef], locs: Mapping[int, Location]
) -> TransferOut:
    """The response for one transfer from its lines and SKUs/locations already fetched (a page
    of transfers fetches them once for all)."""
    return TransferOut(
        id=t.id,
        code=t.code,
        source_location_id=t.source_location_id,
        source_location_code=locs[t.source_location_id].code,
        dest_location_id=t.dest_location_id,
        dest_location_code=locs[t.dest_location_id].code,
        status=t.status,
        note=t.note,
        created_at=t.created_at,
        shipped_at=t.shipped_at,
        received_at=t.received_at,
        created_by=t.created_by,
        lines=[
            TransferLineOut(
                id=ln.id,
                sku_id=ln.sku_id,
                sku_code=skus[ln.sku_id].code if ln.sku_id in skus else str(ln.sku_id),
                quantity=ln.quantity,
                received_quantity=ln.received_quantity,
                serials=[str(s) for s in ln.serials or []],
            )
            for ln in lines
        ],
    )


def _visible_transfer(session: Session, principal: Principal, code: str, *, for_update: bool = False) -> Transfer:
    t = repo.transfer_by_code(session, code, for_update=for_update)
    if t is None or not (
        can_access_location(principal, t.source_location_id) or can_access_location(principal, t.dest_location_id)
    ):
        raise not_found("transfer", code)
    return t


def _transfer_for_step(
    session: Session, actor: Principal, code: str, *, status: str, at_dest: bool = False
) -> Transfer:
    """The transfer, locked, for a step the actor takes at its source (or destination); 409 unless
    it is in ``status``."""
    t = _visible_transfer(session, actor, code, for_update=True)
    ensure_location_access(actor, t.dest_location_id if at_dest else t.source_location_id)
    if t.status != status:
        raise InvalidTransition(f"transfer {code} is {t.status}", extra={"status": t.status})
    return t


def create_transfer(
    session: Session,
    actor: Principal,
    *,
    source_location_code: str,
    dest_location_code: str,
    lines: Sequence[StockLineIn],
    note: str = "",
) -> TransferOut:
    """A draft move of stock between two locations. The actor needs the source in scope."""
    resolved, problems = _resolve_stock_lines(
        session, actor, source_location_code, [ln.sku_code for ln in lines], location_field="body.source_location_code"
    )
    dest = repo.location_by_code(session, dest_location_code)
    if dest is None:
        problems.append(
            FieldProblem("body.dest_location_code", "unknown_location", f"no location {dest_location_code!r}")
        )
    elif resolved.maybe_location is not None and dest.id == resolved.maybe_location.id:
        problems.append(FieldProblem("body.dest_location_code", "same_location", "source and destination are the same"))
    problems += _lines_serial_problems(resolved, lines)
    _fail(problems, "invalid transfer")
    assert dest is not None
    ensure_location_access(actor, resolved.location.id)
    t = Transfer(
        code=f"tmp-{secrets.token_hex(12)}",
        source_location_id=resolved.location.id,
        dest_location_id=dest.id,
        status="draft",
        note=note,
        created_by=actor.name[:128],
    )
    session.add(t)
    session.flush()
    t.code = f"TR{t.id:06d}"
    rows = [
        TransferLine(
            transfer_id=t.id, sku_id=resolved.skus[ln.sku_code].id, quantity=ln.quantity, serials=list(ln.serials)
        )
        for ln in lines
    ]
    session.add_all(rows)
    session.flush()
    record(
        session,
        actor,
        "transfer.create",
        "transfer",
        t.code,
        after={"source": resolved.location.code, "dest": dest.code, "lines": [ln.model_dump() for ln in lines]},
    )
    return _transfer_out(session, t, sorted(rows, key=lambda r: (r.sku_id, r.id)))


def ship_transfer(session: Session, actor: Principal, code: str) -> TransferOut:
    """draft → shipped: source on hand goes down (``transfer_out``), destination in transit goes
    up (``transfer_in`` with an in-transit delta), serials become ``in_transit`` towards the
    destination. Short stock at the source fails the whole shipment with every short line."""
    t = _transfer_for_step(session, actor, code, status="draft")
    lines = repo.transfer_lines(session, [t.id])[t.id]
    skus = sku_refs_by_ids(session, [ln.sku_id for ln in lines])
    locs = repo.locations_by_ids(session, [t.source_location_id, t.dest_location_id])
    src, dst = locs[t.source_location_id], locs[t.dest_location_id]
    specs = []
    for ln in lines:
        serials = tuple(str(s) for s in ln.serials or [])
        specs.append(
            MovementSpec(
                type="transfer_out",
                sku=skus[ln.sku_id],
                location=src,
                on_hand_delta=-ln.quantity,
                reference_type="transfer",
                reference_id=t.code,
                reason=f"shipped to {dst.code}",
                serials=serials,
                serial_change=SerialChange(("in_stock",), "in_transit", from_location_id=src.id, to_location_id=dst.id),
            )
        )
        specs.append(
            MovementSpec(
                type="transfer_in",
                sku=skus[ln.sku_id],
                location=dst,
                in_transit_delta=ln.quantity,
                reference_type="transfer",
                reference_id=t.code,
                reason=f"in transit from {src.code}",
                serials=serials,
            )
        )
    with _all_or_nothing(session):
        outcome = _apply_movements(session, actor, specs)
        outcome.raise_if_short()
        t.status = "shipped"
        t.shipped_at = utcnow()
        session.flush()
    record(session, actor, "transfer.ship", "transfer", t.code, before={"status": "draft"}, after={"status": "shipped"})
    return _build_transfer_out(t, lines, skus, locs)


def receive_transfer(
    session: Session,
    actor: Principal,
    code: str,
    lines: Sequence[ReceiveLineIn] | None = None,
    note: str = "",
) -> TransferOut:
    """shipped → received at the destination.

    Received units leave in transit and go on hand (``transfer_in``). A short receipt writes the
    missing units off the destination's in transit as an ``adjustment`` whose reason names the
    transfer and the shortfall; missing serials become ``scrapped``. Receiving more than was
    shipped is refused: book the surplus as a receipt.
    """
    t = _transfer_for_step(session, actor, code, status="shipped", at_dest=True)
    tlines = repo.transfer_lines(session, [t.id])[t.id]
    skus = sku_refs_by_ids(session, [ln.sku_id for ln in tlines])
    locs = repo.locations_by_ids(session, [t.source_location_id, t.dest_location_id])
    src, dst = locs[t.source_location_id], locs[t.dest_location_id]
    by_code = {skus[ln.sku_id].code: ln for ln in tlines}
    received: dict[int, tuple[int, tuple[str, ...]]] = {
        ln.id: (ln.quantity, tuple(str(s) for s in ln.serials or [])) for ln in tlines
    }
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for i, rl in enumerate(lines or []):
        at = f"body.lines.{i}"
        tl = by_code.get(rl.sku_code)
        if tl is None:
            problems.append(FieldProblem(f"{at}.sku_code", "not_in_transfer", f"{rl.sku_code} was not shipped"))
            continue
        if rl.sku_code in seen:
            problems.append(FieldProblem(f"{at}.sku_code", "duplicate_line", f"{rl.sku_code} is listed twice"))
        seen.add(rl.sku_code)
        if rl.received_quantity > tl.quantity:
            problems.append(
                FieldProblem(
                    f"{at}.received_quantity", "over_receipt", f"{tl.quantity} shipped; book a surplus as a receipt"
                )
            )
        shipped_serials = [str(s) for s in tl.serials or []]
        serials = tuple(rl.serials)
        if shipped_serials:
            if not serials and rl.received_quantity == tl.quantity:
                serials = tuple(shipped_serials)
            elif len(serials) != rl.received_quantity:
                problems.append(
                    FieldProblem(f"{at}.serials", "serial_count", f"name the {rl.received_quantity} unit(s) received")
                )
            elif set(serials) - set(shipped_serials):
                problems.append(
                    FieldProblem(
                        f"{at}.serials",
                        "not_shipped",
                        f"not in this transfer: {sorted(set(serials) - set(shipped_serials))}",
                    )
                )
        elif serials:
            problems.append(
                FieldProblem(f"{at}.serials", "not_serial_tracked", f"{rl.sku_code} was shipped without serials")
            )
        received[tl.id] = (rl.received_quantity, serials)
    _fail(problems, "invalid receipt of transfer")
    specs = []
    for ln in tlines:
        got, got_serials = received[ln.id]
        sent_serials = tuple(str(s) for s in ln.serials or [])
        missing_serials = tuple(s for s in sent_serials if s not in set(got_serials))
        sku = skus[ln.sku_id]
        if got:
            specs.append(
                MovementSpec(
                    type="transfer_in",
                    sku=sku,
                    location=dst,
                    on_hand_delta=got,
                    in_transit_delta=-got,
                    reference_type="transfer",
                    reference_id=t.code,
                    reason=f"received from {src.code}" + (f"; {note}" if note else ""),
                    serials=got_serials,
                    serial_change=SerialChange(("in_transit",), "in_stock", from_location_id=dst.id),
                )
            )
        if got < ln.quantity:
            specs.append(
                MovementSpec(
                    type="adjustment",
                    sku=sku,
                    location=dst,
                    in_transit_delta=-(ln.quantity - got),
                    reference_type="transfer",
                    reference_id=t.code,
                    reason=f"transfer {t.code} short receipt: {ln.quantity - got} of {ln.quantity} missing"
                    + (f"; {note}" if note else ""),
                    serials=missing_serials,
                    serial_change=SerialChange(("in_transit",), "scrapped", from_location_id=dst.id),
                )
            )
    with _all_or_nothing(session):
        outcome = _apply_movements(session, actor, specs)
        outcome.raise_if_short()
        for ln in tlines:
            ln.received_quantity = received[ln.id][0]
        t.status = "received"
        t.received_at = utcnow()
        session.flush()
    short = {
        skus[ln.sku_id].code: ln.quantity - received[ln.id][0] for ln in tlines if received[ln.id][0] < ln.quantity
    }
    record(
        session,
        actor,
        "transfer.receive",
        "transfer",
        t.code,
        before={"status": "shipped"},
        after={"status": "received", "short": short, "note": note},
    )
    return _build_transfer_out(t, tlines, skus, locs)


def cancel_transfer(session: Session, actor: Principal, code: str, reason: str = "") -> TransferOut:
    """Only a draft can be cancelled (nothing has moved yet)."""
    t = _transfer_for_step(session, actor, code, status="draft")
    t.status = "cancelled"
    if reason:
        t.note = (t.note + f" | cancelled: {reason}" if t.note else f"cancelled: {reason}")[:255]
    session.flush()
    record(
        session,
        actor,
        "transfer.cancel",
        "transfer",
        t.code,
        before={"status": "draft"},
        after={"status": "cancelled", "reason": reason},
    )
    return _transfer_out(session, t, repo.transfer_lines(session, [t.id])[t.id])


def get_transfer(session: Session, principal: Principal, code: str) -> TransferOut:
    t = _visible_transfer(session, principal, code)
    return _transfer_out(session, t, repo.transfer_lines(session, [t.id])[t.id])


def list_transfers(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    location_code: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[TransferOut]:
    """Transfers from or to a location the principal may see, newest first."""
    visible = union(
        scope_to_locations(principal, select(Transfer.id), Transfer.source_location_id),
        scope_to_locations(principal, select(Transfer.id), Transfer.dest_location_id),
    ).subquery()
    stmt = select(Transfer).where(Transfer.id.in_(select(visible.c.id)))
    if status:
        stmt = stmt.where(Transfer.status == status)
    if location_code:
        loc = repo.location_by_code(session, location_code)
        loc_id = loc.id if loc else -1
        stmt = stmt.where((Transfer.source_location_id == loc_id) | (Transfer.dest_location_id == loc_id))
    page = paginate(session, stmt, [SortKey(Transfer.id, descending=True)], cursor=cursor, limit=limit)
    all_lines = repo.transfer_lines(session, [t.id for t in page.items])
    skus = sku_refs_by_ids(session, [ln.sku_id for ls in all_lines.values() for ln in ls])
    locs = repo.locations_by_ids(
        session, [t.source_location_id for t in page.items] + [t.dest_location_id for t in page.items]
    )
    items = [_build_transfer_out(t, all_lines[t.id], skus, locs) for t in page.items]
    return Page(items=items, next_cursor=page.next_cursor)


# ================================================================ counts


@dataclass(frozen=True, slots=True)
class CountRow:
    """One counted line: ``row`` is what error reports point at (file row or list index)."""

    row: int
    sku_code: str
    counted: int


def apply_count_rows(
    session: Session,
    actor: Principal,
    *,
    location: LocationOut,
    rows: Sequence[CountRow],
    reason: str = "",
    job_id: int | None = None,
    field_of: str = "row",
) -> tuple[StockCountOut, list[CountRowError]]:
    """Applies the rows that are valid, reports the others. For each SKU: lock its balance, write a
    ``count`` movement of (counted − on hand) when they differ. A count below what is reserved is
    a row error (those units are promised); so is a difference on a serial-tracked SKU (count
    those by serial with adjustments). Rows are applied in SKU order (the fixed lock order)."""
    ensure_location_access(actor, location.id)
    loc = repo.locations_by_ids(session, [location.id])[location.id]
    skus = sku_refs_by_codes(session, [r.sku_code for r in rows])
    errors: list[CountRowError] = []
    seen: set[str] = set()
    valid: list[tuple[CountRow, SkuRef]] = []
    for r in rows:
        ref = skus.get(r.sku_code)
        if ref is None:
            errors.append(
                CountRowError(row=r.row, field="sku_code", code="unknown_sku", message=f"no SKU {r.sku_code!r}")
            )
        elif r.sku_code in seen:
            errors.append(
                CountRowError(
                    row=r.row, field="sku_code", code="duplicate_row", message=f"{r.sku_code} is counted twice"
                )
            )
        elif r.counted < 0:
            errors.append(CountRowError(row=r.row, field="counted", code="negative", message="a count is 0 or more"))
        else:
            valid.append((r, ref))
        seen.add(r.sku_code)
    count = StockCount(
        location_id=loc.id, status="applied", created_by=actor.name[:128], reason=reason[:255], job_id=job_id
    )
    session.add(count)
    session.flush()
    now = utcnow()
    applied = differences = value = 0
    outcome = _Outcome()
    for r, ref in sorted(valid, key=lambda x: x[1].id):
        bal = repo.lock_balance(session, ref.id, loc.id)
        on_hand = bal.on_hand if bal else 0
        reserved = bal.reserved if bal else 0
        if r.counted < reserved:
            errors.append(
                CountRowError(
                    row=r.row,
                    field="counted",
                    code="below_reserved",
                    message=f"{r.counted} counted but {reserved} reserved for orders; settle those first",
                )
            )
            continue
        delta = r.counted - on_hand
        if delta and ref.serial_tracked:
            errors.append(
                CountRowError(
                    row=r.row,
                    field="counted",
                    code="serial_tracked",
                    message=f"{ref.code} is serial-tracked: book the {delta:+d} difference as an adjustment",
                )
            )
            continue
        applied += 1
        if delta:
            spec = MovementSpec(
                type="count",
                sku=ref,
                location=loc,
                on_hand_delta=delta,
                reference_type="stock_count",
                reference_id=str(count.id),
                reason=reason or f"count: {on_hand} → {r.counted}",
            )
            _apply_one(session, actor, spec, now, outcome)
            differences += 1
            value += delta * ref.unit_cost_fen
    if outcome.shortages:  # the balance was locked, so this cannot happen; never write half a count
        raise InsufficientStock.of(outcome.shortages)
    errors.sort(key=lambda e: e.row)
    count.lines = applied
    count.differences = differences
    count.value_delta_fen = value
    session.flush()
    record(
        session,
        actor,
        "stock.count",
        "stock_count",
        count.id,
        after={
            "location": loc.code,
            "lines": applied,
            "differences": differences,
            "value_delta_fen": value,
            "errors": len(errors),
        },
    )
    return _count_out(count, loc.code), errors


def _count_out(count: StockCount, location_code: str) -> StockCountOut:
    return StockCountOut(
        id=count.id,
        location_id=count.location_id,
        location_code=location_code,
        status=count.status,
        reason=count.reason,
        created_at=count.created_at,
        created_by=count.created_by,
        lines=count.lines,
        differences=count.differences,
        value_delta_fen=count.value_delta_fen,
    )


def apply_count(
    session: Session, actor: Principal, *, location_code: str, lines: Sequence[CountLineIn], reason: str = ""
) -> StockCountOut:
    """A count typed in (or sent by a handheld): all lines valid, or nothing is written and a 422
    lists every bad line."""
    loc = _location_or_404(session, None, location_code)
    ensure_location_access(actor, loc.id)
    rows = [CountRow(i, ln.sku_code, ln.counted) for i, ln in enumerate(lines)]
    with _all_or_nothing(session):
        out, errors = apply_count_rows(
            session, actor, location=get_location(session, actor, location_code), rows=rows, reason=reason
        )
        if errors:
            raise ValidationFailed(
                f"{len(errors)} invalid line(s)",
                errors=[FieldProblem(f"body.lines.{e.row}.{e.field}", e.code, e.message) for e in errors],
            )
    return out


# ================================================================ queries


def _balance_out(row: repo.BalanceRow, sku: SkuRef, loc: Location) -> BalanceOut:
    return BalanceOut(
        sku_id=row.sku_id,
        sku_code=sku.code,
        sku_name=sku.name,
        location_id=row.location_id,
        location_code=loc.code,
        on_hand=row.on_hand,
        reserved=row.reserved,
        available=row.available,
        in_transit=row.in_transit,
        safety_stock=row.safety_stock,
        below_safety=row.safety_stock > 0 and row.available < row.safety_stock,
        updated_at=row.updated_at,
    )


def _check_channel(session: Session, channel_code: str | None, field: str = "query.channel") -> None:
    if channel_code is not None and channels_service.unknown_codes(session, [channel_code]):
        raise ValidationFailed(
            "unknown channel", errors=[FieldProblem(field, "unknown_channel", f"no channel {channel_code!r}")]
        )


def _availability_rows(
    session: Session, principal: Principal, sku: SkuRef, channel_code: str | None, extra_where: Sequence[Any] = ()
) -> list[tuple[repo.BalanceRow, Location, int]]:
    stmt = repo.balances_query().where(StockBalance.sku_id == sku.id, *extra_where).order_by(Location.code)
    stmt = scope_to_locations(principal, stmt, StockBalance.location_id)
    rows = [(repo.BalanceRow(*r[:7]), r[7]) for r in session.execute(stmt)]
    safety = repo.channel_safety(session, channel_code, [(sku.id, loc.id) for _, loc in rows]) if channel_code else {}
    return [(b, loc, safety.get((sku.id, loc.id), 0)) for b, loc in rows]


def _stock_row(b: repo.BalanceRow, loc: Location, safety: int, distance: float | None = None) -> LocationStockOut:
    return LocationStockOut(
        location_id=loc.id,
        location_code=loc.code,
        location_name=loc.name,
        location_type=loc.type,
        city=loc.city,
        latitude=loc.latitude,
        longitude=loc.longitude,
        on_hand=b.on_hand,
        reserved=b.reserved,
        available=b.available,
        in_transit=b.in_transit,
        channel_safety_stock=safety,
        sellable=max(0, b.available - safety),
        distance_km=round(distance, 3) if distance is not None else None,
    )


def _totals(rows: Sequence[LocationStockOut]) -> StockTotals:
    return StockTotals(
        on_hand=sum(r.on_hand for r in rows),
        reserved=sum(r.reserved for r in rows),
        available=sum(r.available for r in rows),
        in_transit=sum(r.in_transit for r in rows),
        sellable=sum(r.sellable for r in rows),
    )


def _availability_out(sku: SkuRef, channel_code: str | None, rows: list[LocationStockOut]) -> AvailabilityOut:
    return AvailabilityOut(
        sku_id=sku.id,
        sku_code=sku.code,
        sku_name=sku.name,
        channel_code=channel_code,
        locations=rows,
        totals=_totals(rows),
    )


def sku_availability(
    session: Session, principal: Principal, sku_code: str, *, channel_code: str | None = None
) -> AvailabilityOut:
    """A SKU across the network (the locations the principal may see): one row per location with
    a balance, and totals. With a channel, ``sellable`` = max(0, available − its safety stock)."""
    sku = _sku_or_404(session, sku_code)
    _check_channel(session, channel_code)
    rows = [_stock_row(b, loc, s) for b, loc, s in _availability_rows(session, principal, sku, channel_code)]
    return _availability_out(sku, channel_code, rows)


def availability_near(
    session: Session,
    principal: Principal,
    sku_code: str,
    *,
    latitude: float,
    longitude: float,
    radius_km: float,
    channel_code: str | None = None,
    in_stock_only: bool = True,
) -> AvailabilityOut:
    """Locations within ``radius_km`` of a point holding the SKU, nearest first (3 km / 1 hour
    delivery, click & collect). Locations without coordinates are never "near"."""
    problems = []
    if not -90 <= latitude <= 90:
        problems.append(FieldProblem("query.near", "invalid_latitude", "latitude between -90 and 90"))
    if not -180 <= longitude <= 180:
        problems.append(FieldProblem("query.near", "invalid_longitude", "longitude between -180 and 180"))
    if not 0 < radius_km <= MAX_RADIUS_KM:
        problems.append(FieldProblem("query.radius_km", "out_of_range", f"between 0 and {MAX_RADIUS_KM:g} km"))
    _fail(problems)
    sku = _sku_or_404(session, sku_code)
    _check_channel(session, channel_code)
    box = bounding_box(latitude, longitude, radius_km)
    where: list[Any] = [
        Location.latitude.is_not(None),
        Location.longitude.is_not(None),
        Location.latitude.between(box.min_lat, box.max_lat),
    ]
    if box.wraps:
        where.append((Location.longitude >= box.min_lon) | (Location.longitude <= box.max_lon))
    else:
        where.append(Location.longitude.between(box.min_lon, box.max_lon))
    candidates = _availability_rows(session, principal, sku, channel_code, where)
    near = nearest_within(
        [((b, loc, s), float(loc.latitude or 0), float(loc.longitude or 0)) for b, loc, s in candidates],
        latitude,
        longitude,
        radius_km,
    )
    rows = [_stock_row(n.item[0], n.item[1], n.item[2], n.distance_km) for n in near]
    if in_stock_only:
        rows = [r for r in rows if r.sellable > 0]
    return _availability_out(sku, channel_code, rows)


def sellable_quantities(
    session: Session,
    principal: Principal,
    *,
    sku_ids: Sequence[int],
    location_ids: Sequence[int] | None = None,
    channel_code: str | None = None,
) -> dict[tuple[int, int], int]:
    """{(sku_id, location_id): units the channel may sell} in bulk, for order routing. Pairs with
    nothing to sell are left out."""
    if not sku_ids:
        return {}
    stmt: Select[*tuple[Any, ...]] = select(
        StockBalance.sku_id, StockBalance.location_id, StockBalance.on_hand - StockBalance.reserved
    ).where(StockBalance.sku_id.in_(sorted(set(sku_ids))), StockBalance.on_hand > StockBalance.reserved)
    if location_ids is not None:
        stmt = stmt.where(StockBalance.location_id.in_(sorted(set(location_ids))))
    stmt = scope_to_locations(principal, stmt, StockBalance.location_id)
    avail = {(r[0], r[1]): int(r[2]) for r in session.execute(stmt)}
    safety = repo.channel_safety(session, channel_code, avail.keys()) if channel_code else {}
    out = {k: v - safety.get(k, 0) for k, v in avail.items()}
    return {k: v for k, v in out.items() if v > 0}


def location_stock(
    session: Session,
    principal: Principal,
    location_code: str,
    *,
    below_safety_only: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[BalanceOut]:
    """The balances of one location, by SKU id. ``below_safety``: available < its safety stock."""
    loc = _location_or_404(session, principal, location_code)
    stmt = scope_to_locations(
        principal, select(StockBalance).where(StockBalance.location_id == loc.id), StockBalance.location_id
    )
    if below_safety_only:
        stmt = stmt.where(repo.below_safety_clause())
    page = paginate(
        session,
        stmt.execution_options(populate_existing=True),
        [SortKey(StockBalance.sku_id)],
        cursor=cursor,
        limit=limit,
    )
    skus = sku_refs_by_ids(session, [b.sku_id for b in page.items])
    items = [
        _balance_out(
            repo.BalanceRow(b.sku_id, b.location_id, b.on_hand, b.reserved, b.in_transit, b.safety_stock, b.updated_at),
            skus[b.sku_id],
            loc,
        )
        for b in page.items
        if b.sku_id in skus
    ]
    return Page(items=items, next_cursor=page.next_cursor)


def list_movements(
    session: Session,
    principal: Principal,
    *,
    sku_code: str | None = None,
    location_code: str | None = None,
    type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    reference: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[MovementOut]:
    """The ledger, newest first. ``since`` inclusive, ``until`` exclusive; ``reference`` matches
    the reference id (an order number, a transfer code, a receipt number)."""
    stmt = scope_to_locations(principal, select(StockMovement), StockMovement.location_id)
    if sku_code is not None:
        ref = sku_refs_by_codes(session, [sku_code]).get(sku_code)
        stmt = stmt.where(StockMovement.sku_id == (ref.id if ref else -1))
    if location_code is not None:
        loc = repo.location_by_code(session, location_code)
        stmt = stmt.where(StockMovement.location_id == (loc.id if loc else -1))
    if type is not None:
        stmt = stmt.where(StockMovement.type == type)
    if since is not None:
        stmt = stmt.where(StockMovement.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(StockMovement.occurred_at < until)
    if reference is not None:
        stmt = stmt.where(StockMovement.reference_id == reference)
    page = paginate(session, stmt, [SortKey(StockMovement.id, descending=True)], cursor=cursor, limit=limit)
    return Page(items=_movements_out(session, page.items), next_cursor=page.next_cursor)


def _serials_out(session: Session, rows: Sequence[SerialNumber]) -> list[SerialOut]:
    skus = sku_refs_by_ids(session, [r.sku_id for r in rows])
    locs = repo.locations_by_ids(session, [r.location_id for r in rows if r.location_id is not None])
    return [
        SerialOut(
            id=r.id,
            serial=r.serial,
            sku_id=r.sku_id,
            sku_code=skus[r.sku_id].code if r.sku_id in skus else str(r.sku_id),
            state=r.state,
            location_id=r.location_id,
            location_code=locs[r.location_id].code if r.location_id in locs else None,
            reservation_id=r.reservation_id,
            received_at=r.received_at,
            sold_at=r.sold_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


def list_serials(
    session: Session,
    principal: Principal,
    sku_code: str,
    *,
    state: str | None = None,
    location_code: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[SerialOut]:
    sku = _sku_or_404(session, sku_code)
    stmt = scope_to_locations(
        principal, select(SerialNumber).where(SerialNumber.sku_id == sku.id), SerialNumber.location_id
    )
    if state is not None:
        stmt = stmt.where(SerialNumber.state == state)
    if location_code is not None:
        loc = repo.location_by_code(session, location_code)
        stmt = stmt.where(SerialNumber.location_id == (loc.id if loc else -1))
    page = paginate(
        session, stmt.execution_options(populate_existing=True), [SortKey(SerialNumber.id)], cursor=cursor, limit=limit
    )
    return Page(items=_serials_out(session, page.items), next_cursor=page.next_cursor)


def find_serial(session: Session, principal: Principal, serial: str) -> list[SerialOut]:
    """Every unit with this serial (unique per SKU, so possibly one per SKU). 404 when none is
    visible to the principal."""
    stmt = scope_to_locations(
        principal,
        select(SerialNumber).where(SerialNumber.serial == serial).order_by(SerialNumber.id),
        SerialNumber.location_id,
    )
    rows = list(session.scalars(stmt.execution_options(populate_existing=True)))
    if not rows:
        raise not_found("serial", serial)
    return _serials_out(session, rows)


def stock_summary(session: Session, principal: Principal) -> StockSummary:
    """The console home page's figures, over the locations the principal may see. Stock value is
    on hand × the SKU's standard cost (``unit_cost_fen``), in fen."""
    stock_rows = session.execute(
        scope_to_locations(principal, repo.summary_stock_query(), StockBalance.location_id)
    ).all()
    refs = sku_refs_by_ids(session, sorted({r[0] for r in stock_rows}))
    value = on_hand = reserved = in_transit = 0
    by_type: dict[str, list[int]] = {}
    by_city: dict[str, list[int]] = {}
    for sku_id, loc_type, city, oh, rv, it in stock_rows:
        oh, rv, it = int(oh or 0), int(rv or 0), int(it or 0)
        cost = refs[sku_id].unit_cost_fen if sku_id in refs else 0
        value += oh * cost
        on_hand += oh
        reserved += rv
        in_transit += it
        for bucket, key in ((by_type, loc_type), (by_city, city or "")):
            acc = bucket.setdefault(key, [0, 0])
            acc[0] += oh
            acc[1] += oh * cost
    below = (
        session.scalar(scope_to_locations(principal, repo.below_safety_count_query(), StockBalance.location_id)) or 0
    )
    loc_counts = dict(
        (t, int(n))
        for t, n in session.execute(scope_to_locations(principal, repo.locations_by_type_query(), Location.id))
    )
    currencies = {r.currency for r in refs.values()}
    return StockSummary(
        currency=currencies.pop() if len(currencies) == 1 else "CNY",
        stock_value_fen=value,
        on_hand_units=on_hand,
        reserved_units=reserved,
        in_transit_units=in_transit,
        below_safety_count=int(below),
        locations_by_type=loc_counts,
        stock_by_location_type=sorted(
            (GroupFigure(key=k, on_hand=v[0], value_fen=v[1]) for k, v in by_type.items()), key=lambda g: -g.value_fen
        ),
        stock_by_city=sorted(
            (GroupFigure(key=k, on_hand=v[0], value_fen=v[1]) for k, v in by_city.items()), key=lambda g: -g.value_fen
        ),
    )


@dataclass(frozen=True, slots=True)
class LedgerMismatch:
    sku_id: int
    location_id: int
    what: str  # on_hand | in_transit | reserved
    balance: int
    expected: int


def check_ledger(session: Session, sku_ids: Sequence[int] | None = None) -> list[LedgerMismatch]:
    """The invariants, verified from scratch: ledger sums equal balances, open reservation lines
    equal reserved. Empty when all is well (ops checks, tests, after an incident)."""
    sums = repo.ledger_sums(session, sku_ids)
    held = repo.open_reserved_sums(session, sku_ids)
    out = []
    seen: set[tuple[int, int]] = set()
    for b in repo.all_balances(session, sku_ids):
        key = (b.sku_id, b.location_id)
        seen.add(key)
        oh, it = sums.get(key, (0, 0))
        for what, have, want in (
            ("on_hand", b.on_hand, oh),
            ("in_transit", b.in_transit, it),
            ("reserved", b.reserved, held.get(key, 0)),
        ):
            if have != want:
                out.append(LedgerMismatch(b.sku_id, b.location_id, what, have, want))
    for key, (oh, it) in sums.items():
        if key not in seen and (oh or it):
            out.append(LedgerMismatch(key[0], key[1], "on_hand", 0, oh))
    return out


def store_scope_of(principal: Principal) -> frozenset[int] | None:
    """The location ids a principal is limited to (None: all). For the console's filters."""
    return allowed_location_ids(principal)


# ================================================================ for the order center


def extend_reservation(session: Session, actor: Principal, reservation_id: int, ttl_s: int | None) -> ReservationOut:
    """Moves an active reservation's expiry to now + ``ttl_s`` (None: never; a paid order).
    409 ``invalid_transition`` unless active."""
    res, lines = _visible_reservation(session, actor, reservation_id, for_update=True)
    if res.status != "active":
        raise InvalidTransition(f"reservation {res.id} is {res.status}", extra={"status": res.status})
    before = res.expires_at
    res.expires_at = None if ttl_s is None else utcnow() + timedelta(seconds=ttl_s)
    session.flush()
    record(
        session,
        actor,
        "reservation.extend",
        "reservation",
        res.id,
        before={"expires_at": before},
        after={"expires_at": res.expires_at},
    )
    return _reservation_out(session, res, lines)


def reservation_status(session: Session, reservation_id: int) -> str | None:
    """The reservation's status (active, consumed, released, expired), or None when unknown."""
    res = repo.reservation(session, reservation_id)
    return None if res is None else res.status


@dataclass(frozen=True, slots=True)
class RoutingStock:
    """What routing may take: {(location_id, sku_id): units} this channel may sell, each
    location's own safety stock (its minimum) for the same pairs, and the channel's safety stock
    there (what ``hold_stock`` must leave)."""

    sellable: dict[tuple[int, int], int]
    safety: dict[tuple[int, int], int]
    channel_safety: dict[tuple[int, int], int] = field(default_factory=dict)


def routing_stock(session: Session, *, sku_ids: Sequence[int], channel_code: str | None) -> RoutingStock:
    """Network-wide stock of these SKUs for routing one order (keys are (location_id, sku_id))."""
    if not sku_ids:
        return RoutingStock({}, {})
    rows = repo.available_with_safety(session, sku_ids)
    avail = {(int(r[0]), int(r[1])): int(r[2]) for r in rows}
    channel_safety = repo.channel_safety(session, channel_code, avail.keys()) if channel_code else {}
    sellable: dict[tuple[int, int], int] = {}
    safety: dict[tuple[int, int], int] = {}
    kept: dict[tuple[int, int], int] = {}
    for r in rows:
        sku_id, loc_id = int(r[0]), int(r[1])
        units = avail[(sku_id, loc_id)] - channel_safety.get((sku_id, loc_id), 0)
        if units > 0:
            sellable[(loc_id, sku_id)] = units
            if r[3]:
                safety[(loc_id, sku_id)] = int(r[3])
            if channel_safety.get((sku_id, loc_id)):
                kept[(loc_id, sku_id)] = channel_safety[(sku_id, loc_id)]
    return RoutingStock(sellable, safety, kept)


@dataclass(frozen=True, slots=True)
class HoldLine:
    """One line of ``hold_stock``: a resolved SKU and location (ids and codes), by quantity."""

    sku_id: int
    sku_code: str
    location_id: int
    location_code: str
    quantity: int
    # The channel's safety stock there: units the hold must leave (from ``routing_stock``).
    channel_safety: int = 0


def hold_stock(
    session: Session,
    actor: Principal,
    *,
    reference: str,
    channel_code: str | None,
    lines: Sequence[HoldLine],
    ttl_s: int | None,
) -> int:
    """The order router's reservation: the same conditional UPDATEs (in the same lock order) as
    ``reserve_stock``, for a caller that has already resolved the SKUs and locations, read the
    stock and chosen a new, unique ``reference`` (a fulfilment number) — so without the lookups,
    the early read and the idempotency check. All or nothing inside the caller's transaction
    (run it in a savepoint); raises ``InsufficientStock`` listing every short line. Returns the
    reservation id."""
    now = utcnow()
    res = Reservation(
        reference=reference,
        channel_code=channel_code,
        status="active",
        expires_at=now + timedelta(seconds=ttl_s) if ttl_s is not None else None,
        created_at=now,
        created_by=actor.name[:128],
    )
    session.add(res)
    session.flush()
    short = []
    ordered = sorted(lines, key=lambda ln: (ln.location_id, ln.sku_id))
    for ln in ordered:
        if not repo.reserve_units(session, ln.sku_id, ln.location_id, ln.quantity, ln.channel_safety, now):
            short.append(ln)
    if short:
        current = repo.balances(session, [(ln.sku_id, ln.location_id) for ln in short])
        shortages = []
        for ln in short:
            row = current.get((ln.sku_id, ln.location_id))
            sellable = max(0, row.available - ln.channel_safety) if row else 0
            shortages.append(Shortage(ln.sku_code, ln.location_code, ln.quantity, sellable, ln.sku_id, ln.location_id))
        raise InsufficientStock.of(shortages)
    session.add_all(
        ReservationLine(
            reservation_id=res.id,
            sku_id=ln.sku_id,
            location_id=ln.location_id,
            quantity=ln.quantity,
            consumed=0,
            serials=[],
        )
        for ln in ordered
    )
    _record_created(session, actor, res, [(ln.sku_code, ln.location_code, ln.quantity, ()) for ln in ordered])
    return res.id


def fulfilment_locations(session: Session) -> list[LocationOut]:
    """Every active location that can fulfil orders (DCs and stores)."""
    return [_location_out(loc) for loc in repo.fulfilment_locations(session)]


def locations_by_ids(session: Session, ids: Sequence[int]) -> dict[int, LocationOut]:
    return {i: _location_out(loc) for i, loc in repo.locations_by_ids(session, ids).items()}


def unavailable_serials(
    session: Session, *, sku_id: int, location_id: int, serials: Sequence[str], reservation_id: int | None = None
) -> dict[str, str | None]:
    """{serial: its state} for the serials that are not free to ship from this location: neither
    ``in_stock`` there nor held by ``reservation_id``. Empty when all are fine."""
    states = repo.serial_states(session, sku_id, serials)
    bad: dict[str, str | None] = {}
    for s in serials:
        st = states.get(s)
        if st is None:
            bad[s] = None
        elif st[1] != location_id:
            bad[s] = f"{st[0]}@elsewhere"
        elif not (
            st[0] == "in_stock" or (st[0] == "reserved" and reservation_id is not None and st[2] == reservation_id)
        ):
            bad[s] = st[0]
    return bad


# ================================================================ replenishment reads


@dataclass(frozen=True, slots=True)
class StockFigures:
    """What replenishment needs of one SKU x location: the balance, plus draft transfers (moves
    decided but not shipped) into and out of it."""

    sku_id: int
    location_id: int
    on_hand: int = 0
    reserved: int = 0
    in_transit: int = 0
    inbound_draft: int = 0
    outbound_draft: int = 0


def stock_figures(session: Session, location_ids: Sequence[int]) -> dict[tuple[int, int], StockFigures]:
    """{(sku_id, location_id): figures} for every SKU with a balance or a draft transfer at these
    locations. Unscoped: for jobs and for callers that scoped the locations themselves."""
    out: dict[tuple[int, int], StockFigures] = {}
    for b in repo.balances_at(session, location_ids):
        out[(b.sku_id, b.location_id)] = StockFigures(b.sku_id, b.location_id, b.on_hand, b.reserved, b.in_transit)
    wanted = set(location_ids)
    for sku_id, src, dst, units in repo.draft_transfer_sums(session, location_ids):
        for loc, inbound in ((dst, units), (src, 0)):
            if loc not in wanted:
                continue
            cur = out.get((sku_id, loc)) or StockFigures(sku_id, loc)
            out[(sku_id, loc)] = StockFigures(
                sku_id,
                loc,
                cur.on_hand,
                cur.reserved,
                cur.in_transit,
                cur.inbound_draft + inbound,
                cur.outbound_draft + (units if loc == src else 0),
            )
    return out


def locations_of_types(session: Session, types: Sequence[str], *, active_only: bool = True) -> list[LocationOut]:
    """Every location of these types (suppliers, DCs, stores), by id."""
    stmt = select(Location).where(Location.type.in_(sorted(set(types))))
    if active_only:
        stmt = stmt.where(Location.is_active.is_(True))
    return [_location_out(loc) for loc in session.scalars(stmt.order_by(Location.id))]


# ---------------------------------------------------------------- analytics export (read-only)

_UTC_TS = pl.Datetime("us", "UTC")


def export_movements_after(session: Session, after_id: int, limit: int) -> pl.DataFrame:
    """Up to ``limit`` ledger rows after ``after_id`` as the lake's ``stock_movements`` columns
    (without ``day``, which the sink derives in the business time zone)."""
    schema: dict[str, Any] = {
        "id": pl.Int64,
        "occurred_at": _UTC_TS,
        "type": pl.Utf8,
        "sku_id": pl.Int32,
        "location_id": pl.Int32,
        "on_hand_delta": pl.Int32,
        "on_hand_after": pl.Int32,
        "reference_type": pl.Utf8,
    }
    return pl.DataFrame(repo.movement_rows_after(session, after_id, limit), schema=schema, orient="row")


def export_balances(session: Session, snapshot_at: datetime) -> pl.DataFrame:
    """Every balance as the lake's ``stock_balances``: available = on hand - reserved."""
    schema: dict[str, Any] = {
        "sku_id": pl.Int32,
        "location_id": pl.Int32,
        "on_hand": pl.Int32,
        "reserved": pl.Int32,
        "in_transit": pl.Int32,
        "safety_stock": pl.Int32,
    }
    frame = pl.DataFrame(repo.balance_rows(session), schema=schema, orient="row")
    return frame.with_columns(
        (pl.col("on_hand") - pl.col("reserved")).alias("available"),
        pl.lit(snapshot_at).cast(_UTC_TS).alias("snapshot_at"),
    )


def export_locations(session: Session) -> pl.DataFrame:
    """Every location as the lake's ``locations`` table."""
    names = ["location_id", "code", "name", "name_en", "type", "region", "province", "city"]
    schema: dict[str, Any] = {n: pl.Utf8 for n in names} | {"location_id": pl.Int32}
    return pl.DataFrame(repo.location_rows(session), schema=schema, orient="row")
