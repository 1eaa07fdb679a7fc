"""API shapes of the points ledger and the member tiers."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

# A till's or a channel's own reference for a redemption (receipt number, coupon order id).
REFERENCE_PATTERN = r"^[A-Za-z0-9_\-.:/#]+$"
CHANNEL_PATTERN = r"^[a-z0-9_\-]+$"


class TierIn(BaseModel):
    """One tier rule. Tiers are ranked: a higher rank needs a strictly higher 12-month spend."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=2, max_length=16, pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str = Field(min_length=1, max_length=32)
    name_en: str = Field(min_length=1, max_length=32)
    min_spend_fen: int = Field(ge=0, le=10**13, description="qualifying spend over 365 days, fen")
    earn_rate: int = Field(ge=0, le=1000, description="points per yuan paid, in hundredths (100 = 1 per yuan)")
    rank: int = Field(ge=0, le=100)


class TiersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tiers: list[TierIn] = Field(min_length=1, max_length=20)


class TierOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name_zh: str
    name_en: str
    min_spend_fen: int
    earn_rate: int
    rank: int


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: int = Field(gt=0, le=100_000_000)
    channel_code: str = Field(min_length=1, max_length=32, pattern=CHANNEL_PATTERN)
    reference: str = Field(
        min_length=1,
        max_length=63,
        pattern=REFERENCE_PATTERN,
        description="the till's or channel's own reference: the same reference twice is one redemption",
    )
    note: str = Field(default="", max_length=255)


class ReversalIn(BaseModel):
    """A till voids a redemption: the points come back."""

    model_config = ConfigDict(extra="forbid")

    entry_id: int = Field(gt=0, description="the redeem entry to reverse")
    reason: str = Field(min_length=1, max_length=255)


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: int = Field(ge=-100_000_000, le=100_000_000, description="signed; not 0")
    reason: str = Field(min_length=1, max_length=255)

    @field_validator("points")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("an adjustment of 0 points changes nothing")
        return value


class PointsEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    member_id: int
    kind: str = Field(description="earn | redeem | expire | clawback | adjust | reverse")
    points: int
    remaining: int = Field(description="what is left of a lot (earn, positive adjust, reverse)")
    expires_at: datetime | None
    source: str
    source_ref: str
    channel_code: str
    order_number: str
    balance_after: int
    spend_fen: int
    note: str
    actor_name: str
    at: datetime


class TierBriefOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    min_spend_fen: int
    earn_rate: int


class PointsSummaryOut(BaseModel):
    member_id: int
    member_code: str
    balance: int
    tier: TierBriefOut | None
    spend_12m_fen: int = Field(description="qualifying spend over the last 365 days (paid minus refunded)")
    next_tier: TierBriefOut | None
    spend_to_next_fen: int | None = Field(description="spend still needed for the next tier; None at the top")
    expiring_points: int = Field(description="points that expire within the next 90 days")
    expiring_at: datetime | None = Field(description="when the first of those expire (UTC)")
    expiring_on: date | None = Field(description="their last valid day, Asia/Shanghai")
