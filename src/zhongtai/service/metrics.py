"""How well the bot serves: self-resolution, intent hits, hand-offs, satisfaction, queue waits and
the questions it could not answer, per business day (the retailer's timezone) and channel.

Counted in SQL (``GROUP BY`` day and channel), never by loading messages: one query over the
conversations, one over the customer messages, and one row per handed-off conversation for the
queue's percentiles (a median cannot be added up from daily medians, and SQLite has no
``percentile_cont``; hand-offs are the small minority of conversations).

Definitions (``schemas_metrics.MetricsFigures`` repeats them field by field):

* a conversation counts on the day it **started**, its closing, rating, hand-off and waits with
  it, so that every conversation rate of a day is over the same conversations;
* self-resolution: closed conversations the bot resolved (``resolution == "self"``) over closed
  conversations;
* intent hit rate: customer messages answered (``outcome == "answered"``) over the customer
  messages the bot handled, chit-chat excluded (messages sent while a person has the
  conversation carry no outcome and do not count);
* hand-off rate: conversations handed to a person over conversations;
* wait: hand-off (``queued_at``) to an agent's accept; first response: hand-off to the agent's
  first message, what the customer waited for a person's word. A wait longer than the channel's
  SLA (``ServiceSettings.sla_wait_s``, the default row's, else 60 s) is a breach.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.errors import FieldProblem, PermissionDenied, ValidationFailed
from zhongtai.service.models import Conversation, ConversationMessage, ServiceSettings, TrainingItem
from zhongtai.service.schemas_metrics import (
    ChannelMetricsOut,
    DailyMetricsOut,
    MetricsFigures,
    PeriodMetricsOut,
    UnansweredOut,
)
from zhongtai.service.text import normalise

DEFAULT_TZ = "Asia/Shanghai"
# A year and a day: a period and the one before it stay within two years of rows.
MAX_DAYS = 366
MAX_UNANSWERED = 200
DEFAULT_SLA_S = 60
# Outcomes of a customer message (service.dialogue): which count as the bot understanding it.
HIT_OUTCOMES = ("answered",)
CHITCHAT = "chitchat"
FALLBACK = "fallback"
RATE = Decimal("0.0001")
MEAN = Decimal("0.01")
_NOT_IN_KEY = re.compile(r"\s+")


# ---------------------------------------------------------------- pure parts


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The ``q`` (0-1) percentile with linear interpolation between ranks (PostgreSQL's
    ``percentile_cont``, numpy's default); None for no values."""
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = q * (len(sorted_values) - 1)
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def rate(numerator: int, denominator: int) -> Decimal | None:
    if denominator <= 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE, rounding=ROUND_HALF_UP)


def question_key(text: str) -> str:
    """What two wordings of one question share: normalised (简体, half-width, lower case) without
    punctuation or spaces, so "怎麼開發票？" and "怎么开发票" are one question."""
    plain = normalise(text)
    return _NOT_IN_KEY.sub("", "".join(ch for ch in plain if not unicodedata.category(ch).startswith("P")))


