"""Customer service's tables: the knowledge base (draft rows and published versions), channel
settings, conversations and their messages, the trainer's queue of unanswered questions and the
care messages sent after delivery.

The knowledge base has four levels: scenario → intent → sub-intent → answers. The rows are the
**draft**; ``publish`` freezes them into a ``ServiceKbVersion`` (a JSON snapshot plus the intent
model trained on its example questions), and the bot only ever answers from the newest published
version. Every change goes through a verb in ``service.kb`` / ``service.conversations`` /
``service.agents`` that takes the acting principal and writes the audit record (bot turns are
recorded as messages, the conversation's own history).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.db import Base, BigIntPK, utcnow


class ServiceScenario(Base):
    """Level 1: pre-sale, in-sale, after-sale, chit-chat ..."""

    __tablename__ = "service_scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class ServiceIntent(Base):
    """Level 2: shipping, invoices, returns, product parameters ..."""

    __tablename__ = "service_intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("service_scenarios.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class ServiceSubIntent(Base):
    """Level 3: what the classifier predicts. Its example questions train the model; its ``action``
    says how the bot answers (``answer``: the text of the best answer variant; ``order_status``,
    ``logistics``, ``return_eligibility``, ``create_return``, ``warranty``, ``product_card``,
    ``product_param``, ``compare``, ``gifts``, ``handoff``, ... : a handler that reads the order
    center or the catalog and fills the answer's placeholders)."""

    __tablename__ = "service_subintents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intent_id: Mapped[int] = mapped_column(ForeignKey("service_intents.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    action: Mapped[str] = mapped_column(String(32), default="answer")
    # Slots the action needs before it can answer, e.g. ["order_number"].
    slots: Mapped[list[Any]] = mapped_column(default=list)
    examples: Mapped[list[Any]] = mapped_column(default=list)
    # Where the sub-intent came from: a general pack ("pack:shipping"), the catalog ("catalog"),
    # the trainer ("trainer") or a person ("manual").
    source: Mapped[str] = mapped_column(String(32), default="manual")
    enabled: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="")


