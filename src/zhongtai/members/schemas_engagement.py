"""API shapes of member engagement: statistics and RFM, tags and tag rules, guide binding, consents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# ---------------------------------------------------------------- statistics


class StatsOut(BaseModel):
    orders_count: int = 0
    spend_fen: int = 0
    refunded_fen: int = 0
    spend_12m_fen: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    channels: list[str] = Field(default_factory=list)
    r_score: int = 0
    f_score: int = 0
    m_score: int = 0
    segment: str = ""
    segment_zh: str = ""
    segment_en: str = ""
    scored_at: datetime | None = None


# ---------------------------------------------------------------- tags


class TagOut(BaseModel):
    tag: str
    # rule (kept in step with its rule) | manual
    source: str
    name_zh: str
    name_en: str
    at: datetime
    actor_name: str = ""


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: str = Field(min_length=1, max_length=32)


class ConditionIn(BaseModel):
    """One condition of a tag rule; ``tags.FIELDS`` lists the fields and the ops each takes."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(max_length=32)
    op: str = Field(max_length=8)
    value: Any = None


class TagRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=2, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str = Field(min_length=1, max_length=32)
    name_en: str = Field(min_length=1, max_length=32)
    conditions: list[ConditionIn] = Field(max_length=20)
    active: bool = True


class TagRulePatch(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name_zh: str | None = Field(default=None, min_length=1, max_length=32)
    name_en: str | None = Field(default=None, min_length=1, max_length=32)
    conditions: list[ConditionIn] | None = Field(default=None, max_length=20)
    active: bool | None = None


class TagRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name_zh: str
    name_en: str
    conditions: list[dict[str, Any]]
    active: bool
    members_count: int
    evaluated_at: datetime | None
    created_at: datetime


class RuleCountOut(BaseModel):
    code: str
    added: int
    removed: int
    members_count: int


class EvaluationOut(BaseModel):
    evaluated_members: int
    added: int
    removed: int
    evaluated_at: datetime
    rules: list[RuleCountOut]


class FieldOut(BaseModel):
    field: str
    kind: str
    ops: list[str]
    name_zh: str
    name_en: str
    description: str


# ---------------------------------------------------------------- guides


class GuideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guide_user_id: int


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_guide_id: int | None = Field(
        default=None, description="the guide who takes every member; null: spread over the store's other guides"
    )


class GuideCountOut(BaseModel):
    guide_user_id: int
    members: int


class ReassignOut(BaseModel):
    from_guide_id: int
    moved: int
    to: list[GuideCountOut]


class GuideBindingOut(BaseModel):
    id: int
    member_id: int
    guide_user_id: int
    guide_name: str
    location_id: int | None
    bound_at: datetime
    unbound_at: datetime | None
    # enrolled | manual | reassigned | merged | unbound
    reason: str
    actor_name: str


class MemberGuideOut(BaseModel):
    member_id: int
    member_code: str
    guide_user_id: int | None
    guide_name: str = ""
    location_id: int | None = None
    bound_at: datetime | None = None


class GuideMemberOut(BaseModel):
    member_id: int
    code: str
    name: str
    tier: str
    status: str
    bound_at: datetime | None


class GuideLoadOut(BaseModel):
    guide_user_id: int
    username: str
    display_name: str
    members: int


# ---------------------------------------------------------------- consents


class ConsentOut(BaseModel):
    channel: str
    purpose: str = "marketing"
    granted: bool = False
    source: str = ""
    actor_name: str = ""
    at: datetime | None = None


class ConsentsIn(BaseModel):
    """Send the channels that change: ``{"sms": true, "wechat": false, "source": "pos:S001"}``."""

    model_config = ConfigDict(extra="forbid")

    sms: bool | None = None
    wechat: bool | None = None
    email: bool | None = None
    phone: bool | None = None
    app_push: bool | None = None
    source: str = Field(min_length=1, max_length=64, description="where it was captured: pos:<store>, miniapp, web ...")
    purpose: str = Field(default="marketing", pattern=r"^[a-z_]{2,16}$")
