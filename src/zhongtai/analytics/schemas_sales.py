"""What the sales and inventory dashboards return (the API's JSON, the console's figures).

Money is integer fen; rates and shares are Decimal fractions (0.8125 = 81.25 %), None when their
denominator is zero; days are local calendar days.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field

# ================================================================ sales


class SalesTotalsOut(BaseModel):
    """The headline figures of one period. Sales lines: paid, status not cancelled, net of
    cancelled and returned units."""

    net_fen: int = Field(description="net sales: Σ net_fen")
    gross_fen: int = Field(description="Σ total_fen of the same lines, before cancellations and returns")
    units: int = Field(description="Σ net_quantity")
    orders: int = Field(description="distinct orders with a line of net_quantity > 0")
    buyers: int = Field(description="distinct members with a line of net_quantity > 0")
    member_net_fen: int = Field(description="net sales of lines that belong to a member")
    aov_fen: int | None = Field(description="average order value: net_fen / orders, rounded half up")
    member_share: Decimal | None = Field(description="member_net_fen / net_fen")
    refund_rate: Decimal | None = Field(description="(gross_fen - net_fen) / gross_fen")


class SalesDayOut(BaseModel):
    """One day of the period next to the day at the same index of the previous period."""

    day: date
    net_fen: int
    orders: int
    units: int
    previous_day: date
    previous_net_fen: int
    previous_orders: int


class BreakdownRowOut(BaseModel):
    """One channel, store or category. ``key`` is the channel code, location id or category id
    (None: lines without one, e.g. online orders that belong to no store); ``merged`` counts the
    members folded into an "others" row."""

    key: str | None
    code: str = ""
    name: str = ""
    name_en: str = ""
    net_fen: int
    orders: int
    units: int
    share: Decimal | None = Field(description="net_fen / the period's net sales")
    merged: int = 0


class SkuSalesOut(BaseModel):
    sku_id: int
    code: str
    name: str
    name_en: str
    units: int
    net_fen: int
    cost_fen: int = Field(description="Σ net_quantity × unit cost (the line's cost at sale, else the SKU's)")
    margin_fen: int = Field(description="net_fen - cost_fen")
    margin_rate: Decimal | None = Field(description="margin_fen / net_fen")


class HourOut(BaseModel):
    hour: int = Field(description="local hour of day the order was placed, 0-23")
    net_fen: int
    orders: int


class SalesDashboard(BaseModel):
    start: date
    end: date
    previous_start: date
    previous_end: date
    currency: str
    has_data: bool = Field(description="False while the lake holds no sales at all")
    current: SalesTotalsOut
    previous: SalesTotalsOut
    by_day: list[SalesDayOut]
    by_channel: list[BreakdownRowOut]
    by_store: list[BreakdownRowOut] = Field(description="top 15 stores by net sales, then one 'others' row")
    category_parent: int | None = Field(description="by_category lists this category's children (None: top level)")
    by_category: list[BreakdownRowOut]
    top_skus: list[SkuSalesOut]
    by_hour: list[HourOut] = Field(description="24 hours, hours without sales included")


# ================================================================ inventory


class StockNowOut(BaseModel):
    value_fen: int = Field(description="Σ on_hand × the SKU's unit cost, positive balances only")
    units: int = Field(description="Σ on_hand of positive balances")
    pairs: int = Field(description="SKU × location pairs with on_hand > 0")
    locations: int = Field(description="locations holding stock")


class TurnoverOut(BaseModel):
    avg_stock_value_fen: int = Field(description="average over the period's days of the end-of-day stock value at cost")
    cogs_fen: int = Field(description="Σ net_quantity × unit cost of the period's sales")
    days: int
    turnover_days: Decimal | None = Field(
        description="avg_stock_value / (cogs / days) = Σ daily stock value / cogs, one decimal; None without sales"
    )


class TurnoverRowOut(BaseModel):
    """Turnover of one category or location (``key`` its id)."""

    key: str | None
    code: str = ""
    name: str = ""
    name_en: str = ""
    stock_value_fen: int = Field(description="stock value at cost now")
    avg_stock_value_fen: int
    cogs_fen: int
    turnover_days: Decimal | None


class PairOut(BaseModel):
    """A SKU at a location, with the names a list shows."""

    sku_id: int
    sku_code: str
    sku_name: str
    sku_name_en: str
    location_id: int
    location_code: str
    location_name: str
    location_name_en: str


class StockoutOut(PairOut):
    on_hand: int
    available: int
    safety_stock: int
    sold_28d: int
    last_sale_day: date | None


class StockoutDayOut(BaseModel):
    day: date
    pairs: int = Field(description="assorted pairs whose end-of-day on_hand was <= 0")


class SlowMoverOut(PairOut):
    on_hand: int
    value_fen: int
    sold_90d: int
    cover_days: Decimal | None = Field(description="on_hand / (sold_90d / 90); None without sales")
    last_sale_day: date | None


class AgeBucketOut(BaseModel):
    bucket: str = Field(description="0-30, 31-60, 61-90, 91-180, 181+ (days since the receipt)")
    units: int
    value_fen: int


class AgedLocationOut(BaseModel):
    location_id: int
    code: str
    name: str
    name_en: str
    value_fen: list[int] = Field(description="value at cost per age bucket, in AGE_BUCKETS order")


class AgedStockOut(PairOut):
    on_hand: int
    value_fen: int
    aged_units: int = Field(description="units older than 90 days")
    aged_value_fen: int
    oldest_days: int | None = Field(description="age of the oldest units; None: older than the ledger")


class InventoryDashboard(BaseModel):
    start: date
    end: date
    as_of: date = Field(description="the local day of the stock balances snapshot (ages are counted to it)")
    currency: str
    has_data: bool = Field(description="False while the lake holds no stock balances")
    now: StockNowOut
    turnover: TurnoverOut
    by_category: list[TurnoverRowOut]
    category_parent: int | None
    by_location: list[TurnoverRowOut]
    stockout_count: int
    stockouts: list[StockoutOut] = Field(description="current stockouts, at most 100, longest-selling first")
    assorted_pairs: int
    stockout_pair_days: int
    stockout_days: list[StockoutDayOut]
    slow_count: int
    slow_value_fen: int
    slow_movers: list[SlowMoverOut] = Field(description="at most 100, highest value first")
    age_buckets: list[AgeBucketOut]
    aged_by_location: list[AgedLocationOut]
    aged_top: list[AgedStockOut] = Field(description="at most 50 pairs with the most value older than 90 days")