@dataclass(slots=True)
class Tally:
    """Counts that add up across days and channels; the figures are computed from them."""

    conversations: int = 0
    closed: int = 0
    self_resolved: int = 0
    handed_off: int = 0
    accepted: int = 0
    abandoned_in_queue: int = 0
    satisfaction: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    customer_messages: int = 0
    bot_messages: int = 0
    answered_messages: int = 0
    waits: list[float] = field(default_factory=list)
    first_responses: list[float] = field(default_factory=list)
    sla_breaches: int = 0

    def add(self, other: Tally) -> None:
        self.conversations += other.conversations
        self.closed += other.closed
        self.self_resolved += other.self_resolved
        self.handed_off += other.handed_off
        self.accepted += other.accepted
        self.abandoned_in_queue += other.abandoned_in_queue
        self.satisfaction = [a + b for a, b in zip(self.satisfaction, other.satisfaction, strict=True)]
        self.customer_messages += other.customer_messages
        self.bot_messages += other.bot_messages
        self.answered_messages += other.answered_messages
        self.waits.extend(other.waits)
        self.first_responses.extend(other.first_responses)
        self.sla_breaches += other.sla_breaches

    def figures(self) -> dict[str, Any]:
        ratings = sum(self.satisfaction)
        score_sum = sum(score * n for score, n in enumerate(self.satisfaction, start=1))
        waits = sorted(self.waits)
        firsts = sorted(self.first_responses)
        return {
            "conversations": self.conversations,
            "customer_messages": self.customer_messages,
            "closed": self.closed,
            "self_resolved": self.self_resolved,
            "self_resolution_rate": rate(self.self_resolved, self.closed),
            "bot_messages": self.bot_messages,
            "answered_messages": self.answered_messages,
            "intent_hit_rate": rate(self.answered_messages, self.bot_messages),
            "handed_off": self.handed_off,
            "handoff_rate": rate(self.handed_off, self.conversations),
            "accepted": self.accepted,
            "abandoned_in_queue": self.abandoned_in_queue,
            "ratings": ratings,
            "satisfaction_mean": (
                (Decimal(score_sum) / Decimal(ratings)).quantize(MEAN, rounding=ROUND_HALF_UP) if ratings else None
            ),
            "satisfaction_distribution": list(self.satisfaction),
            "wait_p50_s": _seconds(percentile(waits, 0.5)),
            "wait_p95_s": _seconds(percentile(waits, 0.95)),
            "sla_breaches": self.sla_breaches,
            "first_response_p50_s": _seconds(percentile(firsts, 0.5)),
            "first_response_p95_s": _seconds(percentile(firsts, 0.95)),
        }


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _sum(tallies: Iterable[Tally]) -> Tally:
    out = Tally()
    for t in tallies:
        out.add(t)
    return out


# ---------------------------------------------------------------- SQL


