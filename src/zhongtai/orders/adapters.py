"""Channel adapters: each channel's own order payload → the normalised ``OrderIn``.

* ``zhongtai`` — the normalised shape itself (``schemas.OrderIn``).
* ``marketplace`` — a TOP-style trade as Tmall/Taobao push it (JD's is the same idea with other
  words): ``tid``/``oid``, money as yuan strings (``"199.00"``), Beijing local times
  (``"2026-11-11 00:00:03"``), and status words such as ``WAIT_SELLER_SEND_GOODS``.

An adapter reports every bad field at once, named as the channel named it (``body.orders.0.price``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zhongtai.errors import FieldProblem, ValidationFailed, from_pydantic
from zhongtai.orders.schemas import AddressIn, BuyerIn, OrderIn, OrderLineIn

BEIJING = ZoneInfo("Asia/Shanghai")

# Marketplace status word → what it means for us (None: nothing we act on).
MARKETPLACE_STATUS: dict[str, str] = {
    "TRADE_NO_CREATE_PAY": "created",
    "WAIT_BUYER_PAY": "created",
    "PAY_PENDING": "created",
    "WAIT_SELLER_SEND_GOODS": "paid",
    "SELLER_CONSIGNED_PART": "paid",
    "WAIT_BUYER_CONFIRM_GOODS": "paid",
    "TRADE_BUYER_SIGNED": "completed",
    "TRADE_FINISHED": "completed",
    "TRADE_CLOSED": "cancelled",
    "TRADE_CLOSED_BY_TAOBAO": "cancelled",
}
ZHONGTAI_STATUS = {"created": "created", "paid": "paid", "cancelled": "cancelled", "completed": "completed"}
# Marketplace shipping_type → delivery mode.
MARKETPLACE_SHIPPING = {
    "express": "express",
    "free": "express",
    "post": "express",
    "ems": "express",
    "instant": "same_city",
    "o2o_delivery": "same_city",
    "selfpick": "click_collect",
    "o2o_pickup": "click_collect",
}
_YUAN = re.compile(r"^\d{1,10}(\.\d{1,2})?$")


class _Lenient(BaseModel):
    # Marketplaces send many fields we do not use; unknown ones are ignored, not refused.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)


class MarketplaceItem(_Lenient):
    oid: str = Field(min_length=1, max_length=64)
    outer_sku_id: str = Field(min_length=1, max_length=64)
    num: int = Field(ge=1, le=10_000)
    price: str  # unit price, yuan
    discount_fee: str = "0.00"  # for the whole item line, yuan
    title: str = ""


class MarketplaceTrade(_Lenient):
    tid: str = Field(min_length=1, max_length=64)
    status: str = Field(min_length=1, max_length=40)
    created: str | None = None
    pay_time: str | None = None
    buyer_open_uid: str = Field(default="", max_length=64)
    buyer_nick: str = Field(default="", max_length=64)
    receiver_name: str = Field(default="", max_length=64)
    receiver_mobile: str = Field(default="", max_length=32)
    receiver_state: str = Field(default="", max_length=32)
    receiver_city: str = Field(default="", max_length=32)
    receiver_district: str = Field(default="", max_length=32)
    receiver_address: str = Field(default="", max_length=255)
    receiver_zip: str = Field(default="", max_length=16)
    receiver_lat: str | None = None
    receiver_lng: str | None = None
    payment: str | None = None  # what the buyer paid, yuan
    post_fee: str = "0.00"
    discount_fee: str = "0.00"  # order-level (coupons), yuan
    shipping_type: str = "express"
    store_code: str | None = Field(default=None, max_length=32)  # o2o: the store (pick-up / 1-hour)
    consign_due_time: str | None = None  # the promise
    buyer_message: str = Field(default="", max_length=255)
    orders: list[MarketplaceItem] = Field(min_length=1, max_length=200)


def yuan_to_fen(value: str | None, field: str, problems: list[FieldProblem]) -> int:
    """ "199.5" → 19950 exactly (Decimal); anything else is a problem named by ``field``."""
    if value is None:
        return 0
    text = str(value).strip()
    if not _YUAN.match(text):
        problems.append(FieldProblem(field, "invalid_money", f"{text!r} is not an amount in yuan like 199.00"))
        return 0
    try:
        return int(Decimal(text) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes it
        problems.append(FieldProblem(field, "invalid_money", f"{text!r} is not an amount"))
        return 0


def beijing_time(value: str | None, field: str, problems: list[FieldProblem]) -> datetime | None:
    """ "2026-11-11 00:00:03" in Beijing time (or ISO 8601 with an offset) → aware UTC."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        problems.append(FieldProblem(field, "invalid_time", f"{text!r} is not a time like 2026-11-11 00:00:03"))
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BEIJING)
    return parsed.astimezone(UTC)


def _coordinate(value: str | None, field: str, low: float, high: float, problems: list[FieldProblem]) -> float | None:
    if value is None or not str(value).strip():
        return None
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not low <= number <= high:
        problems.append(FieldProblem(field, "invalid_coordinate", f"{value!r} is not between {low} and {high}"))
        return None
    return number


