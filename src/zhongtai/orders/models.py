"""The order center's tables. Every change of an order's state goes through
``service._transition`` (or ``_fulfilment_transition``), which writes an ``OrderEvent`` row (the
timeline: who, when, from, to) and an outbox event in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.db import Base, BigIntPK, utcnow


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel_code", "external_id"),
        Index("ix_orders_status_placed", "status", "placed_at"),
        Index("ix_orders_placed", "placed_at"),
        CheckConstraint("total_fen >= 0", name="total_nonneg"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # Zhongtai's order number, shown everywhere: ZT + yymmdd + 8 base32 characters.
    number: Mapped[str] = mapped_column(String(32), unique=True)
    channel_code: Mapped[str] = mapped_column(ForeignKey("channels.code"))
    # The channel's own order id (tid); (channel, external id) is the idempotency key of intake.
    external_id: Mapped[str] = mapped_column(String(64))
    # created | reserved | routed | picking | packed | partially_shipped | shipped | delivered |
    # completed | cancelled
    status: Mapped[str] = mapped_column(String(20), default="created")
    # unpaid | paid | partially_refunded | refunded
    payment_status: Mapped[str] = mapped_column(String(20), default="unpaid")
    # The channel's last status word as it sent it (TRADE_FINISHED, paid ...).
    channel_status: Mapped[str] = mapped_column(String(40), default="")
    # express | same_city | click_collect | pos
    delivery_mode: Mapped[str] = mapped_column(String(16))
    # The store that sold (POS) or where the buyer collects (click & collect).
    store_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), default=None, index=True)
    # Buyer identifiers, handed to the member center (OneID) through the outbox.
    buyer_phone: Mapped[str] = mapped_column(String(32), default="", index=True)
    buyer_name: Mapped[str] = mapped_column(String(64), default="")
    buyer_unionid: Mapped[str] = mapped_column(String(64), default="")
    buyer_marketplace_id: Mapped[str] = mapped_column(String(64), default="")
    buyer_email: Mapped[str] = mapped_column(String(128), default="")
    member_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    # Delivery address (express / same-city); coordinates WGS-84 when the channel gives them.
    ship_name: Mapped[str] = mapped_column(String(64), default="")
    ship_phone: Mapped[str] = mapped_column(String(32), default="")
    ship_province: Mapped[str] = mapped_column(String(32), default="")
    ship_city: Mapped[str] = mapped_column(String(32), default="")
    ship_district: Mapped[str] = mapped_column(String(32), default="")
    ship_address: Mapped[str] = mapped_column(String(255), default="")
    ship_postcode: Mapped[str] = mapped_column(String(16), default="")
    ship_latitude: Mapped[float | None] = mapped_column(default=None)
    ship_longitude: Mapped[float | None] = mapped_column(default=None)
    # Money, integer fen.
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    goods_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # Σ unit price × quantity
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # line + order discounts
    shipping_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # what the buyer pays
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str] = mapped_column(String(255), default="")
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    # Unpaid orders are cancelled (stock released) after this.
    pay_by: Mapped[datetime | None] = mapped_column(default=None)
    promised_at: Mapped[datetime | None] = mapped_column(default=None)
    eta_at: Mapped[datetime | None] = mapped_column(default=None)
    shipped_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_reason: Mapped[str] = mapped_column(String(255), default="")
    # True while the order has an open exception (stock short, cancel after shipment ...).
    on_hold: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0", name="qty_pos"),
        CheckConstraint("shipped + cancelled <= quantity", name="shipped_le_qty"),
        CheckConstraint("returned <= shipped", name="returned_le_shipped"),
        Index("ix_order_lines_sku", "sku_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    external_line_id: Mapped[str] = mapped_column(String(64), default="")
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    sku_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # for the whole line
    total_fen: Mapped[int] = mapped_column(BigInteger)  # unit × qty − discount
    shipped: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)


class Fulfilment(Base):
    """What one location sends (or hands over) for an order: a parcel, a rider trip, a pick-up."""

    __tablename__ = "fulfilments"
    __table_args__ = (Index("ix_fulfilments_location_status", "location_id", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # <order number>-F1
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    # ship | same_city | pickup | pos
    kind: Mapped[str] = mapped_column(String(16))
    # routed | picking | packed | shipped | delivered | rejected | cancelled
    status: Mapped[str] = mapped_column(String(16), default="routed")
    reservation_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Click & collect from another location: stock goes by transfer to this store first.
    transfer_to_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), default=None)
    transfer_code: Mapped[str] = mapped_column(String(32), default="")
    cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    carrier: Mapped[str] = mapped_column(String(32), default="")
    tracking_no: Mapped[str] = mapped_column(String(64), default="")
    eta_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reject_reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    shipped_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class FulfilmentLine(Base):
    __tablename__ = "fulfilment_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="qty_pos"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    fulfilment_id: Mapped[int] = mapped_column(ForeignKey("fulfilments.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    shipped: Mapped[int] = mapped_column(Integer, default=0)
    # Serial numbers captured at picking (serial-tracked SKUs).
    serials: Mapped[list[Any]] = mapped_column(default=list)


class OrderEvent(Base):
    """The order's timeline: every state change and notable step, with who did it."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # status | payment | routing | fulfilment | return | refund | exception | note | channel
    kind: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(20), default="")
    to_status: Mapped[str] = mapped_column(String(20), default="")
    fulfilment_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    message: Mapped[str] = mapped_column(String(255), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(Integer, default=None)
    actor_name: Mapped[str] = mapped_column(String(128))


class RoutingDecision(Base):
    """Why an order (or what was left of it) went where it went."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # capture | reroute_rejected | reroute_cancelled | manual | retry | payment_late
    trigger: Mapped[str] = mapped_column(String(24))
    method: Mapped[str] = mapped_column(String(16))  # single | exact | feasible | none | manual
    cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    legs: Mapped[int] = mapped_column(Integer, default=0)
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor_name: Mapped[str] = mapped_column(String(128), default="")


class OrderException(Base):
    """The exception queue: what intake or routing could not settle by itself."""

    __tablename__ = "order_exceptions"
    __table_args__ = (Index("ix_order_exceptions_open", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), default=None, index=True)
    channel_code: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64), default="")
    # no_stock | cancel_after_shipment | amount_mismatch | same_city_unavailable | reroute_failed
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[str] = mapped_column(String(128), default="")
    resolution: Mapped[str] = mapped_column(String(255), default="")


class ParkedStatusUpdate(Base):
    """A status update that arrived before its order (paid before created): applied on arrival."""

    __tablename__ = "parked_status_updates"
    __table_args__ = (Index("ix_parked_status_updates_key", "channel_code", "external_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    channel_code: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(40))  # the normalised status
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReturnRequest(Base):
    __tablename__ = "order_returns"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # <order number>-R1
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    # requested | approved | rejected | received | closed
    status: Mapped[str] = mapped_column(String(16), default="requested")
    reason: Mapped[str] = mapped_column(String(255), default="")
    # The store or DC that took the goods back (any store may).
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), default=None)
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    received_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class ReturnLine(Base):
    __tablename__ = "order_return_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="qty_pos"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("order_returns.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    # restock | scrap (decided at receipt)
    disposition: Mapped[str] = mapped_column(String(16), default="")
    serials: Mapped[list[Any]] = mapped_column(default=list)
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class Refund(Base):
    __tablename__ = "order_refunds"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_pos"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    return_id: Mapped[int | None] = mapped_column(ForeignKey("order_returns.id"), default=None)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    # pending | succeeded | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(String(255), default="")
    external_ref: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class FulfilmentSettings(Base):
    """Per-location order-fulfilment rules: workload cap, whether it ships parcels, 1-hour delivery."""

    __tablename__ = "fulfilment_settings"

    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    # Open fulfilments (routed, picking, packed) at or above which routing skips the location.
    workload_cap: Mapped[int | None] = mapped_column(Integer, default=None)
    ships_express: Mapped[bool] = mapped_column(default=True)
    same_city: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="")
