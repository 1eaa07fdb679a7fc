"""Inventory's request and response shapes (API and the service contract other contexts call).

Request models forbid unknown fields, so a typo is a 422 that names the field instead of being
silently ignored. Cross-field and database checks (unknown SKU, serial counts) are the service's:
it reports every problem of a request at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

LocationType = Literal["central_dc", "regional_dc", "store", "supplier", "in_transit"]
LOCATION_TYPES: tuple[str, ...] = ("central_dc", "regional_dc", "store", "supplier", "in_transit")
DC_TYPES = frozenset({"central_dc", "regional_dc"})
MovementType = Literal["receipt", "sale", "return", "transfer_out", "transfer_in", "adjustment", "count", "scrap"]
MOVEMENT_TYPES: tuple[str, ...] = (
    "receipt",
    "sale",
    "return",
    "transfer_out",
    "transfer_in",
    "adjustment",
    "count",
    "scrap",
)
SerialState = Literal["in_stock", "reserved", "in_transit", "sold", "returned", "scrapped"]
ReservationStatus = Literal["active", "consumed", "released", "expired"]
TransferStatus = Literal["draft", "shipped", "received", "cancelled"]

Code = Annotated[str, Field(min_length=1, max_length=64)]
LocationCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Serial = Annotated[str, Field(min_length=1, max_length=64)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]
MAX_LINES = 500
MAX_TTL_S = 30 * 24 * 3600


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- locations


class LocationIn(_In):
    code: LocationCode
    name: Annotated[str, Field(min_length=1, max_length=128)]
    name_en: Annotated[str, Field(max_length=128)] = ""
    type: LocationType
    region: Annotated[str, Field(max_length=32)] = ""
    province: Annotated[str, Field(max_length=32)] = ""
    city: Annotated[str, Field(max_length=32)] = ""
    address: Annotated[str, Field(max_length=255)] = ""
    latitude: Annotated[float | None, Field(ge=-90, le=90)] = None
    longitude: Annotated[float | None, Field(ge=-180, le=180)] = None
    timezone: Annotated[str, Field(min_length=1, max_length=48)] = "Asia/Shanghai"
    opening_hours: dict[str, Any] = Field(default_factory=dict)
    parent_dc_code: LocationCode | None = None
    is_active: bool = True


class LocationPatch(_In):
    """Only the fields sent are changed; send ``null`` to clear coordinates or the parent DC."""

    name: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    name_en: Annotated[str, Field(max_length=128)] | None = None
    type: LocationType | None = None
    region: Annotated[str, Field(max_length=32)] | None = None
    province: Annotated[str, Field(max_length=32)] | None = None
    city: Annotated[str, Field(max_length=32)] | None = None
    address: Annotated[str, Field(max_length=255)] | None = None
    latitude: Annotated[float | None, Field(ge=-90, le=90)] = None
    longitude: Annotated[float | None, Field(ge=-180, le=180)] = None
    timezone: Annotated[str, Field(min_length=1, max_length=48)] | None = None
    opening_hours: dict[str, Any] | None = None
    parent_dc_code: LocationCode | None = None
    is_active: bool | None = None


class LocationOut(_Out):
    id: int
    code: str
    name: str
    name_en: str
    type: str
    region: str
    province: str
    city: str
    address: str
    latitude: float | None
    longitude: float | None
    timezone: str
    opening_hours: dict[str, Any]
    parent_dc_id: int | None
    parent_dc_code: str | None = None
    is_active: bool
    created_at: datetime


# ---------------------------------------------------------------- stock in and out


class StockLineIn(_In):
    sku_code: Code
    quantity: Quantity
    serials: list[Serial] = Field(default_factory=list, max_length=10_000)


class ReceiptIn(_In):
    location_code: LocationCode
    lines: Annotated[list[StockLineIn], Field(min_length=1, max_length=MAX_LINES)]
    reference: Annotated[str, Field(max_length=64)] | None = None
    reason: Annotated[str, Field(max_length=255)] = ""


class AdjustmentLineIn(_In):
    sku_code: Code
    # Signed: +3 found, -2 damaged. Zero is refused (it would be a no-op in the ledger).
    delta: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
    serials: list[Serial] = Field(default_factory=list, max_length=10_000)

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        # A field validator, so that this is reported together with every other bad field.
        if value == 0:
            raise ValueError("a delta of 0 changes nothing")
        return value


class AdjustmentIn(_In):
    location_code: LocationCode
    lines: Annotated[list[AdjustmentLineIn], Field(min_length=1, max_length=MAX_LINES)]
    reason: Annotated[str, Field(min_length=1, max_length=255)]
    reference: Annotated[str, Field(max_length=64)] | None = None


class MovementOut(_Out):
    id: int
    occurred_at: datetime
    type: str
    sku_id: int
    sku_code: str
    location_id: int
    location_code: str
    on_hand_delta: int
    in_transit_delta: int
    on_hand_after: int
    reference_type: str | None
    reference_id: str | None
    reason: str
    serials: list[str]
    actor_type: str
    actor_name: str


class BalanceOut(BaseModel):
    sku_id: int
    sku_code: str
    sku_name: str
    location_id: int
    location_code: str
    on_hand: int
    reserved: int
    available: int
    in_transit: int
    safety_stock: int
    below_safety: bool
    updated_at: datetime | None = None


class LocationStockOut(BaseModel):
    """One location's stock of one SKU in an availability answer."""

    location_id: int
    location_code: str
    location_name: str
    location_type: str
    city: str
    latitude: float | None
    longitude: float | None
    on_hand: int
    reserved: int
    available: int
    in_transit: int
    # What the asked channel may sell here: max(0, available - its safety stock). Equal to
    # ``available`` when no channel was asked.
    channel_safety_stock: int = 0
    sellable: int
    distance_km: float | None = None


