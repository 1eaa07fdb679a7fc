from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.db import Base, utcnow


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), default=None, index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    # Materialised path of ids, "/3/17/", so that "everything under a category" is one LIKE.
    path: Mapped[str] = mapped_column(String(255), default="/", index=True)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")


class AttributeDef(Base):
    """A typed attribute or parameter: text, number (with a unit) or enum (with options)."""

    __tablename__ = "attribute_defs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(16))  # text | number | enum
    unit: Mapped[str | None] = mapped_column(String(16), default=None)
    options: Mapped[list[Any]] = mapped_column(default=list)
    # spu: a parameter of the product (screen size); sku: a sale attribute (colour, storage).
    level: Mapped[str] = mapped_column(String(8), default="spu")


class Spu(Base):
    __tablename__ = "spus"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str] = mapped_column(String(255), default="")
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"), default=None, index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    selling_points: Mapped[list[Any]] = mapped_column(default=list)
    # {attribute code: value}, validated against AttributeDef (numbers in the def's unit).
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    lifecycle: Mapped[str] = mapped_column(String(16), default="draft")  # draft | on_sale | off_sale
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Sku(Base):
    __tablename__ = "skus"
    __table_args__ = (
        CheckConstraint("list_price_fen >= 0", name="list_price_nonneg"),
        CheckConstraint("sale_price_fen >= 0", name="sale_price_nonneg"),
        CheckConstraint("unit_cost_fen >= 0", name="unit_cost_nonneg"),
        Index("ix_skus_lifecycle_id", "lifecycle", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    spu_id: Mapped[int] = mapped_column(ForeignKey("spus.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str] = mapped_column(String(255), default="")
    # {attribute code: value} for sale attributes (level = sku), e.g. {"color": "曜石黑"}.
    sale_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    list_price_fen: Mapped[int] = mapped_column(BigInteger)
    sale_price_fen: Mapped[int] = mapped_column(BigInteger)
    # Standard cost: what stock is worth on the books (stock value, turnover).
    unit_cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    serial_tracked: Mapped[bool] = mapped_column(default=False)
    lifecycle: Mapped[str] = mapped_column(String(16), default="draft")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    weight_g: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SkuBarcode(Base):
    __tablename__ = "sku_barcodes"

    barcode: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)


class ChannelPrice(Base):
    __tablename__ = "channel_prices"
    __table_args__ = (CheckConstraint("price_fen >= 0", name="price_nonneg"),)

    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True)
    channel_code: Mapped[str] = mapped_column(ForeignKey("channels.code"), primary_key=True)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")


class SkuLink(Base):
    """related: shown beside; accessory: fits this SKU (cross-sell: the mouse for the laptop)."""

    __tablename__ = "sku_links"

    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True)
    linked_sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # related | accessory
    # Display order within (sku, kind): the first accessory is the one shown first.
    position: Mapped[int] = mapped_column(Integer, default=0)
