"""The agent desk's shapes: the hand-off queue, a conversation with its member card, suggestions.

Request models forbid unknown fields. Personal values in the member summary arrive masked for an
agent without ``pii:read`` (the member center masks them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zhongtai.service.schemas_chat import ConversationOut, MessageOut


class QueueItemOut(BaseModel):
    """A conversation waiting for a person (status ``queued``) or with one (``agent``)."""

    public_id: str
    channel_code: str
    status: Literal["queued", "agent"]
    customer_name: str
    member_id: int | None
    # low_confidence | requested | negative | vip | misses | rule
    handoff_reason: str | None
    priority: int
    # A VIP goes first: a member tier in the channel's vip_tiers, or a positive priority.
    vip: bool
    queued_at: datetime | None
    accepted_at: datetime | None
    # Seconds waited so far (queued) or before an agent accepted (agent).
    wait_s: int
    sla_wait_s: int
    sla_breached: bool
    assigned_user_id: int | None
    assigned_to: str = ""
    last_message: str = ""
    last_message_at: datetime
    message_count: int


class QueueOut(BaseModel):
    items: list[QueueItemOut]
    # Conversations per status (bot, queued, agent, closed) and the queued ones over their SLA.
    counts: dict[str, int]
    breached: int


class MemberBriefOut(BaseModel):
    """What an agent needs of the member card: who, which tier, how valuable, what they bought."""

    id: int
    code: str
    name: str
    phone: str
    tier: str
    tier_name: str
    tier_name_en: str
    points_balance: int
    orders_count: int
    spend_fen: int
    segment: str
    tags: list[str]
    masked: bool


class RecentOrderOut(BaseModel):
    number: str
    channel_code: str
    status: str
    total_fen: int
    currency: str
    placed_at: datetime
    lines: int


class AgentConversationOut(BaseModel):
    conversation: ConversationOut
    scene: str
    priority: int
    vip: bool
    assigned_user_id: int | None
    assigned_to: str
    accepted_at: datetime | None
    # True when the caller is the assigned agent (may reply, close, release, transfer).
    mine: bool
    wait_s: int
    sla_wait_s: int
    sla_breached: bool
    member: MemberBriefOut | None
    orders: list[RecentOrderOut]


class MessagesSinceOut(BaseModel):
    """The poll of an open conversation: its status and the messages after ``after_seq``."""

    public_id: str
    status: str
    assigned_user_id: int | None
    assigned_to: str
    messages: list[MessageOut]


class SuggestionOut(BaseModel):
    # answer: a knowledge-base answer; product: the card text of a product the customer named.
    kind: Literal["answer", "product"]
    text: str
    subintent_code: str = ""
    subintent_name: str = ""
    subintent_name_en: str = ""
    confidence: float | None = None
    sku_code: str = ""
    # Placeholders the agent still has to fill ({order_number}, {eta} ...) in ``text``.
    missing: list[str] = Field(default_factory=list)
    cards: list[dict[str, Any]] = Field(default_factory=list)
    links: list[dict[str, Any]] = Field(default_factory=list)


class AgentMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(ge=1)
    note: str = Field(default="", max_length=200)


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=200)


class AgentOut(BaseModel):
    """A person who can take conversations (a transfer target)."""

    id: int
    username: str
    display_name: str
    role: str
    active_conversations: int
