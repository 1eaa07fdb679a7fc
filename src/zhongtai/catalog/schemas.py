"""The catalog's API shapes. Inputs forbid unknown fields; money is integer fen with an ISO currency.

Inputs check shapes and simple bounds; the service checks everything that needs the database
(unknown codes, taken barcodes, parameter values against their definitions) and reports every
problem at once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
AttrCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Fen = Annotated[int, Field(ge=0, le=10**13, strict=True)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class Lifecycle(StrEnum):
    DRAFT = "draft"
    ON_SALE = "on_sale"
    OFF_SALE = "off_sale"


class AttributeKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    ENUM = "enum"


class AttributeLevel(StrEnum):
    SPU = "spu"
    SKU = "sku"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- categories, brands, attributes


class CategoryIn(_In):
    code: Code
    name: str = Field(min_length=1, max_length=128)
    name_en: str = Field(default="", max_length=128)
    parent_code: Code | None = None
    sort_order: int = 0


class CategoryRef(BaseModel):
    code: str
    name: str
    name_en: str = ""


class CategoryNode(BaseModel):
    code: str
    name: str
    name_en: str
    depth: int
    sort_order: int
    children: list[CategoryNode] = Field(default_factory=list)


class BrandIn(_In):
    code: Code
    name: str = Field(min_length=1, max_length=128)
    name_en: str = Field(default="", max_length=128)


class BrandOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str


class AttributeDefIn(_In):
    code: AttrCode
    name: str = Field(min_length=1, max_length=128)
    name_en: str = Field(default="", max_length=128)
    kind: AttributeKind
    unit: str | None = Field(default=None, max_length=16)
    options: list[str] = Field(default_factory=list, max_length=200)
    level: AttributeLevel = AttributeLevel.SPU


class AttributeDefOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str
    kind: str
    unit: str | None
    options: list[str]
    level: str


class AttributeValueOut(BaseModel):
    """A parameter or sale attribute with its definition, ready to show ("屏幕尺寸 6.1 英寸")."""

    code: str
    name: str
    name_en: str
    kind: str
    unit: str | None
    value: Any


# ---------------------------------------------------------------- SPUs


class SpuIn(_In):
    code: Code
    name: str = Field(min_length=1, max_length=255)
    name_en: str = Field(default="", max_length=255)
    category_code: Code
    brand_code: Code | None = None
    description: str = Field(default="", max_length=20_000)
    selling_points: list[str] = Field(default_factory=list)
    # Values are checked against the attribute definitions by the service.
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)


class SpuPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    name_en: str | None = Field(default=None, max_length=255)
    category_code: Code | None = None
    brand_code: Code | None = None
    description: str | None = Field(default=None, max_length=20_000)
    selling_points: list[str] | None = None
    parameters: dict[str, Any] | None = None
    tags: list[str] | None = None


class SpuOut(BaseModel):
    code: str
    name: str
    name_en: str
    category_code: str
    category_name: str
    brand_code: str | None
    brand_name: str | None
    lifecycle: str
    sku_count: int
    created_at: datetime
    updated_at: datetime


class SpuDetailOut(BaseModel):
    code: str
    name: str
    name_en: str
    category_path: list[CategoryRef]
    brand: BrandOut | None
    description: str
    selling_points: list[str]
    parameters: list[AttributeValueOut]
    tags: list[str]
    lifecycle: str
    skus: list[SkuSummaryOut]
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- SKUs


class SkuIn(_In):
    spu_code: Code
    code: Code
    name: str = Field(min_length=1, max_length=255)
    name_en: str = Field(default="", max_length=255)
    sale_attributes: dict[str, Any] = Field(default_factory=dict)
    currency: Currency = "CNY"
    list_price_fen: Fen
    sale_price_fen: Fen
    unit_cost_fen: Fen = 0
    serial_tracked: bool = False
    tags: list[str] = Field(default_factory=list)
    weight_g: int | None = Field(default=None, ge=0)
    barcodes: list[str] = Field(default_factory=list)
    # {channel code: price in fen}, in the SKU's currency.
    channel_prices: dict[str, Fen] = Field(default_factory=dict)
    accessories: list[str] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list)
    lifecycle: Lifecycle = Lifecycle.DRAFT


class SkuPatch(_In):
    spu_code: Code | None = None
    name: str | None = Field(default=None, min_length=1, max_length=255)
    name_en: str | None = Field(default=None, max_length=255)
    sale_attributes: dict[str, Any] | None = None
    currency: Currency | None = None
    list_price_fen: Fen | None = None
    sale_price_fen: Fen | None = None
    unit_cost_fen: Fen | None = None
    serial_tracked: bool | None = None
    tags: list[str] | None = None
    weight_g: int | None = Field(default=None, ge=0)
    barcodes: list[str] | None = None
    channel_prices: dict[str, Fen] | None = None
    accessories: list[str] | None = None
    related: list[str] | None = None
    lifecycle: Lifecycle | None = None


class ChannelPriceIn(_In):
    price_fen: Fen
    # Defaults to the SKU's currency; a different one is refused.
    currency: Currency | None = None


class ChannelPriceOut(BaseModel):
    channel_code: str
    price_fen: int
    currency: str


class SkuLinksIn(_In):
    accessories: list[str] = Field(default_factory=list, max_length=100)
    related: list[str] = Field(default_factory=list, max_length=100)


class LifecycleIn(_In):
    lifecycle: Lifecycle


class BarcodeIn(_In):
    barcode: str = Field(min_length=1, max_length=64)


class LinkedSkuOut(BaseModel):
    code: str
    name: str


class SkuSummaryOut(BaseModel):
    code: str
    name: str
    name_en: str
    spu_code: str
    spu_name: str
    category_code: str
    category_name: str
    brand_code: str | None
    brand_name: str | None
    sale_attributes: dict[str, Any]
    currency: str
    list_price_fen: int
    sale_price_fen: int
    lifecycle: str
    serial_tracked: bool
    barcodes: list[str]
    tags: list[str]


class SkuDetailOut(SkuSummaryOut):
    unit_cost_fen: int
    weight_g: int | None
    spu_lifecycle: str
    description: str
    selling_points: list[str]
    category_path: list[CategoryRef]
    brand: BrandOut | None
    parameters: list[AttributeValueOut]
    attributes: list[AttributeValueOut]
    channel_prices: list[ChannelPriceOut]
    accessories: list[LinkedSkuOut]
    related: list[LinkedSkuOut]
    created_at: datetime
    updated_at: datetime


class ImportAccepted(BaseModel):
    job_id: int
    status_url: str


SpuDetailOut.model_rebuild()
