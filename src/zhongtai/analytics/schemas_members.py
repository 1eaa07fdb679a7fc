"""What the member and store-traffic dashboards return (the API's JSON, the console's figures).

Money is integer fen; rates are Decimal fractions (0.25 = 25 %), None when their denominator is
zero; durations are seconds; days are local (Asia/Shanghai) calendar days.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

Granularity = Literal["day", "week", "month"]
Stage = Literal["none", "aware", "appeal", "act", "advocate"]
DwellBucket = Literal["lt5", "5_15", "15_30", "30_60", "gt60"]


class MemberKpisOut(BaseModel):
    total_members: int = Field(description="active members in scope who joined on or before the end")
    new_members: int = Field(description="members who joined in the period")
    new_members_previous: int = Field(description="members who joined in the previous, equally long period")
    active_buyers: int = Field(description="members with at least one paid order in the period")
    active_buyers_previous: int
    repeat_buyers: int = Field(description="active buyers with two or more paid orders in the period")
    repeat_rate: Decimal | None = Field(description="repeat_buyers / active_buyers")
    repeat_rate_previous: Decimal | None
    member_sales_fen: int = Field(description="net sales of orders with a member")
    sales_fen: int = Field(description="net sales of all orders")
    member_share: Decimal | None = Field(description="member_sales_fen / sales_fen")
    member_share_previous: Decimal | None


class GrowthBucketOut(BaseModel):
    start: date = Field(description="first day of the bucket (a day, a Monday or the 1st of a month)")
    new_by_channel: dict[str, int] = Field(description="new members by enrolment channel code ('' = unknown)")
    new_members: int
    cumulative: int = Field(description="members in scope who joined on or before the bucket's last day")


class SegmentOut(BaseModel):
    segment: str = Field(description="RFM segment code ('' = not scored: no orders yet)")
    members: int
    share: Decimal | None
    avg_spend_fen: int = Field(description="average lifetime net spend, fen (rounded)")


class FunnelStepOut(BaseModel):
    stage: Stage
    members: int = Field(description="members whose highest stage is this one")
    reached: int = Field(description="members at this stage or a higher one")
    conversion: Decimal | None = Field(description="reached / reached at the previous stage (None for the first)")


class FunnelOut(BaseModel):
    window_days: int
    start_day: date = Field(description="the stage 'at the start' is as of this day (the day before the period)")
    end_day: date
    population: int
    steps: list[FunnelStepOut]
    matrix: list[list[int]] = Field(
        description="[start stage][end stage] in the order none, aware, appeal, act, advocate"
    )
    moved_up: int
    stayed: int
    moved_down: int


class MembersDashboardOut(BaseModel):
    start: date
    end: date
    lake_empty: bool = Field(description="the lake holds no members and no sales yet")
    kpis: MemberKpisOut
    granularity: Granularity
    channels: list[str] = Field(description="enrolment channels present in growth, in legend order")
    growth: list[GrowthBucketOut]
    segments: list[SegmentOut]
    rfm_grid: list[list[int]] = Field(description="members by [recency score - 1][frequency score - 1]")
    unscored: int = Field(description="members in scope without RFM scores")
    funnel: FunnelOut


class TrafficFiguresOut(BaseModel):
    visitors: int = Field(description="distinct visitors (anonymous_id) per store and day, summed")
    entries: int
    exits: int
    buyers: int = Field(description="distinct paid POS orders at the stores")
    conversion: Decimal | None = Field(description="buyers / visitors")
    avg_dwell_s: Decimal | None = Field(description="mean dwell_s of store_exit events")
    pos_sales_fen: int = Field(description="net POS sales at the stores")
    sales_per_visitor_fen: int | None


class TrafficDayOut(BaseModel):
    day: date
    visitors: int
    buyers: int
    conversion: Decimal | None


class TrafficHourOut(BaseModel):
    hour: int
    visitors: int = Field(description="visitors who entered in this local hour, over the period")
    per_day: Decimal = Field(description="visitors / days of the period")


class DwellBucketOut(BaseModel):
    bucket: DwellBucket
    exits: int


class DemographicOut(BaseModel):
    age_band: str
    gender: str
    visitors: int


class StoreTrafficOut(TrafficFiguresOut):
    location_id: int
    code: str
    name: str
    name_en: str


class TrafficDashboardOut(BaseModel):
    start: date
    end: date
    lake_empty: bool = Field(description="the lake holds no store traffic events yet")
    total: TrafficFiguresOut
    previous: TrafficFiguresOut
    by_day: list[TrafficDayOut]
    by_hour: list[TrafficHourOut]
    dwell: list[DwellBucketOut]
    demographics: list[DemographicOut]
    stores: list[StoreTrafficOut] = Field(description="sorted by conversion, highest first")
