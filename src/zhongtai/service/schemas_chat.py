"""The chat API's shapes: a conversation as the customer (widget, mini-program, integrator) sees it.

Request models forbid unknown fields. The conversation token is never in a body: it travels in
the ``X-Conversation-Token`` header, and only its sha256 is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zhongtai.members.identifiers import IdKind

Sender = Literal["customer", "bot", "agent", "system"]
Status = Literal["bot", "queued", "agent", "closed"]
# What the bot did with a customer's message.
OUTCOMES: tuple[str, ...] = ("answered", "slot", "clarify", "fallback", "handoff", "chitchat")
RESOLUTIONS: tuple[str, ...] = ("self", "agent", "abandoned")
SCENES: tuple[str, ...] = ("ecommerce", "instant")


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int
    sender: Sender
    text: str
    # cards, links, quick_replies, timeline, survey ... what the widget renders beside the text.
    payload: dict[str, Any] = Field(default_factory=dict)
    # On customer messages: the sub-intent the bot understood, how sure it was, what it did.
    intent: str | None = None
    confidence: float | None = None
    outcome: str | None = None
    created_at: datetime


class ConversationOut(BaseModel):
    public_id: str
    channel_code: str
    status: Status
    member_id: int | None
    customer_name: str
    handoff_reason: str | None
    queued_at: datetime | None
    started_at: datetime
    closed_at: datetime | None
    resolution: str | None
    satisfaction: int | None
    messages: list[MessageOut] = Field(default_factory=list)


class StartedConversation(BaseModel):
    """What opening a conversation returns: the token (shown once, keep it) and the welcome."""

    public_id: str
    # The customer's secret for this conversation; None when an open conversation was reused
    # (its token is not stored, only its hash: the caller already has it).
    token: str | None
    status: Status
    reused: bool = False
    messages: list[MessageOut] = Field(default_factory=list)


class MemberIdentifierIn(BaseModel):
    """An identifier an integrator knows its customer by (phone, unionid, openid ...)."""

    model_config = ConfigDict(extra="forbid")

    kind: IdKind
    value: str = Field(min_length=1, max_length=128)
    app: str = Field(default="", max_length=64)


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Implied by a channel-bound key; required otherwise.
    channel_code: str | None = Field(default=None, max_length=32)
    customer_ref: str = Field(default="", max_length=128)
    customer_name: str = Field(default="", max_length=64)
    # Integrators only: who the customer is in the member center (never creates a member).
    member_identifiers: list[MemberIdentifierIn] = Field(default_factory=list, max_length=10)
    scene: Literal["ecommerce", "instant"] | None = None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000)
    # The channel's id of this message: a retry with the same id gets the same replies.
    client_message_id: str | None = Field(default=None, min_length=1, max_length=128)


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=500)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Trusted callers only (the channel's integrator, admin); otherwise it follows from what happened.
    resolution: Literal["self", "agent", "abandoned"] | None = None


class RepliesOut(BaseModel):
    """The answer to a customer's message: the bot's replies (none while queued or with an agent)."""

    public_id: str
    status: Status
    messages: list[MessageOut]
