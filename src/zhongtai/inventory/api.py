"""Inventory's HTTP API, mounted under /api/v1. Thin: parse, call one service function, shape.

Reads need ``inventory:read``, stock writes ``inventory:write``, reservations
``inventory:reserve``, creating and changing locations ``locations:write``. Store scopes are the
service's business (a store manager gets 404 for another store's rows, 403 for writes there).

Endpoints return the service's models and let ``response_model`` shape the answer, as in every
other context. (Requests holding row locks cannot starve for threads: ``zhongtai serve`` admits
fewer requests per process than the thread pool has threads; see ``app.lifespan``.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.errors import FieldProblem, ValidationFailed
from zhongtai.http import DbSession, Paging, get_settings_dep, require
from zhongtai.inventory import service
from zhongtai.inventory.schemas import (
    AdjustmentIn,
    AvailabilityOut,
    BalanceOut,
    ChannelSafetyIn,
    ChannelSafetyOut,
    ConsumeIn,
    CountIn,
    JobAccepted,
    LocationIn,
    LocationOut,
    LocationPatch,
    LocationType,
    MovementOut,
    MovementsOut,
    MovementType,
    ReceiptIn,
    ReceiveTransferIn,
    ReleaseIn,
    ReservationOut,
    ReserveIn,
    SafetyStockIn,
    SerialOut,
    SerialState,
    StockCountOut,
    StockSummary,
    TransferIn,
    TransferOut,
    TransferStatus,
)
from zhongtai.inventory.tasks import COUNT_IMPORT
from zhongtai.jobs import enqueue
from zhongtai.pagination import PageOut

router = APIRouter(tags=["inventory"])

Read = Annotated[Principal, Depends(require(Perm.INVENTORY_READ))]
Write = Annotated[Principal, Depends(require(Perm.INVENTORY_WRITE))]
Reserve = Annotated[Principal, Depends(require(Perm.INVENTORY_RESERVE))]
WriteLocations = Annotated[Principal, Depends(require(Perm.LOCATIONS_WRITE))]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


# ---------------------------------------------------------------- locations


@router.get("/locations", response_model=PageOut[LocationOut])
def list_locations(
    session: DbSession,
    principal: Read,
    paging: Paging,
    type: Annotated[LocationType | None, Query()] = None,
    city: Annotated[str | None, Query(max_length=32)] = None,
    active: bool | None = None,
) -> PageOut[LocationOut]:
    page = service.list_locations(
        session, principal, type=type, city=city, active=active, cursor=paging.cursor, limit=paging.limit
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.post("/locations", response_model=LocationOut, status_code=201)
def create_location(body: LocationIn, session: DbSession, actor: WriteLocations) -> LocationOut:
    return service.create_location(session, actor, body)


@router.get("/locations/{code}", response_model=LocationOut)
def get_location(code: str, session: DbSession, principal: Read) -> LocationOut:
    return service.get_location(session, principal, code)


@router.patch("/locations/{code}", response_model=LocationOut)
def update_location(code: str, body: LocationPatch, session: DbSession, actor: WriteLocations) -> LocationOut:
    return service.update_location(session, actor, code, body)


@router.get("/locations/{code}/stock", response_model=PageOut[BalanceOut])
def location_stock(
    code: str,
    session: DbSession,
    principal: Read,
    paging: Paging,
    below_safety: Annotated[bool, Query(description="only SKUs whose available is below safety stock")] = False,
) -> PageOut[BalanceOut]:
    page = service.location_stock(
        session, principal, code, below_safety_only=below_safety, cursor=paging.cursor, limit=paging.limit
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.put("/locations/{code}/stock/{sku_code}/safety-stock", response_model=BalanceOut)
def set_safety_stock(code: str, sku_code: str, body: SafetyStockIn, session: DbSession, actor: Write) -> BalanceOut:
    return service.set_safety_stock(session, actor, location_code=code, sku_code=sku_code, quantity=body.quantity)


# ---------------------------------------------------------------- stock (fixed paths before /stock/{sku_code})


@router.get("/inventory/summary", response_model=StockSummary)
def summary(session: DbSession, principal: Read) -> StockSummary:
    return service.stock_summary(session, principal)


@router.post("/stock/receipts", response_model=MovementsOut, status_code=201)
def receive_stock(body: ReceiptIn, session: DbSession, actor: Write) -> MovementsOut:
    moves = service.receive_stock(
        session, actor, location_code=body.location_code, lines=body.lines, reference=body.reference, reason=body.reason
    )
    return MovementsOut(movements=moves)


@router.post("/stock/adjustments", response_model=MovementsOut, status_code=201)
def adjust_stock(body: AdjustmentIn, session: DbSession, actor: Write) -> MovementsOut:
    moves = service.adjust_stock(
        session, actor, location_code=body.location_code, lines=body.lines, reason=body.reason, reference=body.reference
    )
    return MovementsOut(movements=moves)


@router.get("/stock/movements", response_model=PageOut[MovementOut])
def list_movements(
    session: DbSession,
    principal: Read,
    paging: Paging,
    sku: Annotated[str | None, Query(max_length=64, description="SKU code")] = None,
    location: Annotated[str | None, Query(max_length=32, description="location code")] = None,
    type: MovementType | None = None,
    since: Annotated[datetime | None, Query(description="inclusive, ISO 8601 with offset")] = None,
    until: Annotated[datetime | None, Query(description="exclusive, ISO 8601 with offset")] = None,
    reference: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOut[MovementOut]:
    problems = [
        FieldProblem(f"query.{name}", "naive_datetime", "give a UTC offset, e.g. 2025-06-18T00:00:00+08:00")
        for name, value in (("since", since), ("until", until))
        if value is not None and value.tzinfo is None
    ]
    if problems:
        raise ValidationFailed("invalid filters", errors=problems)
    page = service.list_movements(
        session,
        principal,
        sku_code=sku,
        location_code=location,
        type=type,
        since=since,
        until=until,
        reference=reference,
        cursor=paging.cursor,
        limit=paging.limit,
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


def _near(near: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = near.split(",")
        return float(lat_s), float(lon_s)
    except ValueError as exc:
        raise ValidationFailed(
            "invalid point",
            errors=[FieldProblem("query.near", "invalid_point", "lat,lon in degrees, e.g. 31.23,121.47")],
        ) from exc


@router.get("/stock/{sku_code}", response_model=AvailabilityOut)
def sku_availability(
    sku_code: str,
    session: DbSession,
    principal: Read,
    channel: Annotated[str | None, Query(max_length=32, description="sellable for this channel")] = None,
    near: Annotated[str | None, Query(description="lat,lon: only locations within radius_km, nearest first")] = None,
    radius_km: Annotated[float, Query(gt=0, le=service.MAX_RADIUS_KM)] = 3.0,
    in_stock_only: bool = True,
) -> AvailabilityOut:
    if principal.kind == "api_key" and principal.channel_code is not None and channel is None:
        channel = principal.channel_code
    if near is not None:
        lat, lon = _near(near)
        return service.availability_near(
            session,
            principal,
            sku_code,
            latitude=lat,
            longitude=lon,
            radius_km=radius_km,
            channel_code=channel,
            in_stock_only=in_stock_only,
        )
    return service.sku_availability(session, principal, sku_code, channel_code=channel)


@router.get("/stock/{sku_code}/serials", response_model=PageOut[SerialOut])
def list_serials(
    sku_code: str,
    session: DbSession,
    principal: Read,
    paging: Paging,
    state: SerialState | None = None,
    location: Annotated[str | None, Query(max_length=32)] = None,
) -> PageOut[SerialOut]:
    page = service.list_serials(
        session, principal, sku_code, state=state, location_code=location, cursor=paging.cursor, limit=paging.limit
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.get("/serials/{serial}", response_model=list[SerialOut])
def find_serial(serial: str, session: DbSession, principal: Read) -> list[SerialOut]:
    return service.find_serial(session, principal, serial)


@router.put("/channel-safety-stock", response_model=ChannelSafetyOut)
def set_channel_safety_stock(body: ChannelSafetyIn, session: DbSession, actor: Write) -> ChannelSafetyOut:
    return service.set_channel_safety_stock(
        session,
        actor,
        location_code=body.location_code,
        channel_code=body.channel_code,
        sku_code=body.sku_code,
        quantity=body.quantity,
    )


# ---------------------------------------------------------------- reservations


@router.post("/reservations", response_model=ReservationOut, status_code=201)
def reserve(body: ReserveIn, request: Request, session: DbSession, actor: Reserve) -> ReservationOut:
    channel = body.channel_code
    if channel is None and actor.kind == "api_key":
        channel = actor.channel_code  # a channel's key reserves for its channel unless it says so
    ttl_s = body.ttl_s if "ttl_s" in body.model_fields_set else get_settings_dep(request).reservation_ttl_s
    return service.reserve_stock(
        session, actor, reference=body.reference, channel_code=channel, lines=body.lines, ttl_s=ttl_s
    )


@router.get("/reservations/{reservation_id}", response_model=ReservationOut)
def get_reservation(reservation_id: int, session: DbSession, principal: Read) -> ReservationOut:
    return service.get_reservation(session, principal, reservation_id)


@router.post("/reservations/{reservation_id}/release", response_model=ReservationOut)
def release(reservation_id: int, session: DbSession, actor: Reserve, body: ReleaseIn | None = None) -> ReservationOut:
    return service.release_reservation(session, actor, reservation_id, body.reason if body else "")


@router.post("/reservations/{reservation_id}/consume", response_model=ReservationOut)
def consume(reservation_id: int, session: DbSession, actor: Reserve, body: ConsumeIn | None = None) -> ReservationOut:
    body = body or ConsumeIn()
    return service.consume_reservation(session, actor, reservation_id, lines=body.lines, reference=body.reference)


# ---------------------------------------------------------------- transfers


@router.post("/transfers", response_model=TransferOut, status_code=201)
def create_transfer(body: TransferIn, session: DbSession, actor: Write) -> TransferOut:
    return service.create_transfer(
        session,
        actor,
        source_location_code=body.source_location_code,
        dest_location_code=body.dest_location_code,
        lines=body.lines,
        note=body.note,
    )


@router.get("/transfers", response_model=PageOut[TransferOut])
def list_transfers(
    session: DbSession,
    principal: Read,
    paging: Paging,
    status: TransferStatus | None = None,
    location: Annotated[str | None, Query(max_length=32)] = None,
) -> PageOut[TransferOut]:
    page = service.list_transfers(
        session, principal, status=status, location_code=location, cursor=paging.cursor, limit=paging.limit
    )
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.get("/transfers/{code}", response_model=TransferOut)
def get_transfer(code: str, session: DbSession, principal: Read) -> TransferOut:
    return service.get_transfer(session, principal, code)


@router.post("/transfers/{code}/ship", response_model=TransferOut)
def ship_transfer(code: str, session: DbSession, actor: Write) -> TransferOut:
    return service.ship_transfer(session, actor, code)


@router.post("/transfers/{code}/receive", response_model=TransferOut)
def receive_transfer(code: str, session: DbSession, actor: Write, body: ReceiveTransferIn | None = None) -> TransferOut:
    body = body or ReceiveTransferIn()
    return service.receive_transfer(session, actor, code, lines=body.lines, note=body.note)


@router.post("/transfers/{code}/cancel", response_model=TransferOut)
def cancel_transfer(code: str, session: DbSession, actor: Write, body: ReleaseIn | None = None) -> TransferOut:
    return service.cancel_transfer(session, actor, code, body.reason if body else "")


# ---------------------------------------------------------------- counts


@router.post("/stock-counts", response_model=StockCountOut, status_code=201)
def apply_count(body: CountIn, session: DbSession, actor: Write) -> StockCountOut:
    return service.apply_count(session, actor, location_code=body.location_code, lines=body.lines, reason=body.reason)


@router.post("/stock-counts/imports", response_model=JobAccepted, status_code=202)
def import_counts(
    session: DbSession,
    actor: Write,
    file: Annotated[UploadFile, File(description="CSV or XLSX: location_code, sku_code, counted")],
    reason: Annotated[str, Form(max_length=255)] = "",
) -> JSONResponse:
    name = file.filename or ""
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    problems = []
    if not name.lower().endswith((".csv", ".xlsx")):
        problems.append(FieldProblem("body.file", "unsupported_type", "upload a .csv or .xlsx file"))
    if not data:
        problems.append(FieldProblem("body.file", "empty", "the file is empty"))
    if len(data) > MAX_UPLOAD_BYTES:
        problems.append(FieldProblem("body.file", "too_large", f"at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"))
    if problems:
        raise ValidationFailed("invalid upload", errors=problems)
    scope = service.store_scope_of(actor)
    job = enqueue(
        session,
        actor,
        COUNT_IMPORT,
        {"file_name": name, "reason": reason},
        input_blob=data,
        input_name=name,
        location_id=next(iter(scope)) if scope is not None and len(scope) == 1 else None,
    )
    accepted = JobAccepted(job_id=job.id, status_url=f"/api/v1/jobs/{job.id}")
    return JSONResponse(accepted.model_dump(), status_code=202, headers={"Location": accepted.status_url})
