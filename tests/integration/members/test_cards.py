"""Member search and the user card: every way a person at the till finds a member, masking for a
role without pii:read, an audit entry for every unmasked view, merged ids that redirect, and
orders from every channel on one card."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from tests.factories import SYSTEM, key_headers, make_key, make_location, make_user
from tests.integration.orders.world import build, tmall_trade, web_order
from zhongtai.auth.models import AuditEntry
from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.db import Database
from zhongtai.errors import NotFound
from zhongtai.members import cards
from zhongtai.members.models import (
    Consent,
    GuideBinding,
    Identifier,
    MatchCandidate,
    Member,
    MemberStats,
    MemberTag,
    MergeEvent,
    Observation,
    PointsEntry,
    TagRule,
    TierRule,
)
from zhongtai.orders import service as orders

GUIDE = Principal("user", 901, "王导购", Role.GUIDE, store_ids=frozenset())
CS = Principal("user", 902, "赵客服", Role.CS_AGENT)
NOW = datetime.now(UTC)


# ---------------------------------------------------------------- a scratch member builder
#
# The identity verbs (members.identity) are written in parallel; these tests build the graph's
# rows directly so that search and the card are tested on their own.


@dataclass
class Person:
    code: str
    name: str = ""
    phones: list[str] = field(default_factory=list)  # E.164
    emails: list[str] = field(default_factory=list)
    cards: list[str] = field(default_factory=list)
    others: list[tuple[str, str, str]] = field(default_factory=list)  # kind, value, app
    channel: str = "web"
    city: str = "上海市"
    address: str = ""
    birthday: date | None = None
    tier: str = ""
    points: int = 0
    enrolled: bool = True
    last_seen: datetime = NOW
    attrs: dict[str, Any] = field(default_factory=dict)


def add_member(s: Session, p: Person) -> Member:
    member = Member(
        code=p.code,
        name=p.name,
        city=p.city,
        address=p.address,
        birthday=p.birthday,
        tier=p.tier,
        points_balance=p.points,
        enrolled_at=NOW - timedelta(days=400) if p.enrolled else None,
        enrolled_channel=p.channel if p.enrolled else "",
        first_seen_at=NOW - timedelta(days=500),
        last_seen_at=p.last_seen,
        **p.attrs,
    )
    s.add(member)
    s.flush()
    idents = (
        [("phone", v, "") for v in p.phones]
        + [("email", v, "") for v in p.emails]
        + [("card", v, "") for v in p.cards]
        + list(p.others)
    )
    for kind, value, app in idents:
        s.add(Identifier(kind=kind, value=value, app=app, member_id=member.id, source_channel=p.channel))
    s.flush()
    return member


def member_id(db: Database, code: str) -> int:
    with db.transaction(write=False) as s:
        found = s.scalar(select(Member.id).where(Member.code == code))
    assert found is not None
    return found


def audits(db: Database) -> list[AuditEntry]:
    with db.transaction(write=False) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == cards.PII_VIEWED).order_by(AuditEntry.id)))


ZHANG = Person(
    "M0000000101",
    "张伟",
    phones=["+8613812345678"],
    emails=["zhang.wei@example.com"],
    cards=["VIP-8801"],
    others=[("jd_pin", "jd_zhangwei", ""), ("openid", "oMini_zhangwei01", "miniapp")],
    address="上海市黄浦区人民大道 200 号",
    birthday=date(1990, 5, 17),
)
LI = Person("M0000000102", "李娜", phones=["+8613900005678"], channel="jd", last_seen=NOW - timedelta(days=3))
ZHAO = Person("M0000000103", "张敏", phones=["+8618600001111"], channel="tmall", last_seen=NOW - timedelta(days=9))


def seed_people(db: Database) -> dict[str, int]:
    with db.transaction() as s:
        return {p.code: add_member(s, p).id for p in (ZHANG, LI, ZHAO)}


# ---------------------------------------------------------------- search


@pytest.mark.parametrize(
    "q",
    [
        "13812345678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "0086 13812345678",
        "86 13812345678",
        "１３８１２３４５６７８",
    ],
)
def test_search_by_phone_in_every_format(db: Database, q: str) -> None:
    seed_people(db)
    with db.transaction(write=False) as s:
        page = cards.search(s, SYSTEM, q)
    assert [m.code for m in page.items] == ["M0000000101"]
    assert page.items[0].matched_by == ["phone"]
    assert page.items[0].phone == "13812345678"


def test_search_by_last_four_digits_code_card_identifier_and_name(db: Database) -> None:
    seed_people(db)
    with db.transaction(write=False) as s:

        def codes(q: str) -> list[str]:
            return [m.code for m in cards.search(s, SYSTEM, q).items]

        # Both phones end in 5678: the most recently seen first
        assert codes("5678") == ["M0000000101", "M0000000102"]
        assert cards.search(s, SYSTEM, "5678").items[1].matched_by == ["phone_last4"]
        assert codes("M0000000102") == ["M0000000102"]
        assert codes("m0000000102") == ["M0000000102"]
        assert codes("vip-8801") == ["M0000000101"]  # card numbers compare upper-case
        assert cards.search(s, SYSTEM, "VIP-8801").items[0].matched_by == ["card"]
        assert codes("Zhang.Wei@Example.com") == ["M0000000101"]
        assert codes("JD_ZhangWei") == ["M0000000101"]  # a marketplace buyer id
        assert codes("oMini_zhangwei01") == ["M0000000101"]  # an openid, whatever its app
        assert codes("张") == ["M0000000101", "M0000000103"]
        assert codes("张伟") == ["M0000000101"]
        assert codes("13999999999") == []
        assert codes("%") == []  # LIKE wildcards are text, not patterns
        assert codes("") == ["M0000000101", "M0000000102", "M0000000103"]


def test_search_pages_with_a_cursor_and_constant_queries(db: Database) -> None:
    with db.transaction() as s:
        for i in range(7):
            add_member(
                s,
                Person(
                    f"M00000002{i:02d}", f"王{i}", phones=[f"+861370000{i:04d}"], last_seen=NOW - timedelta(hours=i)
                ),
            )
    with db.transaction(write=False) as s:
        first = cards.search(s, SYSTEM, "王", limit=4)
        second = cards.search(s, SYSTEM, "王", cursor=first.next_cursor, limit=4)
    assert [m.name for m in first.items + second.items] == [f"王{i}" for i in range(7)]
    assert second.next_cursor is None


@pytest.mark.parametrize("principal", [GUIDE, CS], ids=["masked", "unmasked"])
def test_search_queries_do_not_grow_with_the_page(db: Database, principal: Principal) -> None:
    # An unmasked page writes one audit row per member shown (who saw whom must be answerable
    # per member: one INSERT per row on SQLite, one batched INSERT on PostgreSQL); every other
    # statement is the same whatever the page's size.
    def queries(n: int) -> tuple[int, int]:
        with db.transaction() as s:
            for i in range(n):
                add_member(s, Person(f"M0000003{n:02d}{i:02d}", f"王{n}{i}", phones=[f"+86137{n:02d}00{i:04d}"]))
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(args[2])

        before = len(audits(db))
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            with db.transaction() as s:
                assert len(cards.search(s, principal, f"王{n}").items) == n
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        others = [q for q in statements if not q.lstrip().upper().startswith("INSERT INTO AUDIT_LOG")]
        return len(others), len(audits(db)) - before

    (few, audited_few), (many, audited_many) = queries(2), queries(12)
    assert few == many
    assert (audited_few, audited_many) == ((2, 12) if principal is CS else (0, 0))


def test_guide_sees_masked_results_and_no_audit_is_written(db: Database) -> None:
    ids = seed_people(db)
    with db.transaction() as s:
        row = cards.search(s, GUIDE, "13812345678").items[0]
        card = cards.card(s, GUIDE, ids["M0000000101"])
    assert row.phone == "138****5678"
    assert row.name == "张*"
    assert row.email == "z***@example.com"
    assert card.masked
    assert card.profile.name == "张*"
    assert card.profile.address == "上海市黄浦区****"
    assert card.profile.birthday == "1990-**-**"
    values = {i.kind: i.value for i in card.identities}
    assert values["phone"] == "138****5678"
    assert values["email"] == "z***@example.com"
    assert values["card"] == "VIP-8801"  # the card number is what the guide reads out
    assert audits(db) == []


def test_every_unmasked_view_is_audited(db: Database) -> None:
    ids = seed_people(db)
    with db.transaction() as s:
        rows = cards.search(s, CS, "张").items
        card = cards.card(s, CS, "M0000000101")
    assert {r.name for r in rows} == {"张伟", "张敏"}
    assert not card.masked
    assert card.profile.birthday == "1990-05-17"
    assert {i.value for i in card.identities if i.kind == "phone"} == {"13812345678"}
    entries = audits(db)
    assert [(e.entity_type, e.entity_id, (e.after or {}).get("view")) for e in entries] == [
        ("member", str(ids["M0000000101"]), "search"),
        ("member", str(ids["M0000000103"]), "search"),
        ("member", str(ids["M0000000101"]), "card"),
    ]
    assert all(e.actor_name == "赵客服" and e.actor_id == 902 for e in entries)


def test_a_merged_id_redirects_to_the_survivor(db: Database) -> None:
    ids = seed_people(db)
    with db.transaction() as s:
        absorbed = add_member(s, Person("M0000000199", "张伟", phones=[], channel="jd", enrolled=False))
        absorbed.status, absorbed.merged_into_id = "merged", ids["M0000000101"]
        s.add(
            MergeEvent(
                kind="merge",
                survivor_id=ids["M0000000101"],
                other_id=absorbed.id,
                reason="probabilistic",
                evidence={"probability": 0.97},
                actor_type="system",
                actor_id="",
                actor_name="matcher",
            )
        )
        absorbed_id = absorbed.id
    with db.transaction(write=False) as s:
        card = cards.card(s, SYSTEM, absorbed_id)
        by_code = cards.card(s, SYSTEM, "m0000000199")
        found = cards.search(s, SYSTEM, "M0000000199").items
        everyone = cards.search(s, SYSTEM, "").items
    assert card.code == by_code.code == "M0000000101"
    assert card.redirected_from == absorbed_id
    assert card.redirected_from_code == "M0000000199"
    assert [m.code for m in found] == ["M0000000101"]
    assert found[0].redirected_from == absorbed_id
    assert "M0000000199" not in [m.code for m in everyone]  # merged members redirect, never list
    [merge] = card.merges
    assert (merge.kind, merge.other_code, merge.probability, merge.can_unmerge) == ("merge", "M0000000199", 0.97, True)


def test_unknown_member_is_not_found(db: Database) -> None:
    with db.transaction(write=False) as s, pytest.raises(NotFound):
        cards.card(s, SYSTEM, "M9999999999")


# ---------------------------------------------------------------- the card


def test_card_shows_orders_from_every_channel_with_totals(db: Database) -> None:
    build(db)
    ids = seed_people(db)
    zhang = ids["M0000000101"]
    numbers = []
    with db.transaction() as s:
        for channel, body in (
            ("web", web_order("W-1", ("P1-BLK", 1), placed_at=(NOW - timedelta(days=40)).isoformat())),
            ("pos", web_order("POS-1", ("P1-BLK", 1), mode="pos", store_code="S-SH-01")),
            ("tmall", tmall_trade("TM-1", "WAIT_SELLER_SEND_GOODS", ("CASE-1", 1, "99.00"))),
            ("web", web_order("W-2", ("CASE-1", 1), status="created")),
        ):
            out = orders.intake(s, SYSTEM, channel, body).out.order
            assert out is not None
            numbers.append(out.number)
        orders.assign_members(s, {n: zhang for n in numbers})
        orders.cancel(s, SYSTEM, numbers[3], "买家取消")
    with db.transaction(write=False) as s:
        card = cards.card(s, SYSTEM, zhang, orders_limit=2)
    assert card.orders_limit == 2
    assert len(card.orders) == 2
    with db.transaction(write=False) as s:
        card = cards.card(s, SYSTEM, zhang)
    assert {o.channel_code for o in card.orders} == {"web", "pos", "tmall"}
    placed = [o.placed_at for o in card.orders]
    assert placed == sorted(placed, reverse=True)  # newest first
    assert next(o for o in card.orders if o.channel_code == "pos").store_code == "S-SH-01"
    paid = 399_900 + 399_900 + 9_900
    t = card.totals
    # The cancelled unpaid order does not count
    assert (t.orders_count, t.paid_orders, t.spend_fen, t.refunded_fen) == (3, 3, paid, 0)
    assert t.average_order_fen == paid // 3
    assert t.first_order_at is not None
    assert t.first_order_at < NOW - timedelta(days=39)
    assert {c.code: c.orders for c in card.channels} == {"web": 1, "pos": 1, "tmall": 1}
    months = {m.month for m in card.spend_by_month}
    assert months <= set(cards.month_keys(NOW, "Asia/Shanghai"))
    assert len(months) >= 1
    assert sum(m.spend_fen for m in card.spend_by_month) == paid


def test_card_gathers_the_whole_member(db: Database) -> None:
    ids = seed_people(db)
    zhang = ids["M0000000101"]
    store = make_location(db, "S-SH-01")
    guide = make_user(db, "wang.guide", "guide", [store])
    with db.transaction() as s:
        s.add_all(
            [
                TierRule(code="silver", name_zh="银卡", name_en="Silver", min_spend_fen=0, rank=1),
                TierRule(code="gold", name_zh="金卡", name_en="Gold", min_spend_fen=500_000, rank=2),
                TagRule(code="big_spender", name_zh="高消费", name_en="Big spender", conditions=[]),
                MemberTag(member_id=zhang, tag="big_spender", source="rule"),
                MemberTag(member_id=zhang, tag="喜欢跑步", source="manual", actor_name="王导购"),
                MemberStats(
                    member_id=zhang,
                    orders_count=3,
                    spend_fen=1000,
                    r_score=5,
                    f_score=4,
                    m_score=3,
                    segment="champions",
                ),
                Consent(member_id=zhang, channel="sms", granted=True, source="pos:S-SH-01"),
                Consent(member_id=zhang, channel="sms", granted=False, source="web"),
                Consent(member_id=zhang, channel="wechat", granted=True, source="miniapp"),
                GuideBinding(
                    member_id=zhang, guide_user_id=guide, reason="enrolled", bound_at=NOW - timedelta(days=30)
                ),
                PointsEntry(
                    member_id=zhang,
                    kind="earn",
                    points=300,
                    remaining=120,
                    source="order",
                    source_ref="ZT-1",
                    expires_at=NOW + timedelta(days=10),
                    balance_after=300,
                ),
                PointsEntry(
                    member_id=zhang,
                    kind="earn",
                    points=50,
                    remaining=50,
                    source="order",
                    source_ref="ZT-2",
                    expires_at=NOW + timedelta(days=200),
                    balance_after=350,
                ),
                Observation(source="order", source_ref="ZT-1", channel_code="jd", member_id=zhang),
            ]
        )
        member = s.get(Member, zhang)
        assert member is not None
        member.tier, member.points_balance, member.guide_user_id = "silver", 350, guide
        s.add(
            Identifier(
                kind="phone", value="+8613600000000", member_id=zhang, status="quarantined", source_channel="pos"
            )
        )
    with db.transaction(write=False) as s:
        card = cards.card(s, SYSTEM, "M0000000101")
    assert [(t.tag, t.source, t.name_zh) for t in card.tags] == [
        ("big_spender", "rule", "高消费"),
        ("喜欢跑步", "manual", "喜欢跑步"),
    ]
    assert (card.rfm.r_score, card.rfm.f_score, card.rfm.m_score, card.rfm.segment) == (5, 4, 3, "champions")
    assert {(c.channel, c.granted) for c in card.consents} == {("sms", False), ("wechat", True)}  # the latest answer
    assert card.guide is not None
    assert card.guide.name == "wang.guide"
    assert [h.reason for h in card.guide_history] == ["enrolled"]
    p = card.points
    assert (p.balance, p.tier_name, p.next_tier, p.spend_to_next_fen) == (350, "银卡", "gold", 500_000)
    assert p.expiring_points == 120
    assert sorted(e.points for e in p.recent) == [50, 300]
    assert [i.value for i in card.identities if i.status == "quarantined"] == ["13600000000"]
    assert "jd" in {c.code for c in card.channels}


# ---------------------------------------------------------------- the review queue view


def test_review_pairs_side_by_side_masked_for_a_guide(db: Database) -> None:
    ids = seed_people(db)
    with db.transaction() as s:
        s.add(
            MatchCandidate(
                a_id=ids["M0000000101"],
                b_id=ids["M0000000103"],
                probability=0.82,
                features={
                    "name": {"level": "jaro_winkler>0.9", "match_weight": 3.2, "left": "张伟", "right": "张敏"},
                    "city": {"label": "exact", "bf": 4.0},
                    "birthday": -1.5,
                },
            )
        )
    with db.transaction() as s:
        pair = cards.review_pairs(s, GUIDE).items[0]
    assert (pair.a.code, pair.b.code, pair.probability) == ("M0000000101", "M0000000103", 0.82)
    assert pair.a.name == "张*"
    assert pair.a.phones == ["138****5678"]
    assert [(e.attribute, e.weight) for e in pair.evidence] == [("name", 3.2), ("city", 2.0), ("birthday", -1.5)]
    assert pair.evidence[0].left == "张*"
    assert audits(db) == []


# ---------------------------------------------------------------- the API


def test_api_search_and_card(client: TestClient, db: Database) -> None:
    ids = seed_people(db)
    analyst = key_headers(make_key(db, role="analyst", name="bi"))
    resp = client.get("/api/v1/members", params={"q": "138 1234 5678"}, headers=analyst)
    assert resp.status_code == 200, resp.text
    [row] = resp.json()["items"]
    assert row["code"] == "M0000000101"
    assert row["name"] == "张*"  # an analyst has no pii:read
    card = client.get("/api/v1/members/M0000000101", headers=analyst)
    assert card.status_code == 200
    assert card.json()["masked"] is True
    assert card.json()["id"] == ids["M0000000101"]
    missing = client.get("/api/v1/members/M0000009999", headers=analyst)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["code"] == "not_found"
    assert client.get("/api/v1/members").status_code == 401
    bad = client.get("/api/v1/members", params={"limit": 0}, headers=analyst)
    assert bad.status_code == 422
