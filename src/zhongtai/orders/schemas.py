"""The order center's shapes: the normalised order every adapter produces, and what the API returns.

``OrderIn`` is both the "zhongtai" channel format (what a channel that speaks our shape posts)
and the output of every other adapter. Request models forbid unknown fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

DeliveryMode = Literal["express", "same_city", "click_collect", "pos"]
DELIVERY_MODES: tuple[str, ...] = ("express", "same_city", "click_collect", "pos")
# What a channel can say about an order. Everything else (routing, picking, shipping) happens here.
ChannelStatus = Literal["created", "paid", "cancelled", "completed"]
OrderStatus = Literal[
    "created",
    "reserved",
    "routed",
    "picking",
    "packed",
    "partially_shipped",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
]
ORDER_STATUSES: tuple[str, ...] = (
    "created",
    "reserved",
    "routed",
    "picking",
    "packed",
    "partially_shipped",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
)
FulfilmentStatus = Literal["routed", "picking", "packed", "shipped", "delivered", "rejected", "cancelled"]
PaymentStatus = Literal["unpaid", "paid", "partially_refunded", "refunded"]

Fen = Annotated[int, Field(ge=0, le=10**12)]
Text32 = Annotated[str, Field(max_length=32)]
Text64 = Annotated[str, Field(max_length=64)]
MAX_LINES = 200


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class BuyerIn(_In):
    phone: Text32 = ""
    name: Text64 = ""
    unionid: Text64 = ""  # WeChat unionid
    marketplace_id: Text64 = ""  # the marketplace's buyer id (JD pin, Tmall buyer_open_uid)
    email: Annotated[str, Field(max_length=128)] = ""


class AddressIn(_In):
    name: Text64 = ""
    phone: Text32 = ""
    province: Text32 = ""
    city: Text32 = ""
    district: Text32 = ""
    address: Annotated[str, Field(max_length=255)] = ""
    postcode: Annotated[str, Field(max_length=16)] = ""
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None


class OrderLineIn(_In):
    sku_code: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=10_000)]
    unit_price_fen: Fen
    # Discount on the whole line, in fen (not per unit).
    discount_fen: Fen = 0
    external_line_id: Text64 = ""
    # POS: the units sold (serial-tracked SKUs), exactly ``quantity`` of them.
    serials: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=10_000)


class OrderIn(_In):
    """An order in Zhongtai's shape. ``status`` is what the channel says now; sending the same
    order again with a later status is a status update."""

    external_id: Annotated[str, Field(min_length=1, max_length=64)]
    status: ChannelStatus = "created"
    placed_at: AwareDatetime | None = None
    paid_at: AwareDatetime | None = None
    delivery_mode: DeliveryMode = "express"
    # POS: the selling store; click & collect: where the buyer collects.
    store_code: Annotated[str, Field(max_length=32)] | None = None
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=MAX_LINES)]
    buyer: BuyerIn = Field(default_factory=BuyerIn)
    address: AddressIn | None = None
    currency: Literal["CNY"] = "CNY"
    shipping_fen: Fen = 0
    # Order-level discount (coupons) on top of line discounts.
    order_discount_fen: Fen = 0
    # What the buyer paid; when given it must equal the total.
    paid_fen: Fen | None = None
    promised_at: AwareDatetime | None = None
    note: Annotated[str, Field(max_length=255)] = ""
    # Stock short at capture: keep the order and queue it ("backorder", the default: a paid
    # marketplace order cannot be refused) or refuse it with 409 ("reject": web checkout).
    on_short: Literal["backorder", "reject"] = "backorder"


class StatusUpdateIn(_In):
    status: Annotated[str, Field(min_length=1, max_length=40)]
    at: AwareDatetime | None = None
    reason: Annotated[str, Field(max_length=255)] = ""
    paid_fen: Fen | None = None


# ---------------------------------------------------------------- out


class OrderLineOut(_Out):
    line_no: int
    sku_id: int
    sku_code: str
    name: str
    quantity: int
    unit_price_fen: int
    discount_fen: int
    total_fen: int
    shipped: int
    cancelled: int
    returned: int


class FulfilmentLineOut(BaseModel):
    line_no: int
    sku_code: str
    quantity: int
    shipped: int
    serials: list[str]


class FulfilmentOut(BaseModel):
    id: int
    number: str
    location_code: str
    location_name: str
    kind: str
    status: str
    transfer_to_location_code: str | None
    cost_fen: int
    carrier: str
    tracking_no: str
    eta_at: datetime | None
    reject_reason: str
    shipped_at: datetime | None
    delivered_at: datetime | None
    lines: list[FulfilmentLineOut]


class AddressOut(BaseModel):
    name: str
    phone: str
    province: str
    city: str
    district: str
    address: str
    postcode: str
    latitude: float | None
    longitude: float | None


class BuyerOut(BaseModel):
    phone: str
    name: str
    unionid: str
    marketplace_id: str
    email: str
    member_id: int | None


class OrderOut(BaseModel):
    id: int
    number: str
    channel_code: str
    external_id: str
    status: str
    payment_status: str
    channel_status: str
    delivery_mode: str
    store_code: str | None
    on_hold: bool
    buyer: BuyerOut
    address: AddressOut
    currency: str
    goods_fen: int
    discount_fen: int
    shipping_fen: int
    total_fen: int
    paid_fen: int
    refunded_fen: int
    placed_at: datetime
    paid_at: datetime | None
    pay_by: datetime | None
    promised_at: datetime | None
    eta_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    lines: list[OrderLineOut]
    fulfilments: list[FulfilmentOut]


class OrderSummaryOut(BaseModel):
    id: int
    number: str
    channel_code: str
    external_id: str
    status: str
    payment_status: str
    delivery_mode: str
    on_hold: bool
    buyer_phone: str
    buyer_name: str
    total_fen: int
    currency: str
    placed_at: datetime
    eta_at: datetime | None
    lines: int
    units: int


class IntakeOut(BaseModel):
    """What intake did: ``created`` false means the order was known (a duplicate or an update)."""

    created: bool
    applied: list[str]
    parked: bool = False
    order: OrderOut | None


class TimelineEntryOut(_Out):
    id: int
    at: datetime
    kind: str
    from_status: str
    to_status: str
    fulfilment_id: int | None
    message: str
    data: dict[str, Any]
    actor_type: str
    actor_name: str


class RoutingDecisionOut(_Out):
    id: int
    at: datetime
    trigger: str
    method: str
    cost_fen: int
    legs: int
    explanation: dict[str, Any]
    actor_name: str


class ExceptionOut(_Out):
    id: int
    order_id: int | None
    order_number: str | None = None
    channel_code: str
    external_id: str
    kind: str
    message: str
    data: dict[str, Any]
    status: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str
    resolution: str


# ---------------------------------------------------------------- verbs


class PickLineIn(_In):
    line_no: int
    serials: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=10_000)


class PickIn(_In):
    # Serial numbers of the units picked, for serial-tracked lines.
    lines: list[PickLineIn] = Field(default_factory=list, max_length=MAX_LINES)


class ShipLineIn(_In):
    line_no: int
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class ShipIn(_In):
    carrier: Text32 = ""
    tracking_no: Text64 = ""
    # Omitted: everything in the fulfilment. Otherwise a partial shipment of these lines.
    lines: list[ShipLineIn] | None = None


class ReasonIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=255)]


class RerouteIn(_In):
    # Optional: force these locations (manual re-route), else the router decides.
    location_code: Annotated[str, Field(max_length=32)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=255)]


class ReturnLineIn(_In):
    line_no: int
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class ReturnRequestIn(_In):
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=MAX_LINES)]
    reason: Annotated[str, Field(min_length=1, max_length=255)]


class ReceiveLineIn(_In):
    line_no: int
    quantity: Annotated[int, Field(ge=1, le=10_000)]
    disposition: Literal["restock", "scrap"] = "restock"
    serials: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=10_000)


class ReturnReceiveIn(_In):
    location_code: Annotated[str, Field(min_length=1, max_length=32)]
    # Omitted: every requested unit, restocked.
    lines: list[ReceiveLineIn] | None = None


class RefundSettleIn(_In):
    external_ref: Text64 = ""
    succeeded: bool = True


class ReturnLineOut(BaseModel):
    line_no: int
    sku_code: str
    quantity: int
    disposition: str
    serials: list[str]
    refund_fen: int


class ReturnOut(BaseModel):
    id: int
    number: str
    order_number: str
    status: str
    reason: str
    location_code: str | None
    refund_fen: int
    requested_at: datetime
    decided_at: datetime | None
    received_at: datetime | None
    created_by: str
    lines: list[ReturnLineOut]


class RefundOut(_Out):
    id: int
    order_id: int
    return_id: int | None
    amount_fen: int
    status: str
    reason: str
    external_ref: str
    created_at: datetime
    settled_at: datetime | None
    created_by: str


class ReturnEligibilityLine(BaseModel):
    line_no: int
    sku_code: str
    returnable: int
    deadline: datetime | None
    reason: str  # "ok", "not_delivered", "window_closed", "all_returned"


class ReturnEligibilityOut(BaseModel):
    order_number: str
    eligible: bool
    window_days: int
    lines: list[ReturnEligibilityLine]


class FulfilmentSettingsIn(_In):
    workload_cap: Annotated[int, Field(ge=0, le=100_000)] | None = None
    ships_express: bool = True
    same_city: bool = True


class QueueItemOut(BaseModel):
    """A store's fulfilment queue row: what to pick now, most urgent first."""

    fulfilment: FulfilmentOut
    order_number: str
    delivery_mode: str
    placed_at: datetime
    due_at: datetime | None