class StockTotals(BaseModel):
    on_hand: int = 0
    reserved: int = 0
    available: int = 0
    in_transit: int = 0
    sellable: int = 0


class AvailabilityOut(BaseModel):
    sku_id: int
    sku_code: str
    sku_name: str
    channel_code: str | None
    locations: list[LocationStockOut]
    totals: StockTotals


class MovementsOut(BaseModel):
    movements: list[MovementOut]


# ---------------------------------------------------------------- reservations


class ReserveLine(_In):
    """One line of a reservation: a SKU (by code or id) at a location (by id or code).

    ``serials`` reserves those exact units of a serial-tracked SKU (then exactly ``quantity``
    of them); empty holds any units.
    """

    sku_code: Code | None = None
    sku_id: int | None = None
    location_id: int | None = None
    location_code: LocationCode | None = None
    quantity: Quantity
    serials: list[Serial] = Field(default_factory=list, max_length=1000)


class ReserveIn(_In):
    reference: Annotated[str, Field(min_length=1, max_length=64)]
    channel_code: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    lines: Annotated[list[ReserveLine], Field(min_length=1, max_length=MAX_LINES)]
    # Omitted: the platform default (ZHONGTAI_RESERVATION_TTL_S); null: no expiry (a paid order).
    ttl_s: Annotated[int, Field(ge=1, le=MAX_TTL_S)] | None = None


class ReservationLineOut(BaseModel):
    id: int
    sku_id: int
    sku_code: str
    location_id: int
    location_code: str
    quantity: int
    consumed: int
    # Units still held: quantity - consumed while the reservation is active, else 0.
    open: int
    serials: list[str]


class ReservationOut(BaseModel):
    id: int
    reference: str
    channel_code: str | None
    status: ReservationStatus
    expires_at: datetime | None
    created_at: datetime
    closed_at: datetime | None
    close_reason: str
    created_by: str
    lines: list[ReservationLineOut]


class ReleaseIn(_In):
    reason: Annotated[str, Field(max_length=255)] = ""


class ConsumeLine(_In):
    sku_code: Code | None = None
    sku_id: int | None = None
    location_id: int | None = None
    location_code: LocationCode | None = None
    quantity: Quantity
    serials: list[Serial] = Field(default_factory=list, max_length=1000)


