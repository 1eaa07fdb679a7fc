"""API shapes of the identity graph: enrolment, observations, identifiers, merges, the review queue."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zhongtai.members.identifiers import IdKind


class IdentifierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: IdKind
    value: str = Field(min_length=1, max_length=128)
    # The WeChat app an openid belongs to ("miniapp", "oa" ...), required for openid only.
    app: str = Field(default="", max_length=32)


class ObservationIn(BaseModel):
    """A touchpoint saw a person: the identifiers it knows, and weak attributes if any."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="event", pattern=r"^(event|pos|link|import)$")
    source_ref: str = Field(min_length=1, max_length=96)
    channel_code: str = Field(default="", max_length=32)
    identifiers: list[IdentifierIn] = Field(min_length=1, max_length=20)
    name: str = Field(default="", max_length=64)
    birthday: date | None = None
    city: str = Field(default="", max_length=32)
    address: str = Field(default="", max_length=255)
    postcode: str = Field(default="", max_length=16)
    observed_at: datetime | None = None


class EnrolIn(BaseModel):
    """Registration at the till or in the mini-program: the phone is required."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=1, max_length=32)
    name: str = Field(default="", max_length=64)
    gender: str = Field(default="", pattern=r"^(|female|male|other)$")
    birthday: date | None = None
    city: str = Field(default="", max_length=32)
    channel_code: str = Field(min_length=1, max_length=32)
    location_code: str | None = Field(default=None, max_length=32)
    unionid: str | None = Field(default=None, max_length=64)
    openid: str | None = Field(default=None, max_length=64)
    app: str = Field(default="", max_length=32)
    # {"sms": true, "wechat": true, ...}: marketing consent captured with the registration.
    consents: dict[str, bool] = Field(default_factory=dict)
    guide_user_id: int | None = None


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identifiers: list[IdentifierIn] = Field(min_length=1, max_length=10)
    channel_code: str = Field(default="", max_length=32)


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other: str = Field(min_length=1, max_length=32, description="the member (id or code) merged into this one")
    reason: str = Field(default="", max_length=255)


class EraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=2, max_length=255)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    status: str
    name: str
    tier: str
    points_balance: int
    enrolled_at: datetime | None
    enrolled_channel: str
    redirected_from: int | None = None


class IdentifierOut(BaseModel):
    id: int
    kind: str
    app: str
    value: str
    status: str
    source_channel: str
    first_seen_at: datetime
    last_seen_at: datetime


class MergeEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    survivor_id: int
    other_id: int | None
    reason: str
    evidence: dict[str, Any]
    actor_name: str
    at: datetime
    undone_at: datetime | None


class MatchRunOut(BaseModel):
    members: int
    merged: int
    queued: int
    seconds: float