def local_day(session: Session, column: Any, tz: str) -> Any:
    """The business day in ``tz`` of a UTC timestamp column as SQL: a date on PostgreSQL,
    ``YYYY-MM-DD`` text on SQLite, which stores naive UTC and is shifted by the zone's current
    offset (exact for China's one offset all year; the orders' daily figures do the same)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz, column))
    offset = datetime.now(ZoneInfo(tz)).utcoffset() or timedelta(0)
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def _as_date(raw: Any) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    return date.fromisoformat(str(raw)[:10])


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _window(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    since = datetime.combine(start, time.min, zone).astimezone(UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, zone).astimezone(UTC)
    return since, until


def _sla_by_channel(session: Session) -> tuple[dict[str, int], int]:
    stmt = select(ServiceSettings.channel_code, ServiceSettings.sla_wait_s)
    rows = {str(code): int(sla) for code, sla in session.execute(stmt)}
    default = rows.pop("", DEFAULT_SLA_S)
    return rows, default


def _tallies(
    session: Session, start: date, end: date, channel_code: str | None, tz: str
) -> dict[tuple[date, str], Tally]:
    """One tally per (business day, channel) with any conversation or customer message."""
    since, until = _window(start, end, tz)
    out: dict[tuple[date, str], Tally] = {}

    def tally(day: Any, channel: Any) -> Tally:
        key = (_as_date(day), str(channel))
        if key not in out:
            out[key] = Tally()
        return out[key]

    c = Conversation
    started = local_day(session, c.started_at, tz).label("day")
    closed = c.status == "closed"
    handed = or_(c.queued_at.is_not(None), c.handoff_reason.is_not(None))
    conversations = (
        select(
            started,
            c.channel_code,
            func.count(c.id),
            _count(closed),
            _count(and_(closed, c.resolution == "self")),
            _count(handed),
            _count(c.accepted_at.is_not(None)),
            _count(and_(handed, closed, c.accepted_at.is_(None))),
            *(_count(c.satisfaction == score) for score in range(1, 6)),
        )
        .where(c.started_at >= since, c.started_at < until)
        .group_by(started, c.channel_code)
    )
    if channel_code:
        conversations = conversations.where(c.channel_code == channel_code)
    for day, channel, n, n_closed, n_self, n_handed, n_accepted, n_abandoned, *scores in session.execute(conversations):
        t = tally(day, channel)
        t.conversations, t.closed, t.self_resolved = int(n), int(n_closed), int(n_self)
        t.handed_off, t.accepted, t.abandoned_in_queue = int(n_handed), int(n_accepted), int(n_abandoned)
        t.satisfaction = [int(s) for s in scores]

    m = ConversationMessage
    sent = local_day(session, m.created_at, tz).label("day")
    handled = and_(m.outcome.is_not(None), m.outcome != CHITCHAT)
    messages = (
        select(sent, c.channel_code, func.count(m.id), _count(handled), _count(m.outcome.in_(HIT_OUTCOMES)))
        .join(c, c.id == m.conversation_id)
        .where(m.sender == "customer", m.created_at >= since, m.created_at < until)
        .group_by(sent, c.channel_code)
    )
    if channel_code:
        messages = messages.where(c.channel_code == channel_code)
    for day, channel, n, n_handled, n_hit in session.execute(messages):
        t = tally(day, channel)
        t.customer_messages, t.bot_messages, t.answered_messages = int(n), int(n_handled), int(n_hit)

    first_agent = (
        select(func.min(m.created_at))
        .where(m.conversation_id == c.id, m.sender == "agent")
        .correlate(c)
        .scalar_subquery()
    )
    queue = select(started, c.channel_code, c.queued_at, c.accepted_at, first_agent).where(
        c.started_at >= since, c.started_at < until, c.queued_at.is_not(None)
    )
    if channel_code:
        queue = queue.where(c.channel_code == channel_code)
    sla, default_sla = _sla_by_channel(session)
    for day, channel, queued_at, accepted_at, first_at in session.execute(queue):
        t = tally(day, channel)
        if accepted_at is not None:
            wait = max(0.0, (accepted_at - queued_at).total_seconds())
            t.waits.append(wait)
            if wait > sla.get(str(channel), default_sla):
                t.sla_breaches += 1
        if first_at is not None:
            t.first_responses.append(max(0.0, (first_at - queued_at).total_seconds()))
    return out


# ---------------------------------------------------------------- reads


def _check(principal: Principal, start: date, end: date, channel_code: str | None, tz: str) -> tuple[str | None, str]:
    """The channel the principal may look at (a channel's key sees only its own) and a valid zone;
    every problem of the period at once."""
    principal.require(Perm.SERVICE_READ)
    problems = []
    if end < start:
        problems.append(FieldProblem("end", "before_start", "end is before start"))
    elif (end - start).days + 1 > MAX_DAYS:
        problems.append(FieldProblem("end", "too_long", f"at most {MAX_DAYS} days"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(FieldProblem("tz", "unknown_timezone", f"unknown timezone {tz}"))
        tz = DEFAULT_TZ
    if problems:
        raise ValidationFailed("invalid period", errors=problems)
    channel = channel_code or None
    if principal.channel_code:
        if channel and channel != principal.channel_code:
            raise PermissionDenied(f"this key sees only channel {principal.channel_code}")
        channel = principal.channel_code
    return channel, tz


def daily_metrics(
    session: Session,
    principal: Principal,
    *,
    start: date,
    end: date,
    channel_code: str | None = None,
    tz: str = DEFAULT_TZ,
) -> list[DailyMetricsOut]:
    """One row per business day and channel with any conversation or customer message in
    [start, end] (both included), by day then channel."""
    channel, tz = _check(principal, start, end, channel_code, tz)
    tallies = _tallies(session, start, end, channel, tz)
    return [
        DailyMetricsOut(day=day, channel_code=code, **t.figures())
        for (day, code), t in sorted(tallies.items(), key=lambda item: item[0])
    ]


def period_metrics(
    session: Session,
    principal: Principal,
    *,
    start: date,
    end: date,
    channel_code: str | None = None,
    tz: str = DEFAULT_TZ,
) -> PeriodMetricsOut:
    """The period's totals and those of the equally long period just before it, per channel
    (busiest first) and per day (every day of the period, empty days as zeros)."""
    channel, tz = _check(principal, start, end, channel_code, tz)
    days = (end - start).days + 1
    previous_end = start - timedelta(days=1)
    previous_start = start - timedelta(days=days)
    tallies = _tallies(session, previous_start, end, channel, tz)
    current = {k: t for k, t in tallies.items() if k[0] >= start}
    before = [t for k, t in tallies.items() if k[0] < start]
    by_channel: dict[str, Tally] = {}
    by_day: dict[date, Tally] = {start + timedelta(days=i): Tally() for i in range(days)}
    for (day, code), t in current.items():
        by_channel.setdefault(code, Tally()).add(t)
        by_day[day].add(t)
    return PeriodMetricsOut(
        start=start,
        end=end,
        channel_code=channel,
        timezone=tz,
        total=MetricsFigures(**_sum(current.values()).figures()),
        previous_start=previous_start,
        previous_end=previous_end,
        previous=MetricsFigures(**_sum(before).figures()),
        by_channel=[
            ChannelMetricsOut(channel_code=code, **t.figures())
            for code, t in sorted(by_channel.items(), key=lambda item: (-item[1].conversations, item[0]))
        ],
        by_day=[DailyMetricsOut(day=day, channel_code=None, **t.figures()) for day, t in sorted(by_day.items())],
    )


@dataclass(slots=True)
class _Group:
    """One normalised question of ``top_unanswered`` while its rows are added up."""

    count: int = 0
    open_items: int = 0
    last_seen: datetime | None = None
    wordings: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    guesses: Counter[str] = field(default_factory=Counter)


def top_unanswered(
    session: Session,
    principal: Principal,
    *,
    start: date,
    end: date,
    channel_code: str | None = None,
    limit: int = 20,
    tz: str = DEFAULT_TZ,
) -> list[UnansweredOut]:
    """The questions asked most often in [start, end] that ended as a fallback or in the trainer's
    queue, one entry per normalised wording, most asked first (then the most recent)."""
    channel, tz = _check(principal, start, end, channel_code, tz)
    if not 1 <= limit <= MAX_UNANSWERED:
        raise ValidationFailed(
            "invalid limit", errors=[FieldProblem("limit", "out_of_range", f"1 to {MAX_UNANSWERED}")]
        )
    since, until = _window(start, end, tz)
    m, c, item = ConversationMessage, Conversation, TrainingItem
    guess = func.coalesce(item.guess, m.intent).label("guess")
    stmt = (
        select(
            m.text,
            c.channel_code,
            guess,
            func.count(m.id),
            func.max(m.created_at),
            _count(item.status == "open"),
        )
        .join(c, c.id == m.conversation_id)
        .outerjoin(item, item.message_id == m.id)
        .where(
            m.sender == "customer",
            m.created_at >= since,
            m.created_at < until,
            or_(m.outcome == FALLBACK, item.id.is_not(None)),
        )
        .group_by(m.text, c.channel_code, guess)
    )
    if channel:
        stmt = stmt.where(c.channel_code == channel)

    groups: dict[str, _Group] = {}
    for text, code, guessed, n, last, n_open in session.execute(stmt):
        key = question_key(str(text))
        if not key:
            continue
        g = groups.setdefault(key, _Group())
        g.count += int(n)
        g.open_items += int(n_open)
        g.last_seen = last if g.last_seen is None or last > g.last_seen else g.last_seen
        g.wordings[str(text).strip()] += int(n)
        g.channels[str(code)] += int(n)
        if guessed:
            g.guesses[str(guessed)] += int(n)
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1].count, -(kv[1].last_seen or since).timestamp(), kv[0]))
    out = []
    for key, g in ranked[:limit]:
        channels = [code for code, _ in sorted(g.channels.items(), key=lambda kv: (-kv[1], kv[0]))]
        out.append(
            UnansweredOut(
                text=sorted(g.wordings.items(), key=lambda kv: (-kv[1], kv[0]))[0][0],
                key=key,
                count=g.count,
                open_items=g.open_items,
                last_seen=g.last_seen or since,
                channel_code=channels[0],
                channels=channels,
                guess=sorted(g.guesses.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if g.guesses else None,
            )
        )
    return out
