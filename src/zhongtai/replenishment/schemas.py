"""Replenishment's request and response shapes (API, console forms and the service contract).

Request models forbid unknown fields, so a typo is a 422 naming the field. Checks that need the
database (unknown SKU or supplier, a location that is not a supplier, over-receipt) are the
service's, which reports every problem of a request at once.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SuggestionKind = Literal["purchase", "transfer", "rebalance"]
SUGGESTION_KINDS: tuple[str, ...] = ("purchase", "transfer", "rebalance")
SuggestionStatus = Literal["proposed", "approved", "rejected", "ordered", "superseded"]
SUGGESTION_STATUSES: tuple[str, ...] = ("proposed", "approved", "rejected", "ordered", "superseded")
POStatus = Literal["draft", "approved", "sent", "partially_received", "received", "cancelled"]
PO_STATUSES: tuple[str, ...] = ("draft", "approved", "sent", "partially_received", "received", "cancelled")
# Location types a default policy may be set for (suppliers are never replenished).
POLICY_LOCATION_TYPES: tuple[str, ...] = ("central_dc", "regional_dc", "store")
PolicyLocationType = Literal["central_dc", "regional_dc", "store"]

Code = Annotated[str, Field(min_length=1, max_length=64)]
LocationCode = Annotated[str, Field(min_length=1, max_length=32)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]
Days = Annotated[Decimal, Field(gt=0, le=365, max_digits=5, decimal_places=1)]
DaysSd = Annotated[Decimal, Field(ge=0, le=365, max_digits=5, decimal_places=1)]
Fen = Annotated[int, Field(ge=0, le=10**13)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
MAX_LINES = 500


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- supplier terms and policies


class SupplierTermsIn(_In):
    supplier_code: LocationCode
    sku_code: Code
    lead_time_days: Days
    lead_time_sd_days: DaysSd = Decimal("0")
    moq: Quantity = 1
    case_pack: Quantity = 1
    unit_cost_fen: Fen
    currency: Currency = "CNY"
    preferred: bool = False
    auto_approve: bool = False


class SupplierTermsOut(_Out):
    id: int
    supplier_code: str
    supplier_name: str
    sku_code: str
    sku_name: str
    lead_time_days: Decimal
    lead_time_sd_days: Decimal
    moq: int
    case_pack: int
    unit_cost_fen: int
    currency: str
    preferred: bool
    auto_approve: bool
    updated_at: datetime
    updated_by: str


class PolicyIn(_In):
    """A default for a location type (``location_type``) or one SKU at one location (``sku_code``
    and ``location_code``); exactly one of the two scopes."""

    location_type: PolicyLocationType | None = None
    sku_code: Code | None = None
    location_code: LocationCode | None = None
    enabled: bool = True
    review_period_days: Annotated[int, Field(ge=1, le=90)] = 7
    service_level: Annotated[Decimal, Field(gt=Decimal("0.5"), lt=Decimal("1"), max_digits=5, decimal_places=4)] = (
        Decimal("0.95")
    )
    shelf_capacity: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    transfer_lead_time_days: Days = Decimal("2")
    transfer_lead_time_sd_days: DaysSd = Decimal("0.5")
    auto_approve_max_fen: Fen | None = None
    auto_approve_max_change_pct: Annotated[int, Field(ge=0, le=1000)] | None = None


class PolicyOut(_Out):
    id: int
    scope: str
    location_type: str | None
    sku_code: str | None
    location_code: str | None
    enabled: bool
    review_period_days: int
    service_level: Decimal
    shelf_capacity: int | None
    transfer_lead_time_days: Decimal
    transfer_lead_time_sd_days: Decimal
    auto_approve_max_fen: int | None
    auto_approve_max_change_pct: int | None
    updated_at: datetime
    updated_by: str


# ---------------------------------------------------------------- runs and suggestions


class RunOut(_Out):
    id: int
    kind: str
    status: str
    job_id: int | None
    first_day: date
    counts: dict[str, Any]
    message: str
    created_by: str
    started_at: datetime
    finished_at: datetime | None


class RunStartOut(BaseModel):
    job_id: int
    kind: str


class SuggestionOut(_Out):
    id: int
    run_id: int
    kind: str
    status: str
    sku_id: int
    sku_code: str
    sku_name: str
    location_id: int
    location_code: str
    location_name: str
    source_location_id: int
    source_code: str
    source_name: str
    quantity: int
    edited_quantity: int | None
    final_quantity: int
    needed_quantity: int
    demand_over_protection: float
    protection_days: float
    safety_stock: int
    order_up_to: int
    on_hand: int
    on_order: int
    reserved: int
    inventory_position: int
    reasons: list[dict[str, Any]]
    unit_cost_fen: int
    value_fen: int
    currency: str
    auto_rule: str
    decided_by: str
    decided_at: datetime | None
    purchase_order_number: str | None
    transfer_code: str
    created_at: datetime


class QuantityIn(_In):
    quantity: Annotated[int, Field(ge=0, le=1_000_000)]


class ReasonIn(_In):
    reason: Annotated[str, Field(max_length=255)] = ""


class BulkIn(_In):
    ids: Annotated[list[int], Field(min_length=1, max_length=MAX_LINES)]


class BulkOut(BaseModel):
    approved: list[int]
    skipped: list[dict[str, Any]]


# ---------------------------------------------------------------- purchase orders and receipts


class POLineIn(_In):
    sku_code: Code
    quantity: Quantity
    unit_cost_fen: Fen | None = None  # the supplier terms' cost when omitted


class POIn(_In):
    supplier_code: LocationCode
    dest_location_code: LocationCode
    lines: Annotated[list[POLineIn], Field(min_length=1, max_length=MAX_LINES)]
    expected_date: date | None = None
    note: Annotated[str, Field(max_length=255)] = ""


class POFromSuggestionsIn(_In):
    """Approved purchase suggestions to turn into POs (one per supplier x destination x run);
    every approved, not yet ordered purchase suggestion when ``ids`` is omitted."""

    ids: Annotated[list[int], Field(max_length=MAX_LINES)] | None = None


class ReceiveLineIn(_In):
    sku_code: Code
    quantity: Quantity
    serials: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=10_000)] = Field(
        default_factory=list
    )


class ReceiveIn(_In):
    lines: Annotated[list[ReceiveLineIn], Field(min_length=1, max_length=MAX_LINES)]
    note: Annotated[str, Field(max_length=255)] = ""


class POLineOut(_Out):
    id: int
    line_no: int
    sku_id: int
    sku_code: str
    sku_name: str
    serial_tracked: bool
    quantity: int
    received_quantity: int
    open_quantity: int
    unit_cost_fen: int
    total_fen: int


class ReceiptLineOut(_Out):
    sku_code: str
    quantity: int
    serials: list[str]


class ReceiptOut(_Out):
    id: int
    number: str
    purchase_order_number: str
    location_code: str
    units: int
    value_fen: int
    movement_ids: list[int]
    note: str
    received_by: str
    received_at: datetime
    lines: list[ReceiptLineOut]


class POSummaryOut(_Out):
    id: int
    number: str
    status: str
    supplier_code: str
    supplier_name: str
    dest_location_code: str
    dest_location_name: str
    currency: str
    total_fen: int
    received_fen: int
    lines: int
    units: int
    received_units: int
    expected_date: date | None
    run_id: int | None
    created_by: str
    created_at: datetime


class POOut(POSummaryOut):
    note: str
    cancel_reason: str
    approved_by: str
    approved_at: datetime | None
    sent_at: datetime | None
    received_at: datetime | None
    cancelled_at: datetime | None
    order_lines: list[POLineOut]
    receipts: list[ReceiptOut]
    suggestion_ids: list[int]


# ---------------------------------------------------------------- transfers


class TransferLinkOut(_Out):
    transfer_code: str
    kind: str
    reason: str
    details: dict[str, Any]
    suggestion_id: int | None
    status: str
    source_code: str
    dest_code: str
    units: int
    created_by: str
    created_at: datetime