class ConsumeIn(_In):
    # Omitted or null: everything still held. Otherwise the lines shipped now (partial shipment).
    lines: Annotated[list[ConsumeLine], Field(min_length=1, max_length=MAX_LINES)] | None = None
    reference: Annotated[str, Field(min_length=1, max_length=64)] | None = None


# ---------------------------------------------------------------- serials


class SerialOut(BaseModel):
    id: int
    serial: str
    sku_id: int
    sku_code: str
    state: SerialState
    location_id: int | None
    location_code: str | None
    reservation_id: int | None
    received_at: datetime
    sold_at: datetime | None
    updated_at: datetime


# ---------------------------------------------------------------- transfers


class TransferIn(_In):
    source_location_code: LocationCode
    dest_location_code: LocationCode
    lines: Annotated[list[StockLineIn], Field(min_length=1, max_length=MAX_LINES)]
    note: Annotated[str, Field(max_length=255)] = ""


class ReceiveLineIn(_In):
    sku_code: Code
    received_quantity: Annotated[int, Field(ge=0, le=1_000_000)]
    # Serial-tracked SKUs: the units that arrived (the others are written off as missing).
    serials: list[Serial] = Field(default_factory=list, max_length=10_000)


class ReceiveTransferIn(_In):
    # Omitted or null: everything shipped arrived. Lines not listed arrived in full.
    lines: Annotated[list[ReceiveLineIn], Field(min_length=1, max_length=MAX_LINES)] | None = None
    note: Annotated[str, Field(max_length=255)] = ""


class TransferLineOut(BaseModel):
    id: int
    sku_id: int
    sku_code: str
    quantity: int
    received_quantity: int | None
    serials: list[str]


class TransferOut(BaseModel):
    id: int
    code: str
    source_location_id: int
    source_location_code: str
    dest_location_id: int
    dest_location_code: str
    status: TransferStatus
    note: str
    created_at: datetime
    shipped_at: datetime | None
    received_at: datetime | None
    created_by: str
    lines: list[TransferLineOut]


# ---------------------------------------------------------------- counts and safety stock


class CountLineIn(_In):
    sku_code: Code
    counted: Annotated[int, Field(ge=0, le=10_000_000)]


class CountIn(_In):
    location_code: LocationCode
    lines: Annotated[list[CountLineIn], Field(min_length=1, max_length=10_000)]
    reason: Annotated[str, Field(max_length=255)] = ""


class CountRowError(BaseModel):
    row: int
    field: str
    code: str
    message: str


class StockCountOut(BaseModel):
    id: int
    location_id: int
    location_code: str
    status: str
    reason: str
    created_at: datetime
    created_by: str
    lines: int
    differences: int
    value_delta_fen: int


class CountImportResult(BaseModel):
    rows: int
    applied: int
    differences: int
    value_delta_fen: int
    counts: list[StockCountOut]
    errors: list[CountRowError]


class ChannelSafetyIn(_In):
    location_code: LocationCode
    channel_code: Annotated[str, Field(min_length=1, max_length=32)]
    # Omitted or null: the default for every SKU at this location for this channel.
    sku_code: Code | None = None
    quantity: Annotated[int, Field(ge=0, le=10_000_000)]


class ChannelSafetyOut(BaseModel):
    id: int
    location_id: int
    location_code: str
    channel_code: str
    sku_id: int | None
    sku_code: str | None
    quantity: int


class SafetyStockIn(_In):
    quantity: Annotated[int, Field(ge=0, le=10_000_000)]


class JobAccepted(BaseModel):
    job_id: int
    status_url: str


# ---------------------------------------------------------------- console summary


class GroupFigure(BaseModel):
    key: str
    on_hand: int
    value_fen: int


class StockSummary(BaseModel):
    currency: str
    stock_value_fen: int
    on_hand_units: int
    reserved_units: int
    in_transit_units: int
    below_safety_count: int
    locations_by_type: dict[str, int]
    stock_by_location_type: list[GroupFigure]
    stock_by_city: list[GroupFigure]