def from_marketplace(payload: dict[str, Any]) -> OrderIn:
    try:
        trade = MarketplaceTrade.model_validate(payload)
    except ValidationError as exc:
        raise from_pydantic(exc, "invalid marketplace trade") from None
    problems: list[FieldProblem] = []
    status = MARKETPLACE_STATUS.get(trade.status)
    if status is None:
        problems.append(
            FieldProblem("body.status", "unknown_status", f"{trade.status!r}: one of {', '.join(MARKETPLACE_STATUS)}")
        )
    mode = MARKETPLACE_SHIPPING.get(trade.shipping_type)
    if mode is None:
        problems.append(
            FieldProblem(
                "body.shipping_type", "unknown_shipping_type", f"one of {', '.join(sorted(MARKETPLACE_SHIPPING))}"
            )
        )
    lines = []
    for i, item in enumerate(trade.orders):
        unit = yuan_to_fen(item.price, f"body.orders.{i}.price", problems)
        discount = yuan_to_fen(item.discount_fee, f"body.orders.{i}.discount_fee", problems)
        lines.append(
            OrderLineIn.model_construct(
                sku_code=item.outer_sku_id,
                quantity=item.num,
                unit_price_fen=unit,
                discount_fen=discount,
                external_line_id=item.oid,
                serials=[],
            )
        )
    paid = yuan_to_fen(trade.payment, "body.payment", problems) if trade.payment is not None else None
    shipping = yuan_to_fen(trade.post_fee, "body.post_fee", problems)
    order_discount = yuan_to_fen(trade.discount_fee, "body.discount_fee", problems)
    placed = beijing_time(trade.created, "body.created", problems)
    paid_at = beijing_time(trade.pay_time, "body.pay_time", problems)
    promised = beijing_time(trade.consign_due_time, "body.consign_due_time", problems)
    lat = _coordinate(trade.receiver_lat, "body.receiver_lat", -90, 90, problems)
    lng = _coordinate(trade.receiver_lng, "body.receiver_lng", -180, 180, problems)
    if problems:
        raise ValidationFailed(f"{len(problems)} invalid field(s)", errors=problems)
    data: dict[str, Any] = {
        "external_id": trade.tid,
        "status": status,
        "placed_at": placed,
        "paid_at": paid_at,
        "delivery_mode": mode,
        "store_code": trade.store_code,
        "lines": [ln.model_dump() for ln in lines],
        "buyer": BuyerIn(
            phone=trade.receiver_mobile, name=trade.receiver_name, marketplace_id=trade.buyer_open_uid
        ).model_dump(),
        "address": AddressIn(
            name=trade.receiver_name,
            phone=trade.receiver_mobile,
            province=trade.receiver_state,
            city=trade.receiver_city,
            district=trade.receiver_district,
            address=trade.receiver_address,
            postcode=trade.receiver_zip,
            latitude=lat,
            longitude=lng,
        ).model_dump(),
        "shipping_fen": shipping,
        "order_discount_fen": order_discount,
        # A marketplace only states the payment once the buyer has paid.
        "paid_fen": paid if status in ("paid", "completed") else None,
        "promised_at": promised,
        "note": trade.buyer_message,
    }
    return from_zhongtai(data)


def from_zhongtai(payload: dict[str, Any]) -> OrderIn:
    try:
        return OrderIn.model_validate(payload)
    except ValidationError as exc:
        raise from_pydantic(exc, "invalid order") from None


ADAPTERS: dict[str, Callable[[dict[str, Any]], OrderIn]] = {
    "zhongtai": from_zhongtai,
    "marketplace": from_marketplace,
}


def status_word(adapter: str, word: str) -> str | None:
    """A channel's status word (``TRADE_CLOSED``, ``paid``) → created | paid | cancelled | completed."""
    table = MARKETPLACE_STATUS if adapter == "marketplace" else ZHONGTAI_STATUS
    return table.get(word)


def normalise(adapter: str, payload: Any) -> OrderIn:
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be a JSON object", errors=[FieldProblem("body", "not_object", "")])
    return ADAPTERS[adapter](payload)


_TOP_STATUS = {"created": "WAIT_BUYER_PAY", "paid": "WAIT_SELLER_SEND_GOODS", "cancelled": "TRADE_CLOSED"}
_TOP_STATUS["completed"] = "TRADE_FINISHED"
_TOP_SHIPPING = {"express": "express", "same_city": "instant", "click_collect": "selfpick", "pos": "selfpick"}


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _beijing(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def to_marketplace(data: OrderIn) -> dict[str, Any]:
    """The inverse of ``from_marketplace``: a normalised order as a TOP-style trade (for the demo,
    tests and benchmarks that play a marketplace channel)."""
    addr = data.address or AddressIn()
    goods = sum(ln.unit_price_fen * ln.quantity - ln.discount_fen for ln in data.lines)
    total = goods - data.order_discount_fen + data.shipping_fen
    return {
        "tid": data.external_id,
        "status": _TOP_STATUS[data.status],
        "created": _beijing(data.placed_at),
        "pay_time": _beijing(data.paid_at),
        "buyer_open_uid": data.buyer.marketplace_id,
        "receiver_name": addr.name or data.buyer.name,
        "receiver_mobile": addr.phone or data.buyer.phone,
        "receiver_state": addr.province,
        "receiver_city": addr.city,
        "receiver_district": addr.district,
        "receiver_address": addr.address,
        "receiver_zip": addr.postcode,
        "receiver_lat": None if addr.latitude is None else f"{addr.latitude:.6f}",
        "receiver_lng": None if addr.longitude is None else f"{addr.longitude:.6f}",
        "payment": _yuan(total) if data.status in ("paid", "completed") else None,
        "post_fee": _yuan(data.shipping_fen),
        "discount_fee": _yuan(data.order_discount_fen),
        "shipping_type": _TOP_SHIPPING[data.delivery_mode],
        "store_code": data.store_code,
        "consign_due_time": _beijing(data.promised_at),
        "buyer_message": data.note,
        "orders": [
            {
                "oid": ln.external_line_id or f"{data.external_id}-{i + 1}",
                "outer_sku_id": ln.sku_code,
                "num": ln.quantity,
                "price": _yuan(ln.unit_price_fen),
                "discount_fee": _yuan(ln.discount_fen),
            }
            for i, ln in enumerate(data.lines)
        ],
    }
