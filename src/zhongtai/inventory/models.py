from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.db import Base, BigIntPK, utcnow


class Location(Base):
    """central_dc | regional_dc | store | supplier | in_transit (virtual)."""

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    type: Mapped[str] = mapped_column(String(16), index=True)
    region: Mapped[str] = mapped_column(String(32), default="")  # 华东 / 华北 / 华南 / 西南 ...
    province: Mapped[str] = mapped_column(String(32), default="")
    city: Mapped[str] = mapped_column(String(32), default="")
    address: Mapped[str] = mapped_column(String(255), default="")
    # WGS-84 degrees. Coordinates are not money: floats are right here.
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    timezone: Mapped[str] = mapped_column(String(48), default="Asia/Shanghai")
    # {"mon": ["10:00", "22:00"], ...}; empty for round-the-clock DCs.
    opening_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The DC that normally supplies this store (allocation, replenishment).
    parent_dc_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockBalance(Base):
    """Derived from the ledger, updated in the same transaction as each movement.

    available = on_hand - reserved. The CHECKs are the last line of defence for "available never
    below zero"; the conditional UPDATEs in the repository are the first.
    """

    __tablename__ = "stock_balances"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_nonneg"),
        CheckConstraint("reserved >= 0", name="reserved_nonneg"),
        CheckConstraint("reserved <= on_hand", name="reserved_le_on_hand"),
        CheckConstraint("in_transit >= 0", name="in_transit_nonneg"),
        CheckConstraint("safety_stock >= 0", name="safety_nonneg"),
        Index("ix_stock_balances_location", "location_id", "sku_id"),
    )

    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    in_transit: Mapped[int] = mapped_column(Integer, default=0)
    # The minimum this location should hold of this SKU; below it, the SKU shows as "low".
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelSafetyStock(Base):
    """Units of a location's stock that a channel may not sell (kept for the others).

    sku_id NULL is the location × channel default; a row with a SKU overrides it.
    """

    __tablename__ = "channel_safety_stock"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="qty_nonneg"),
        Index(
            "uq_channel_safety_stock_key",
            "location_id",
            "channel_code",
            "sku_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    channel_code: Mapped[str] = mapped_column(ForeignKey("channels.code"))
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("skus.id"), default=None)
    quantity: Mapped[int] = mapped_column(Integer)


class StockMovement(Base):
    """The append-only ledger. Sum of on_hand_delta per SKU × location equals the balance's
    on_hand; sum of in_transit_delta equals its in_transit."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        Index("ix_stock_movements_sku_location", "sku_id", "location_id", "id"),
        Index("ix_stock_movements_location_time", "location_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    # receipt | sale | return | transfer_out | transfer_in | adjustment | count | scrap
    type: Mapped[str] = mapped_column(String(16), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    on_hand_delta: Mapped[int] = mapped_column(Integer, default=0)
    in_transit_delta: Mapped[int] = mapped_column(Integer, default=0)
    on_hand_after: Mapped[int] = mapped_column(Integer)
    reference_type: Mapped[str | None] = mapped_column(String(32), default=None)
    reference_id: Mapped[str | None] = mapped_column(String(64), default=None)
    reason: Mapped[str] = mapped_column(String(255), default="")
    serials: Mapped[list[Any]] = mapped_column(default=list)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(Integer, default=None)
    actor_name: Mapped[str] = mapped_column(String(128))


class Reservation(Base):
    """A hold on stock for an order (or a cart) until it is consumed, released or expires."""

    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_status_expires", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # The caller's id for what is being held (an order number); unique per channel, so a
    # retried reserve call finds the first reservation instead of holding stock twice.
    reference: Mapped[str] = mapped_column(String(64))
    channel_code: Mapped[str | None] = mapped_column(String(32), default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | consumed | released | expired
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    close_reason: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")


# One reservation per (channel, reference), also when the channel is NULL: a plain UNIQUE treats
# NULLs as distinct on both backends, so the key is an expression index.
Index(
    "uq_reservations_channel_reference",
    func.coalesce(Reservation.channel_code, ""),
    Reservation.reference,
    unique=True,
)


class ReservationLine(Base):
    __tablename__ = "reservation_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="qty_pos"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    # Quantity already turned into a sale (partial shipments consume part of a line).
    consumed: Mapped[int] = mapped_column(Integer, default=0)
    # The specific units held (serial-tracked SKUs reserved by serial); empty otherwise.
    serials: Mapped[list[Any]] = mapped_column(default=list)


class SerialNumber(Base):
    """One physical unit (IMEI, unique code): in one place, sold at most once."""

    __tablename__ = "serial_numbers"
    __table_args__ = (UniqueConstraint("sku_id", "serial"), Index("ix_serial_numbers_serial", "serial"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    serial: Mapped[str] = mapped_column(String(64))
    # in_stock | reserved | in_transit | sold | returned | scrapped
    state: Mapped[str] = mapped_column(String(16), default="in_stock")
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), default=None, index=True)
    reservation_id: Mapped[int | None] = mapped_column(ForeignKey("reservations.id"), default=None, index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    sold_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transfer(Base):
    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    source_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    dest_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | shipped | received | cancelled
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shipped_at: Mapped[datetime | None] = mapped_column(default=None)
    received_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class TransferLine(Base):
    __tablename__ = "transfer_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="qty_pos"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    received_quantity: Mapped[int | None] = mapped_column(Integer, default=None)
    serials: Mapped[list[Any]] = mapped_column(default=list)


class StockCount(Base):
    """A physical count of a location; applying it writes ``count`` movements for the differences."""

    __tablename__ = "stock_counts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="applied")
    reason: Mapped[str] = mapped_column(String(255), default="")
    job_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    lines: Mapped[int] = mapped_column(Integer, default=0)
    differences: Mapped[int] = mapped_column(Integer, default=0)
    value_delta_fen: Mapped[int] = mapped_column(BigInteger, default=0)
