"""API shapes of member search and the user card (会员卡).

Personal values (name, phone, e-mail, address, birthday) arrive already masked for a caller
without ``pii:read``; ``masked`` says which way the card was rendered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from zhongtai.members.schemas_engagement import ConsentOut


class MemberSummaryOut(BaseModel):
    """One search result."""

    id: int
    code: str
    status: str
    name: str
    phone: str = Field(description="the most recently seen phone, masked without pii:read")
    email: str = ""
    city: str = ""
    tier: str = ""
    tier_name: str = ""
    tier_name_en: str = ""
    points_balance: int = 0
    segment: str = ""
    channels: list[str] = Field(default_factory=list)
    orders_count: int = 0
    spend_fen: int = 0
    last_order_at: datetime | None = None
    last_seen_at: datetime | None = None
    enrolled_at: datetime | None = None
    # phone | phone_last4 | code | id | card | email | unionid | openid | jd_pin | tmall_uid | device | name
    matched_by: list[str] = Field(default_factory=list)
    # A merged member's id or code was searched: this is its survivor.
    redirected_from: int | None = None


class ProfileOut(BaseModel):
    name: str
    gender: str
    # "1990-05-17"; masked: "1990-**-**"; "" unknown.
    birthday: str
    province: str
    city: str
    address: str
    postcode: str
    enrolled_at: datetime | None
    enrolled_channel: str
    enrolled_location_code: str = ""
    first_seen_at: datetime
    last_seen_at: datetime
    erased_at: datetime | None = None


class IdentityOut(BaseModel):
    id: int
    kind: str
    app: str
    value: str = Field(description="phone and e-mail masked without pii:read")
    status: str = Field(description="active | quarantined (seen with too many people: kept, never links)")
    channel: str
    first_seen_at: datetime
    last_seen_at: datetime
    quarantined_at: datetime | None = None


class MemberChannelOut(BaseModel):
    """A channel the member is known on: sightings (observations) and orders there."""

    code: str
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    observations: int = 0
    orders: int = 0
    spend_fen: int = 0


class CardOrderOut(BaseModel):
    number: str
    channel_code: str
    status: str
    payment_status: str
    delivery_mode: str
    store_code: str = ""
    total_fen: int
    paid_fen: int
    refunded_fen: int
    currency: str
    placed_at: datetime
    completed_at: datetime | None
    lines: int


class TotalsOut(BaseModel):
    """Over every order of the member, every channel: spend is what was paid, refunds what went back."""

    orders_count: int = 0
    paid_orders: int = 0
    spend_fen: int = 0
    refunded_fen: int = 0
    net_fen: int = 0
    average_order_fen: int = 0
    spend_12m_fen: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None


class MonthSpendOut(BaseModel):
    month: str  # YYYY-MM in the platform's time zone
    channel_code: str
    orders: int
    spend_fen: int


class RfmOut(BaseModel):
    r_score: int = 0
    f_score: int = 0
    m_score: int = 0
    segment: str = ""
    updated_at: datetime | None = None


class TagOut(BaseModel):
    tag: str
    source: str  # rule | manual
    name_zh: str = ""
    name_en: str = ""
    actor_name: str = ""
    at: datetime


class LocationRefOut(BaseModel):
    id: int
    code: str
    name: str
    name_en: str = ""


class GuideBindingOut(BaseModel):
    guide_user_id: int
    guide_name: str
    location_code: str = ""
    bound_at: datetime
    unbound_at: datetime | None
    reason: str
    actor_name: str


class GuideOut(BaseModel):
    user_id: int
    name: str
    username: str = ""
    bound_at: datetime | None = None
    location_code: str = ""


class PointsEntryOut(BaseModel):
    kind: str
    points: int
    balance_after: int
    channel_code: str
    order_number: str
    note: str
    at: datetime


class PointsOut(BaseModel):
    balance: int
    tier: str
    tier_name: str = ""
    tier_name_en: str = ""
    next_tier: str = ""
    next_tier_name: str = ""
    next_tier_name_en: str = ""
    # Qualifying spend over the last 365 days (paid minus refunded), and what the next tier still needs.
    spend_12m_fen: int = 0
    spend_to_next_fen: int = 0
    expiring_points: int = 0
    expiring_by: datetime | None = None
    recent: list[PointsEntryOut] = Field(default_factory=list)


class CardMergeEventOut(BaseModel):
    id: int
    kind: str  # merge | unmerge | quarantine | erase
    survivor_id: int
    survivor_code: str
    other_id: int | None
    other_code: str = ""
    reason: str
    probability: float | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    actor_name: str
    at: datetime
    undone_at: datetime | None
    # A merge into this member that has not been undone: a manager may split it again.
    can_unmerge: bool = False


class MemberCardOut(BaseModel):
    id: int
    code: str
    status: str
    redirected_from: int | None = None
    redirected_from_code: str = ""
    masked: bool
    profile: ProfileOut
    identities: list[IdentityOut]
    channels: list[MemberChannelOut]
    orders: list[CardOrderOut]
    orders_limit: int
    totals: TotalsOut
    spend_by_month: list[MonthSpendOut]
    rfm: RfmOut
    tags: list[TagOut]
    preferred_store: LocationRefOut | None = None
    guide: GuideOut | None = None
    guide_history: list[GuideBindingOut]
    points: PointsOut
    consents: list[ConsentOut]
    merges: list[CardMergeEventOut]


class ReviewSideOut(BaseModel):
    """One member of a review pair, as a reviewer compares it (masked without pii:read)."""

    id: int
    code: str
    status: str
    name: str
    gender: str
    birthday: str
    city: str
    address: str
    postcode: str
    phones: list[str]
    emails: list[str]
    other_identifiers: list[str]
    channels: list[str]
    orders_count: int
    spend_fen: int
    first_seen_at: datetime


class ReviewEvidenceOut(BaseModel):
    """One attribute as the matcher compared it."""

    attribute: str
    level: str = ""
    weight: float | None = None
    left: str = ""
    right: str = ""


class ReviewPairOut(BaseModel):
    id: int
    probability: float
    status: str
    source: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str
    evidence: list[ReviewEvidenceOut]
    a: ReviewSideOut
    b: ReviewSideOut


class MembersOverviewOut(BaseModel):
    """The search page's landing figures."""

    members: int
    enrolled: int
    with_orders: int
    merged: int
    pending_reviews: int
    by_tier: list[tuple[str, int]]
    by_segment: list[tuple[str, int]]