class ServiceAnswer(Base):
    """Level 4: one answer variant. ``channel`` is a channel code or kind (web_shop, marketplace,
    pos, mini_program, instant_retail), empty for every channel; ``scene`` is ``ecommerce`` or
    ``instant``, empty for both. The most specific variant wins."""

    __tablename__ = "service_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subintent_id: Mapped[int] = mapped_column(ForeignKey("service_subintents.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="")
    scene: Mapped[str] = mapped_column(String(16), default="")
    text: Mapped[str] = mapped_column(Text)
    # [{"sku": "SKU-CODE"}] product cards; [{"title": ..., "url": ...}] links.
    cards: Mapped[list[Any]] = mapped_column(default=list)
    links: Mapped[list[Any]] = mapped_column(default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ServiceKbVersion(Base):
    """A published knowledge base: the frozen snapshot and the intent model trained on it."""

    __tablename__ = "service_kb_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column()
    # joblib bytes of the fitted IntentClassifier; every process loads the newest once.
    model: Mapped[bytes] = mapped_column(LargeBinary)
    subintents: Mapped[int] = mapped_column(Integer, default=0)
    examples: Mapped[int] = mapped_column(Integer, default=0)
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    note: Mapped[str] = mapped_column(String(255), default="")
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(String(128), default="")


class ServiceSettings(Base):
    """Per channel ("" is the default every channel falls back to): hand-off rules and SLAs."""

    __tablename__ = "service_settings"

    channel_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    welcome: Mapped[str] = mapped_column(Text, default="")
    # Below this confidence the bot does not answer; it clarifies or hands off.
    min_confidence: Mapped[float] = mapped_column(Float, default=0.45)
    # Two intents closer than this (and both plausible) make the bot ask which one was meant.
    clarify_margin: Mapped[float] = mapped_column(Float, default=0.12)
    # Consecutive misses before the bot hands off by itself.
    max_misses: Mapped[int] = mapped_column(Integer, default=2)
    # Members of these tiers go straight to a person when they ask for one, ahead of the queue.
    vip_tiers: Mapped[list[Any]] = mapped_column(default=list)
    # A wait longer than this breaches the queue's SLA.
    sla_wait_s: Mapped[int] = mapped_column(Integer, default=60)
    # Token for the WeChat/WeCom-style webhook signature (sha1 of sorted token, timestamp, nonce).
    webhook_token: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Conversation(Base):
    __tablename__ = "service_conversations"
    __table_args__ = (
        CheckConstraint("satisfaction IS NULL OR (satisfaction BETWEEN 1 AND 5)", name="satisfaction_range"),
        Index("ix_service_conversations_status_queued", "status", "queued_at"),
        Index("ix_service_conversations_channel_started", "channel_code", "started_at"),
        UniqueConstraint("channel_code", "customer_ref", "opened_key"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # What customers and URLs see; the integer id never leaves the server.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    # sha256 of the customer's conversation token (the widget keeps the token).
    token_hash: Mapped[str] = mapped_column(String(64))
    channel_code: Mapped[str] = mapped_column(ForeignKey("channels.code"))
    scene: Mapped[str] = mapped_column(String(16), default="ecommerce")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None, index=True)
    # The channel's id of the customer (openid, visitor id); with ``opened_key`` it finds the open
    # conversation for a webhook message. ``opened_key`` is "open" while the conversation is open
    # and the id once closed, so a customer has at most one open conversation per channel.
    customer_ref: Mapped[str] = mapped_column(String(128), default="")
    opened_key: Mapped[str] = mapped_column(String(32), default="open")
    customer_name: Mapped[str] = mapped_column(String(64), default="")
    # bot | queued | agent | closed
    status: Mapped[str] = mapped_column(String(16), default="bot")
    # The dialogue state: topic stack, pending slot, misses, last order ... (dialogue.State).
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    kb_version: Mapped[int | None] = mapped_column(Integer, default=None)
    # low_confidence | requested | negative | vip | misses | rule
    handoff_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by: Mapped[str] = mapped_column(String(128), default="")
    # self (the bot resolved it) | agent | abandoned
    resolution: Mapped[str | None] = mapped_column(String(16), default=None)
    satisfaction: Mapped[int | None] = mapped_column(Integer, default=None)
    satisfaction_comment: Mapped[str] = mapped_column(String(500), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    message_count: Mapped[int] = mapped_column(Integer, default=0)


class ConversationMessage(Base):
    __tablename__ = "service_messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("conversation_id", "external_id"),
        Index("ix_service_messages_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("service_conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    # customer | bot | agent | system
    sender: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    # Cards, links, quick replies, the order timeline ... what the widget renders beside the text.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # On customer messages: what the bot understood and did with it.
    intent: Mapped[str | None] = mapped_column(String(64), default=None)
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    # answered | slot | clarify | fallback | handoff | chitchat (customer messages only)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    agent_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    # The channel's message id (webhooks retry): a repeat is recognised, not answered twice.
    external_id: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingItem(Base):
    """A question the bot could not answer well, waiting for a trainer."""

    __tablename__ = "service_training_items"
    __table_args__ = (Index("ix_service_training_items_status", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("service_messages.id", ondelete="CASCADE"), unique=True)
    text: Mapped[str] = mapped_column(Text)
    channel_code: Mapped[str] = mapped_column(String(32))
    # What the bot guessed, and how sure it was.
    guess: Mapped[str | None] = mapped_column(String(64), default=None)
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    # open | assigned | ignored
    status: Mapped[str] = mapped_column(String(16), default="open")
    subintent_code: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[str] = mapped_column(String(128), default="")


class CareMessage(Base):
    """A care message sent after an order was delivered (once per order)."""

    __tablename__ = "service_care_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_number: Mapped[str] = mapped_column(String(32), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("service_conversations.id", ondelete="CASCADE"))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
