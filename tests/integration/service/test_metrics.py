"""Customer-service metrics against a small hand-computed world, on SQLite and PostgreSQL.

The rows are written directly (a test helper, not the dialogue's verbs) because every figure
depends on exact timestamps: business-day boundaries in Asia/Shanghai, queue waits, the first
agent reply.

World (local time, Asia/Shanghai; D1 = 2026-11-10, D2 = 2026-11-11):

  C0 web  D0 10:00  closed self, rated 4                            (the previous period)
  C1 web  D1 10:00  answered, chit-chat, clarify (+ open training item "支持花呗吗"); closed self, rated 5
  C2 web  D1 11:00  slot, answered, handoff 11:05 → accepted 11:06 (wait 60 s), agent 11:06:30
                    (first response 90 s), customer while with the agent (no outcome); closed agent, rated 3
  C3 jd   D1 23:50  its message at D2 00:10 "能开专票吗" fallback (+ open item); still with the bot
  C4 jd   D2 00:30  (= D1 16:30 UTC) "能開專票嗎？" fallback (+ ignored item), "你们太差了" handoff 00:31 →
                    accepted 00:34 (wait 180 s > jd's SLA 120 s), agent 00:35 (240 s); closed agent, rated 1
  C5 web  D2 09:00  chit-chat, "能开专票吗" fallback (no item), handoff 09:02, closed 09:10 unaccepted
  C6 web  D2 10:00  answered; closed self, not rated
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.factories import SYSTEM, console_login, key_headers, make_key, make_user
from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.channels import service as channels
from zhongtai.db import Database
from zhongtai.errors import PermissionDenied, ValidationFailed
from zhongtai.service import metrics
from zhongtai.service.models import Conversation, ConversationMessage, ServiceSettings, TrainingItem

TZ = ZoneInfo("Asia/Shanghai")
D0, D1, D2 = date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11)
ANALYST = Principal("user", None, "analyst", Role.ANALYST)
_ids = itertools.count(1)


def at(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=TZ).astimezone(UTC)


@dataclass
class Msg:
    sender: str
    text: str
    when: datetime
    outcome: str | None = None
    intent: str | None = None
    item: str | None = None  # training item status
    guess: str | None = None


def conversation(
    s: Any,
    channel: str,
    started: datetime,
    messages: list[Msg],
    *,
    status: str = "bot",
    resolution: str | None = None,
    closed_at: datetime | None = None,
    queued_at: datetime | None = None,
    accepted_at: datetime | None = None,
    reason: str | None = None,
    satisfaction: int | None = None,
) -> None:
    n = next(_ids)
    conv = Conversation(
        public_id=f"c{n:04d}{secrets.token_hex(4)}",
        token_hash="0" * 64,
        channel_code=channel,
        customer_ref=f"visitor-{n}",
        opened_key="open" if status != "closed" else f"closed-{n}",
        status=status,
        resolution=resolution,
        closed_at=closed_at,
        queued_at=queued_at,
        accepted_at=accepted_at,
        handoff_reason=reason,
        satisfaction=satisfaction,
        started_at=started,
        last_message_at=started,
    )
    s.add(conv)
    s.flush()
    for seq, m in enumerate(messages, start=1):
        row = ConversationMessage(
            conversation_id=conv.id,
            seq=seq,
            sender=m.sender,
            text=m.text,
            outcome=m.outcome,
            intent=m.intent,
            created_at=m.when,
        )
        s.add(row)
        s.flush()
        if m.item:
            s.add(
                TrainingItem(
                    message_id=row.id,
                    text=m.text,
                    channel_code=channel,
                    guess=m.guess,
                    confidence=0.3,
                    status=m.item,
                    created_at=m.when,
                )
            )
    s.flush()


def cust(text: str, when: datetime, outcome: str | None, **kw: Any) -> Msg:
    return Msg("customer", text, when, outcome, **kw)


def bot(text: str, when: datetime) -> Msg:
    return Msg("bot", text, when)


def agent(text: str, when: datetime) -> Msg:
    return Msg("agent", text, when)


def build_world(db: Database) -> Database:
    """The world of the module docstring; the console tests use it too."""
    with db.transaction() as s:
        channels.create_channel(s, SYSTEM, code="web", name="官网", kind="web_shop")
        channels.create_channel(s, SYSTEM, code="jd", name="京东旗舰店", kind="marketplace", platform="jd")
        s.add(ServiceSettings(channel_code="", sla_wait_s=60))
        s.add(ServiceSettings(channel_code="jd", sla_wait_s=120))
        conversation(
            s,
            "web",
            at(D0, 10, 0),
            [cust("发什么快递", at(D0, 10, 0, 5), "answered"), bot("默认顺丰", at(D0, 10, 0, 6))],
            status="closed",
            resolution="self",
            closed_at=at(D0, 10, 3),
            satisfaction=4,
        )
        conversation(
            s,
            "web",
            at(D1, 10, 0),
            [
                cust("运费多少", at(D1, 10, 0, 10), "answered", intent="shipping.fee"),
                bot("满 99 元包邮", at(D1, 10, 0, 11)),
                cust("谢谢", at(D1, 10, 1), "chitchat"),
                cust("支持花呗吗", at(D1, 10, 2), "clarify", item="open", guess="payment.huabei"),
            ],
            status="closed",
            resolution="self",
            closed_at=at(D1, 10, 5),
            satisfaction=5,
        )
        conversation(
            s,
            "web",
            at(D1, 11, 0),
            [
                cust("我的订单到哪了", at(D1, 11, 0, 10), "slot"),
                cust("ZT26111012345678", at(D1, 11, 1), "answered"),
                cust("转人工", at(D1, 11, 4), "handoff"),
                agent("您好，我是客服小王", at(D1, 11, 6, 30)),
                cust("好的", at(D1, 11, 7), None),
            ],
            status="closed",
            resolution="agent",
            closed_at=at(D1, 11, 20),
            queued_at=at(D1, 11, 5),
            accepted_at=at(D1, 11, 6),
            reason="requested",
            satisfaction=3,
        )
        conversation(
            s,
            "jd",
            at(D1, 23, 50),
            [cust("能开专票吗", at(D2, 0, 10), "fallback", item="open", guess="invoice.special")],
        )
        conversation(
            s,
            "jd",
            at(D2, 0, 30),
            [
                cust("能開專票嗎？", at(D2, 0, 30, 5), "fallback", item="ignored", guess="invoice.special"),
                cust("你们太差了", at(D2, 0, 30, 40), "handoff"),
                agent("非常抱歉", at(D2, 0, 35)),
            ],
            status="closed",
            resolution="agent",
            closed_at=at(D2, 0, 50),
            queued_at=at(D2, 0, 31),
            accepted_at=at(D2, 0, 34),
            reason="negative",
            satisfaction=1,
        )
        conversation(
            s,
            "web",
            at(D2, 9, 0),
            [
                cust("在吗", at(D2, 9, 0, 5), "chitchat"),
                cust("能开专票吗", at(D2, 9, 1), "fallback", intent="invoice.normal"),
                cust("转人工", at(D2, 9, 1, 30), "handoff"),
            ],
            status="closed",
            resolution="abandoned",
            closed_at=at(D2, 9, 10),
            queued_at=at(D2, 9, 2),
            reason="requested",
        )
        conversation(
            s,
            "web",
            at(D2, 10, 0),
            [cust("七天无理由吗", at(D2, 10, 0, 5), "answered")],
            status="closed",
            resolution="self",
            closed_at=at(D2, 10, 2),
        )
    return db


@pytest.fixture
def world(db: Database) -> Database:
    return build_world(db)


def row(rows: list[Any], day: date, channel: str | None) -> Any:
    found = [r for r in rows if r.day == day and r.channel_code == channel]
    assert len(found) == 1, (day, channel, rows)
    return found[0]


def test_daily_figures_per_day_and_channel(world: Database) -> None:
    # Given the world above, when the two days are asked for
    with world.transaction(write=False) as s:
        rows = metrics.daily_metrics(s, ANALYST, start=D1, end=D2)

    # Then there is one row per day and channel with activity, C3's message counted on D2 (local)
    assert [(r.day, r.channel_code) for r in rows] == [(D1, "jd"), (D1, "web"), (D2, "jd"), (D2, "web")]

    web1 = row(rows, D1, "web")
    assert (web1.conversations, web1.closed, web1.self_resolved) == (2, 2, 1)
    assert web1.self_resolution_rate == Decimal("0.5000")
    assert (web1.customer_messages, web1.bot_messages, web1.answered_messages) == (7, 5, 2)
    assert web1.intent_hit_rate == Decimal("0.4000")
    assert (web1.handed_off, web1.accepted, web1.abandoned_in_queue) == (1, 1, 0)
    assert web1.handoff_rate == Decimal("0.5000")
    assert web1.satisfaction_distribution == [0, 0, 1, 0, 1]
    assert (web1.ratings, web1.satisfaction_mean) == (2, Decimal("4.00"))
    assert (web1.wait_p50_s, web1.wait_p95_s, web1.sla_breaches) == (60.0, 60.0, 0)
    assert (web1.first_response_p50_s, web1.first_response_p95_s) == (90.0, 90.0)

    jd1 = row(rows, D1, "jd")  # C3 started late on D1; its only message is on D2
    assert (jd1.conversations, jd1.closed, jd1.customer_messages) == (1, 0, 0)
    assert jd1.self_resolution_rate is None
    assert jd1.intent_hit_rate is None
    assert jd1.handoff_rate == Decimal("0.0000")
    assert jd1.satisfaction_mean is None
    assert jd1.wait_p50_s is None

    jd2 = row(rows, D2, "jd")  # C4 started at 16:30 UTC on D1: D2 in Shanghai
    assert (jd2.conversations, jd2.closed, jd2.self_resolved, jd2.handed_off) == (1, 1, 0, 1)
    assert (jd2.customer_messages, jd2.bot_messages, jd2.answered_messages) == (3, 3, 0)
    assert jd2.intent_hit_rate == Decimal("0.0000")
    assert jd2.handoff_rate == Decimal("1.0000")
    assert (jd2.wait_p50_s, jd2.sla_breaches, jd2.first_response_p50_s) == (180.0, 1, 240.0)
    assert jd2.satisfaction_distribution == [1, 0, 0, 0, 0]

    web2 = row(rows, D2, "web")
    assert (web2.conversations, web2.closed, web2.self_resolved) == (2, 2, 1)
    assert (web2.customer_messages, web2.bot_messages, web2.answered_messages) == (4, 3, 1)
    assert web2.intent_hit_rate == Decimal("0.3333")
    assert (web2.handed_off, web2.accepted, web2.abandoned_in_queue) == (1, 0, 1)
    assert web2.wait_p50_s is None
    assert web2.first_response_p50_s is None
    assert web2.ratings == 0
    assert web2.satisfaction_mean is None


def test_channel_filter_and_a_channel_key_sees_only_its_channel(world: Database) -> None:
    with world.transaction(write=False) as s:
        jd_only = metrics.daily_metrics(s, ANALYST, start=D1, end=D2, channel_code="jd")
        assert [(r.day, r.channel_code) for r in jd_only] == [(D1, "jd"), (D2, "jd")]

        bound = Principal("api_key", 1, "jd key", Role.ADMIN, channel_code="jd")
        assert {r.channel_code for r in metrics.daily_metrics(s, bound, start=D1, end=D2)} == {"jd"}
        with pytest.raises(PermissionDenied):
            metrics.daily_metrics(s, bound, start=D1, end=D2, channel_code="web")
        with pytest.raises(PermissionDenied):
            metrics.daily_metrics(s, Principal("user", None, "guide", Role.GUIDE), start=D1, end=D2)


def test_period_totals_previous_period_channels_and_days(world: Database) -> None:
    with world.transaction(write=False) as s:
        period = metrics.period_metrics(s, ANALYST, start=D1, end=D2)

    t = period.total
    assert (t.conversations, t.closed, t.self_resolved) == (6, 5, 2)
    assert t.self_resolution_rate == Decimal("0.4000")
    assert (t.customer_messages, t.bot_messages, t.answered_messages) == (14, 11, 3)
    assert t.intent_hit_rate == Decimal("0.2727")
    assert (t.handed_off, t.handoff_rate, t.accepted, t.abandoned_in_queue) == (3, Decimal("0.5000"), 2, 1)
    assert (t.ratings, t.satisfaction_mean, t.satisfaction_distribution) == (3, Decimal("3.00"), [1, 0, 1, 0, 1])
    # Percentiles over the whole period (not an average of daily ones): waits 60 and 180 s.
    assert (t.wait_p50_s, t.wait_p95_s, t.sla_breaches) == (120.0, 174.0, 1)
    assert (t.first_response_p50_s, t.first_response_p95_s) == (165.0, 232.5)

    # The two days before: only C0.
    assert (period.previous_start, period.previous_end) == (D0 - timedelta(days=1), D0)
    p = period.previous
    assert (p.conversations, p.self_resolution_rate, p.satisfaction_mean) == (1, Decimal("1.0000"), Decimal("4.00"))

    assert [(c.channel_code, c.conversations) for c in period.by_channel] == [("web", 4), ("jd", 2)]
    web = period.by_channel[0]
    assert (web.self_resolved, web.closed, web.handed_off) == (2, 4, 2)

    assert [d.day for d in period.by_day] == [D1, D2]
    assert all(d.channel_code is None for d in period.by_day)
    d1, d2 = period.by_day
    assert (d1.conversations, d1.customer_messages, d1.handoff_rate) == (3, 7, Decimal("0.3333"))
    assert (d2.conversations, d2.customer_messages, d2.self_resolution_rate) == (3, 7, Decimal("0.3333"))


def test_empty_days_are_zeros_in_the_period(world: Database) -> None:
    with world.transaction(write=False) as s:
        period = metrics.period_metrics(s, ANALYST, start=date(2026, 11, 12), end=date(2026, 11, 14))
    assert [d.conversations for d in period.by_day] == [0, 0, 0]
    assert period.total.conversations == 0
    assert period.total.self_resolution_rate is None
    assert (period.previous_start, period.previous.conversations) == (D0, 7)  # 11-09..11-11: all seven


def test_top_unanswered_groups_wordings_and_counts_items(world: Database) -> None:
    with world.transaction(write=False) as s:
        top = metrics.top_unanswered(s, ANALYST, start=D1, end=D2)
        web = metrics.top_unanswered(s, ANALYST, start=D1, end=D2, channel_code="web")
        first = metrics.top_unanswered(s, ANALYST, start=D1, end=D2, limit=1)

    # "能开专票吗" (jd fallback + open item), "能開專票嗎？" (jd, ignored item), "能开专票吗" (web fallback)
    assert [(u.key, u.count) for u in top] == [("能开专票吗", 3), ("支持花呗吗", 1)]
    invoice = top[0]
    assert invoice.text == "能开专票吗"
    assert (invoice.open_items, invoice.channel_code, invoice.channels) == (1, "jd", ["jd", "web"])
    assert invoice.guess == "invoice.special"  # two items guessed it, one message said invoice.normal
    assert invoice.last_seen == at(D2, 9, 1)
    assert top[1].guess == "payment.huabei"
    assert top[1].open_items == 1
    # Not unanswered: answered, chit-chat, slot and handoff messages without a training item.
    assert all(u.key not in ("运费多少", "你们太差了", "转人工", "在吗") for u in top)

    # On the web shop each was asked once: the most recent first.
    assert [(u.key, u.count, u.channel_code) for u in web] == [("能开专票吗", 1, "web"), ("支持花呗吗", 1, "web")]
    assert [u.key for u in first] == ["能开专票吗"]


def test_question_key_normalises_wordings() -> None:
    assert metrics.question_key("怎麼開發票？") == metrics.question_key("怎么开发票") == "怎么开发票"
    assert metrics.question_key(" Can I  return it? ") == "canireturnit"
    assert metrics.question_key("？！") == ""


def test_percentile_interpolates_like_percentile_cont() -> None:
    assert metrics.percentile([], 0.5) is None
    assert metrics.percentile([7.0], 0.95) == 7.0
    assert metrics.percentile([10.0, 20.0, 30.0, 40.0], 0.5) == 25.0
    assert metrics.percentile([0.0, 100.0], 0.95) == pytest.approx(95.0)


def test_bad_periods_name_every_problem(world: Database) -> None:
    with world.transaction(write=False) as s:
        with pytest.raises(ValidationFailed) as backwards:
            metrics.daily_metrics(s, ANALYST, start=D2, end=D1, tz="Mars/Olympus")
        assert {(p.field, p.code) for p in backwards.value.errors} == {
            ("end", "before_start"),
            ("tz", "unknown_timezone"),
        }
        with pytest.raises(ValidationFailed) as long:
            metrics.daily_metrics(s, ANALYST, start=D1, end=D1 + timedelta(days=metrics.MAX_DAYS))
        assert [p.code for p in long.value.errors] == ["too_long"]
        with pytest.raises(ValidationFailed):
            metrics.top_unanswered(s, ANALYST, start=D1, end=D2, limit=0)


def test_api_reads_need_service_read(world: Database, client: TestClient) -> None:
    analyst = key_headers(make_key(world, role="analyst"))
    params = {"start": D1.isoformat(), "end": D2.isoformat()}

    daily = client.get("/api/v1/service/metrics/daily", params=params, headers=analyst)
    assert daily.status_code == 200, daily.text
    body = daily.json()
    assert [(r["day"], r["channel_code"]) for r in body] == [
        ("2026-11-10", "jd"),
        ("2026-11-10", "web"),
        ("2026-11-11", "jd"),
        ("2026-11-11", "web"),
    ]
    assert Decimal(body[1]["self_resolution_rate"]) == Decimal("0.5")

    period = client.get("/api/v1/service/metrics/period", params={**params, "channel_code": "jd"}, headers=analyst)
    assert period.status_code == 200, period.text
    assert period.json()["total"]["conversations"] == 2

    top = client.get("/api/v1/service/metrics/unanswered", params={**params, "limit": 1}, headers=analyst)
    assert top.status_code == 200, top.text
    assert [u["key"] for u in top.json()] == ["能开专票吗"]

    bad = client.get(
        "/api/v1/service/metrics/daily", params={"start": D2.isoformat(), "end": D1.isoformat()}, headers=analyst
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in bad.json()["errors"]] == ["end"]

    integrator = key_headers(make_key(world, role="integrator", channel_code="web"))
    assert client.get("/api/v1/service/metrics/daily", headers=integrator).status_code == 403
    assert client.get("/api/v1/service/metrics/daily").status_code == 401

    # A console session works too (cs agents read the metrics).
    make_user(world, "zhao.min", "cs_agent")
    console_login(client, "zhao.min")
    assert client.get("/api/v1/service/metrics/unanswered", params=params).status_code == 200


def test_the_figures_are_a_fixed_number_of_aggregate_queries(world: Database) -> None:
    # Given a world ten times as large as the one above
    for _ in range(9):
        build_world_copy(world)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(world.engine, "before_cursor_execute", count)
    try:
        with world.transaction(write=False) as s:
            rows = metrics.daily_metrics(s, ANALYST, start=D1, end=D2)
            daily = len(statements)
            metrics.top_unanswered(s, ANALYST, start=D1, end=D2)
            unanswered = len(statements) - daily
    finally:
        event.remove(world.engine, "before_cursor_execute", count)
    # Then the day rows count ten times the conversations, read with the same few queries:
    # conversations, customer messages, the queue's rows, the SLA settings (SQLite's BEGIN aside).
    assert row(rows, D1, "web").conversations == 20
    assert len([q for q in statements[:daily] if q.lstrip().upper().startswith("SELECT")]) == 4
    assert len([q for q in statements[daily:][:unanswered] if q.lstrip().upper().startswith("SELECT")]) == 1


def build_world_copy(db: Database) -> None:
    """The seven conversations again (C0..C6), without the channels and settings."""
    with db.transaction() as s:
        before = s.query(Conversation).count()
        for conv in s.query(Conversation).order_by(Conversation.id).limit(7).all():
            messages = s.query(ConversationMessage).filter_by(conversation_id=conv.id).order_by(ConversationMessage.seq)
            items = {i.message_id: i for i in s.query(TrainingItem)}
            conversation(
                s,
                conv.channel_code,
                conv.started_at,
                [
                    Msg(
                        m.sender,
                        m.text,
                        m.created_at,
                        m.outcome,
                        m.intent,
                        items[m.id].status if m.id in items else None,
                        items[m.id].guess if m.id in items else None,
                    )
                    for m in messages
                ],
                status=conv.status,
                resolution=conv.resolution,
                closed_at=conv.closed_at,
                queued_at=conv.queued_at,
                accepted_at=conv.accepted_at,
                reason=conv.handoff_reason,
                satisfaction=conv.satisfaction,
            )
        assert s.query(Conversation).count() == before + 7
