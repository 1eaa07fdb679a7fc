"""Replenishment's tables: supplier terms, policies, suggestion runs and suggestions (with the
policy's reasoning), purchase orders with their lines and receipts, and the link between an
inventory transfer and the allocation or rebalancing decision that created it.

Every change goes through a verb in ``replenishment.service`` that takes the acting principal and
writes the audit record. Purchase orders and suggestions change state only through conditional
UPDATEs (``... WHERE status = :expected``) in the repository, so two clients acting at once on the
same row cannot both succeed.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.db import Base, BigIntPK, utcnow


class SupplierTerms(Base):
    """What one supplier (a location of type ``supplier``) offers for one SKU."""

    __tablename__ = "supplier_terms"
    __table_args__ = (
        UniqueConstraint("supplier_location_id", "sku_id"),
        CheckConstraint("moq >= 1", name="moq_pos"),
        CheckConstraint("case_pack >= 1", name="case_pack_pos"),
        CheckConstraint("unit_cost_fen >= 0", name="cost_nonneg"),
        CheckConstraint("lead_time_days > 0", name="lead_pos"),
        CheckConstraint("lead_time_sd_days >= 0", name="lead_sd_nonneg"),
        Index("ix_supplier_terms_sku", "sku_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    # Days from sending the PO to goods on hand: mean and standard deviation.
    lead_time_days: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    lead_time_sd_days: Mapped[Decimal] = mapped_column(Numeric(5, 1), default=Decimal("0"))
    moq: Mapped[int] = mapped_column(Integer, default=1)
    case_pack: Mapped[int] = mapped_column(Integer, default=1)
    unit_cost_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    # The supplier a DC orders this SKU from when several offer it.
    preferred: Mapped[bool] = mapped_column(default=False)
    # Vendor-managed terms: suggestions to this supplier for this SKU are approved automatically.
    auto_approve: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="")


class ReplenishmentPolicy(Base):
    """How one SKU x location is replenished, or the default for a location type.

    ``scope`` is ``type:<location type>`` (the default, sku and location NULL) or
    ``pair:<sku_id>:<location_id>``; a pair's row wins over its location type's default.
    """

    __tablename__ = "replenishment_policies"
    __table_args__ = (
        CheckConstraint("review_period_days >= 1", name="review_pos"),
        CheckConstraint("service_level > 0 AND service_level < 1", name="service_level_range"),
        CheckConstraint("shelf_capacity IS NULL OR shelf_capacity >= 0", name="shelf_nonneg"),
        CheckConstraint("auto_approve_max_fen IS NULL OR auto_approve_max_fen >= 0", name="auto_fen_nonneg"),
        CheckConstraint(
            "auto_approve_max_change_pct IS NULL OR auto_approve_max_change_pct >= 0", name="auto_pct_nonneg"
        ),
        Index("ix_replenishment_policies_location", "location_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(48), unique=True)
    location_type: Mapped[str | None] = mapped_column(String(16), default=None)
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("skus.id"), default=None)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), default=None)
    # False: this pair is not replenished (a discontinued SKU, a store that does not list it).
    enabled: Mapped[bool] = mapped_column(default=True)
    review_period_days: Mapped[int] = mapped_column(Integer, default=7)
    service_level: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0.95"))
    shelf_capacity: Mapped[int | None] = mapped_column(Integer, default=None)
    # Stores: days from approving a transfer to goods on the shelf, from the store's DC (mean, sd).
    # DCs take their lead time from the supplier's terms instead.
    transfer_lead_time_days: Mapped[Decimal] = mapped_column(Numeric(5, 1), default=Decimal("2"))
    transfer_lead_time_sd_days: Mapped[Decimal] = mapped_column(Numeric(5, 1), default=Decimal("0.5"))
    # Auto-approval: a suggestion worth at most this much (NULL: never by value) whose quantity is
    # within this percentage of the last approved one for the pair (NULL: no such condition).
    auto_approve_max_fen: Mapped[int | None] = mapped_column(BigInteger, default=None)
    auto_approve_max_change_pct: Mapped[int | None] = mapped_column(Integer, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="")


class ReplenishmentRun(Base):
    """One pass of the suggestion (or rebalancing) job."""

    __tablename__ = "replenishment_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="suggest")  # suggest | rebalance
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | succeeded | failed
    job_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The first day the forecast covers (tomorrow in Beijing when the run started).
    first_day: Mapped[date] = mapped_column(Date)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Suggestion(Base):
    """A proposed order (from a supplier), replenishment transfer (from the store's DC) or
    rebalancing transfer (between two locations), with the policy's numbers and reasons."""

    __tablename__ = "replenishment_suggestions"
    __table_args__ = (
        UniqueConstraint("run_id", "kind", "sku_id", "location_id", "source_location_id"),
        CheckConstraint("quantity >= 0", name="qty_nonneg"),
        CheckConstraint("edited_quantity IS NULL OR edited_quantity >= 0", name="edited_nonneg"),
        Index("ix_replenishment_suggestions_status", "status", "id"),
        Index("ix_replenishment_suggestions_location", "location_id", "status"),
        Index("ix_replenishment_suggestions_pair", "sku_id", "location_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("replenishment_runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # purchase | transfer | rebalance
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    # Where the goods go, and where they come from (a supplier, the store's DC, an overstocked location).
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    source_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    # proposed | approved | rejected | ordered (a PO or transfer exists) | superseded (a newer run)
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    quantity: Mapped[int] = mapped_column(Integer)
    edited_quantity: Mapped[int | None] = mapped_column(Integer, default=None)
    # Before allocation cut it (a DC short of stock for all its stores); equals quantity otherwise.
    needed_quantity: Mapped[int] = mapped_column(Integer, default=0)
    # The policy's numbers, as the console prints them.
    demand_over_protection: Mapped[float] = mapped_column(Float, default=0.0)
    protection_days: Mapped[float] = mapped_column(Float, default=0.0)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    order_up_to: Mapped[int] = mapped_column(Integer, default=0)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    on_order: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    inventory_position: Mapped[int] = mapped_column(Integer, default=0)
    # [{"code": "forecast", "days": 14, "units": 93.4}, ...] from policy.suggest(), plus ours.
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    unit_cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    # Which auto-approval rule approved it ("value_and_change", "supplier_opt_in"), empty if a person did.
    auto_rule: Mapped[str] = mapped_column(String(32), default="")
    decided_by: Mapped[str] = mapped_column(String(128), default="")
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    purchase_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchase_orders.id", ondelete="SET NULL"), default=None, index=True
    )
    transfer_code: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def final_quantity(self) -> int:
        return self.edited_quantity if self.edited_quantity is not None else self.quantity


class PurchaseOrder(Base):
    """draft -> approved -> sent -> partially_received -> received, or cancelled (before goods)."""

    __tablename__ = "purchase_orders"
    __table_args__ = (
        CheckConstraint("total_fen >= 0", name="total_nonneg"),
        CheckConstraint("received_fen >= 0", name="received_nonneg"),
        Index("ix_purchase_orders_status", "status", "id"),
        Index("ix_purchase_orders_supplier", "supplier_location_id", "id"),
        Index("ix_purchase_orders_dest", "dest_location_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # PO + yymmdd + 6 digits of the id.
    number: Mapped[str] = mapped_column(String(32), unique=True)
    supplier_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    dest_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    received_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    expected_date: Mapped[date | None] = mapped_column(Date, default=None)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("replenishment_runs.id", ondelete="SET NULL"), default=None, index=True
    )
    note: Mapped[str] = mapped_column(String(255), default="")
    cancel_reason: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    approved_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    received_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "line_no"),
        UniqueConstraint("purchase_order_id", "sku_id"),
        CheckConstraint("quantity > 0", name="qty_pos"),
        CheckConstraint("received_quantity >= 0 AND received_quantity <= quantity", name="received_le_qty"),
        CheckConstraint("unit_cost_fen >= 0", name="cost_nonneg"),
        Index("ix_purchase_order_lines_sku", "sku_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    received_quantity: Mapped[int] = mapped_column(Integer, default=0)
    unit_cost_fen: Mapped[int] = mapped_column(BigInteger)
    total_fen: Mapped[int] = mapped_column(BigInteger)


class Receipt(Base):
    """Goods received against a purchase order, posted to inventory as ``receipt`` movements whose
    reference is the PO number."""

    __tablename__ = "po_receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # <PO number>-R<n>
    number: Mapped[str] = mapped_column(String(40), unique=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    units: Mapped[int] = mapped_column(Integer, default=0)
    value_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The stock movements this receipt wrote (inventory ledger ids).
    movement_ids: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(String(255), default="")
    received_by: Mapped[str] = mapped_column(String(128), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReceiptLine(Base):
    __tablename__ = "po_receipt_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="qty_pos"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("po_receipts.id", ondelete="CASCADE"), index=True)
    purchase_order_line_id: Mapped[int] = mapped_column(ForeignKey("purchase_order_lines.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    serials: Mapped[list[Any]] = mapped_column(default=list)


class TransferLink(Base):
    """Why an inventory transfer exists: a replenishment (store from its DC, possibly allocated
    when the DC was short) or a rebalancing move, and which suggestion it came from."""

    __tablename__ = "replenishment_transfer_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transfer_code: Mapped[str] = mapped_column(String(32), unique=True)
    suggestion_id: Mapped[int | None] = mapped_column(
        ForeignKey("replenishment_suggestions.id", ondelete="SET NULL"), default=None, index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # replenishment | allocation | rebalance
    reason: Mapped[str] = mapped_column(String(255), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
