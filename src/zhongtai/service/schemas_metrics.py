"""What the customer-service metrics return. Rates are Decimal fractions (0.8125 = 81.25 %), None
when their denominator is zero; durations are seconds."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field


class MetricsFigures(BaseModel):
    """The figures of a set of conversations (a day, a channel, a period).

    Conversation figures count the conversations **started** in the set (a conversation started
    late on Monday and closed on Tuesday counts on Monday); message figures count the customer
    messages **sent** in it."""

    conversations: int = Field(description="conversations started")
    customer_messages: int = Field(description="messages the customers sent")
    closed: int = Field(description="conversations started here that are closed")
    self_resolved: int = Field(description="closed conversations the bot resolved by itself")
    self_resolution_rate: Decimal | None = Field(description="self_resolved / closed")
    bot_messages: int = Field(description="customer messages the bot handled, chit-chat excluded")
    answered_messages: int = Field(description="customer messages the bot answered (outcome answered)")
    intent_hit_rate: Decimal | None = Field(description="answered_messages / bot_messages")
    handed_off: int = Field(description="conversations handed to a person")
    handoff_rate: Decimal | None = Field(description="handed_off / conversations")
    accepted: int = Field(description="handed-off conversations an agent accepted")
    abandoned_in_queue: int = Field(description="handed-off conversations closed before an agent accepted them")
    ratings: int = Field(description="conversations the customer rated")
    satisfaction_mean: Decimal | None = Field(description="mean score 1-5 of the ratings")
    satisfaction_distribution: list[int] = Field(description="ratings of 1, 2, 3, 4 and 5")
    wait_p50_s: float | None = Field(description="median wait in the queue (hand-off to accept)")
    wait_p95_s: float | None = Field(description="95th percentile of the wait in the queue")
    sla_breaches: int = Field(description="accepted conversations that waited longer than their channel's SLA")
    first_response_p50_s: float | None = Field(description="median hand-off to the agent's first message")
    first_response_p95_s: float | None = Field(description="95th percentile of hand-off to first agent message")


class DailyMetricsOut(MetricsFigures):
    day: date = Field(description="the business day, in the retailer's timezone")
    channel_code: str | None = Field(description="the channel; None on a row of every channel")


class ChannelMetricsOut(MetricsFigures):
    channel_code: str


class PeriodMetricsOut(BaseModel):
    """A period at a glance: its totals, the equally long period before it (for the change), one
    row per channel and one per day (every channel together, days without conversations included)."""

    start: date
    end: date
    channel_code: str | None
    timezone: str
    total: MetricsFigures
    previous_start: date
    previous_end: date
    previous: MetricsFigures
    by_channel: list[ChannelMetricsOut]
    by_day: list[DailyMetricsOut]


class UnansweredOut(BaseModel):
    """Customer questions the bot could not answer well (a fallback, or a training item: a failed
    clarification or a low-confidence hand-off), grouped by their normalised text."""

    text: str = Field(description="the most frequent wording")
    key: str = Field(description="the normalised text the group shares")
    count: int
    open_items: int = Field(description="training items of the group still waiting for a trainer")
    last_seen: datetime
    channel_code: str = Field(description="the channel it was asked on most")
    channels: list[str] = Field(description="every channel it was asked on, most first")
    guess: str | None = Field(description="the sub-intent the bot guessed most often")
