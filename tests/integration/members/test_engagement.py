"""Member engagement on both backends: statistics and RFM, tag rules and manual tags, guide binding
and reassignment when a guide leaves, consents, and the HTTP API.

Members are inserted as rows (the identity verbs are not what is tested here); orders are counted
through ``stats.record_order``, or inserted into the order table for ``recompute``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update

from tests.factories import SYSTEM, console_login, key_headers, make_key, make_location, make_user
from zhongtai.auth import service as auth_service
from zhongtai.auth.models import AuditEntry
from zhongtai.auth.principal import Principal
from zhongtai.channels.models import Channel
from zhongtai.db import Database
from zhongtai.errors import Conflict, PermissionDenied, ValidationFailed
from zhongtai.members import consents, engagement_tasks, guides, stats, tags
from zhongtai.members.models import GuideBinding, Member, MemberStats, MemberTag, TagRule
from zhongtai.orders.models import Order

NOW = datetime.now(UTC)
_codes = itertools.count(1)


def new_members(db: Database, n: int, **fields: Any) -> list[int]:
    with db.transaction() as s:
        rows = [Member(code=f"M{next(_codes):010d}", name=f"会员{i}", **fields) for i in range(n)]
        s.add_all(rows)
        s.flush()
        return [m.id for m in rows]


def order(
    db: Database, member_id: int, number: str, *, days_ago: int, paid: int, channel: str = "web", **kw: Any
) -> None:
    with db.transaction() as s:
        stats.record_order(
            s,
            member_id,
            order_number=number,
            channel_code=channel,
            paid_fen=paid,
            placed_at=NOW - timedelta(days=days_ago),
            **kw,
        )


def stats_of(db: Database, member_id: int) -> MemberStats | None:
    with db.transaction(write=False) as s:
        row = s.get(MemberStats, member_id)
        if row is not None:
            s.expunge(row)
        return row


def tags_of(db: Database, member_id: int) -> dict[str, str]:
    with db.transaction(write=False) as s:
        return dict(s.execute(select(MemberTag.tag, MemberTag.source).where(MemberTag.member_id == member_id)).all())


def member(db: Database, member_id: int) -> Member:
    with db.transaction(write=False) as s:
        row = s.get(Member, member_id)
        assert row is not None
        s.expunge(row)
        return row


def principal(db: Database, user_id: int) -> Principal:
    with db.transaction(write=False) as s:
        return auth_service.user_principal(s, auth_service.get_user(s, user_id))


# ---------------------------------------------------------------- statistics


def test_orders_and_refunds_keep_the_stats_and_the_preferred_store(db: Database) -> None:
    store_a = make_location(db, "S-A", "store")
    store_b = make_location(db, "S-B", "store")
    (m,) = new_members(db, 1)
    # Given orders from three channels, two of them at store A and one at B
    order(db, m, "ZT1", days_ago=400, paid=50_000, channel="jd")
    order(db, m, "ZT2", days_ago=20, paid=10_000, channel="pos", location_id=store_a, delivery_mode="pos")
    order(db, m, "ZT3", days_ago=5, paid=20_000, channel="pos", location_id=store_b, delivery_mode="pos")
    order(db, m, "ZT4", days_ago=2, paid=5_000, channel="web", location_id=store_a, delivery_mode="click_collect")
    # When an event is replayed
    with db.transaction() as s:
        again = stats.record_order(
            s, m, order_number="ZT4", channel_code="web", paid_fen=5_000, placed_at=NOW - timedelta(days=2)
        )
    # Then it is not counted twice
    assert again is False
    row = stats_of(db, m)
    assert row is not None
    assert row.orders_count == 4
    assert row.spend_fen == 85_000
    assert row.spend_12m_fen == 35_000  # the JD order is older than 12 months
    assert row.channels == ["jd", "pos", "web"]
    assert row.first_order_at is not None
    assert row.first_order_at < NOW - timedelta(days=399)
    assert row.last_order_at is not None
    assert row.last_order_at > NOW - timedelta(days=3)
    assert member(db, m).preferred_location_id == store_a
    # A refund lowers the 12-month spend and adds to refunds
    with db.transaction() as s:
        stats.record_refund(s, m, refund_fen=8_000)
    row = stats_of(db, m)
    assert row is not None
    assert (row.refunded_fen, row.spend_12m_fen) == (8_000, 27_000)
    with db.transaction(write=False) as s:
        out = stats.member_stats(s, m)
    assert out.orders_count == 4
    assert out.spend_fen == 85_000


def _insert_order(s: Any, number: str, member_id: int, **kw: Any) -> None:
    values: dict[str, Any] = {
        "number": number,
        "channel_code": "web",
        "external_id": number,
        "status": "completed",
        "payment_status": "paid",
        "delivery_mode": "express",
        "member_id": member_id,
        "total_fen": kw.get("paid_fen", 0),
        "paid_fen": 0,
        "placed_at": NOW,
    }
    values.update(kw)
    s.add(Order(**values))


def test_recompute_rebuilds_from_the_order_center_after_a_merge(db: Database) -> None:
    store = make_location(db, "S-A", "store")
    survivor, absorbed = new_members(db, 2)
    add_channels(db, "web", "pos")
    with db.transaction() as s:
        _insert_order(s, "ZT-A", survivor, paid_fen=10_000, placed_at=NOW - timedelta(days=30))
        _insert_order(s, "ZT-B", absorbed, paid_fen=30_000, refunded_fen=5_000, placed_at=NOW - timedelta(days=3))
        _insert_order(
            s,
            "ZT-C",
            absorbed,
            channel_code="pos",
            delivery_mode="pos",
            store_location_id=store,
            paid_fen=7_000,
            placed_at=NOW - timedelta(days=1),
        )
        _insert_order(s, "ZT-X", absorbed, status="cancelled", paid_fen=0, placed_at=NOW)
    order(db, survivor, "ZT-A", days_ago=30, paid=10_000)
    order(db, absorbed, "ZT-B", days_ago=3, paid=30_000)
    # When the lead merges (orders move, the absorbed member redirects) and recomputes
    with db.transaction() as s:
        s.execute(update(Order).where(Order.member_id == absorbed).values(member_id=survivor))
        s.execute(update(Member).where(Member.id == absorbed).values(status="merged", merged_into_id=survivor))
        stats.recompute(s, survivor)
    # Then the survivor's stats are the sum of both, cancelled orders left out, and the
    # absorbed member's row is gone
    row = stats_of(db, survivor)
    assert row is not None
    assert (row.orders_count, row.spend_fen, row.refunded_fen) == (3, 47_000, 5_000)
    assert row.spend_12m_fen == 42_000
    assert set(row.channels) == {"web", "pos"}
    assert stats_of(db, absorbed) is None
    assert member(db, survivor).preferred_location_id == store


def test_score_rfm_scores_active_members_and_clears_the_others(db: Database) -> None:
    members = new_members(db, 6)
    for i, m in enumerate(members[:5]):
        for k in range(i + 1):
            order(db, m, f"Z{m}-{k}", days_ago=400 - 90 * i + k, paid=10_000 * (i + 1) ** 2)
    # Member 6 ordered but was erased since
    order(db, members[5], "ZE", days_ago=1, paid=999_999)
    with db.transaction() as s:
        s.execute(update(Member).where(Member.id == members[5]).values(status="erased"))
    with db.transaction() as s:
        scored = stats.score_rfm(s, NOW)
    assert scored == 5
    rows = {m: row for m in members if (row := stats_of(db, m)) is not None}
    assert [rows[m].r_score for m in members[:5]] == [1, 2, 3, 4, 5]
    assert [rows[m].f_score for m in members[:5]] == [1, 2, 3, 4, 5]
    assert rows[members[4]].segment == "champions"
    assert rows[members[0]].segment == "lost"
    assert rows[members[5]].r_score == 0
    assert rows[members[5]].segment == ""
    # Rerunning changes nothing
    with db.transaction() as s:
        assert stats.score_rfm(s, NOW) == 5
        assert stats.segment_counts(s)["champions"] >= 1


# ---------------------------------------------------------------- tag rules


def add_channels(db: Database, *codes: str) -> None:
    with db.transaction() as s:
        s.add_all([Channel(code=c, name=c, kind="web_shop") for c in codes])


def test_rule_evaluation_adds_and_removes_tags_to_match(db: Database) -> None:
    add_channels(db, "jd", "web", "pos")
    big, small, none = new_members(db, 3, city="上海市")
    order(db, big, "B1", days_ago=10, paid=400_000, channel="jd")
    order(db, big, "B2", days_ago=5, paid=200_000, channel="web")
    order(db, small, "S1", days_ago=200, paid=9_900, channel="web")
    with db.transaction() as s:
        assert tags.ensure_default_tag_rules(s) == 5
        assert tags.ensure_default_tag_rules(s) == 0
        tags.create_rule(
            s,
            SYSTEM,
            code="sh_jd",
            name_zh="上海京东客",
            name_en="Shanghai JD buyers",
            conditions=[
                {"field": "city", "op": "contains", "value": "上海"},
                {"field": "channel", "op": "==", "value": "jd"},
            ],
        )
    with db.transaction() as s:
        result = tags.evaluate_rules(s, NOW)
    assert result.evaluated_members == 3
    assert tags_of(db, big) == {"high_value": "rule", "omnichannel": "rule", "sh_jd": "rule", "new": "rule"}
    assert tags_of(db, small) == {"dormant": "rule"}
    assert tags_of(db, none) == {}
    counts = {r.code: r for r in result.rules}
    assert counts["high_value"].added == 1
    assert counts["dormant"].members_count == 1
    # When the small buyer orders again (evaluated at once) and the rule changes
    order(db, small, "S2", days_ago=0, paid=600_000, channel="jd")
    with db.transaction() as s:
        assert tags.evaluate_member(s, small, NOW) == (3, 1)
        tags.update_rule(s, SYSTEM, "sh_jd", conditions=[{"field": "channel", "op": "==", "value": "pos"}])
    assert tags_of(db, small) == {"high_value": "rule", "omnichannel": "rule", "sh_jd": "rule"}
    with db.transaction() as s:
        result = tags.evaluate_rules(s, NOW)
    # Then the changed rule's tags go, and counts say so
    assert {r.code: r.removed for r in result.rules}["sh_jd"] == 2
    assert "sh_jd" not in tags_of(db, big)
    assert "sh_jd" not in tags_of(db, small)
    with db.transaction(write=False) as s:
        rule = s.scalar(select(TagRule).where(TagRule.code == "high_value"))
        assert rule is not None
        assert rule.members_count == 2
        assert rule.evaluated_at is not None
    # An inactive rule's tags go; a deleted rule's too
    with db.transaction() as s:
        tags.update_rule(s, SYSTEM, "omnichannel", active=False)
        tags.evaluate_rules(s, NOW)
        assert tags.delete_rule(s, SYSTEM, "high_value") == 2
    assert tags_of(db, big) == {"new": "rule"}
    # A member no longer active loses rule tags at the next evaluation
    with db.transaction() as s:
        s.execute(update(Member).where(Member.id == big).values(status="erased"))
        tags.evaluate_rules(s, NOW)
    assert tags_of(db, big) == {}


def test_rules_see_consents_guides_and_profile(db: Database) -> None:
    store = make_location(db, "S-A", "store")
    guide = make_user(db, "g1", "guide", [store])
    a, b = new_members(db, 2, birthday=date(1990, NOW.month, 1), enrolled_at=NOW)
    with db.transaction() as s:
        consents.set_consent(s, SYSTEM, a, channel="sms", granted=True, source="pos:S-A")
        consents.set_consent(s, SYSTEM, b, channel="sms", granted=True, source="pos:S-A")
        consents.set_consent(s, SYSTEM, b, channel="sms", granted=False, source="miniapp")
        guides.bind(s, SYSTEM, a, guide)
        tags.create_rule(
            s,
            SYSTEM,
            code="reachable",
            name_zh="可触达",
            name_en="Reachable",
            conditions=[
                {"field": "consent_sms", "op": "==", "value": True},
                {"field": "has_guide", "op": "==", "value": True},
                {"field": "birthday_month", "op": "==", "value": "current"},
                {"field": "enrolled", "op": "==", "value": True},
            ],
        )
        tags.evaluate_rules(s, NOW)
    assert tags_of(db, a) == {"reachable": "rule"}
    assert tags_of(db, b) == {}


def test_rule_validation_names_every_bad_condition_and_unknown_channels(db: Database) -> None:
    add_channels(db, "jd")
    with db.transaction() as s, pytest.raises(ValidationFailed) as caught:
        tags.create_rule(
            s,
            SYSTEM,
            code="bad",
            name_zh="坏",
            name_en="Bad",
            conditions=[
                {"field": "channel", "op": "in", "value": ["jd", "taobao"]},
                {"field": "orders_count", "op": "≈", "value": 1},
                {"field": "nope", "op": "==", "value": 1},
            ],
        )
    assert {p.field for p in caught.value.errors} == {
        "body.conditions.0.value",
        "body.conditions.1.op",
        "body.conditions.2.field",
    }


# ---------------------------------------------------------------- manual tags


def test_manual_tags_and_rule_codes_never_mix(db: Database) -> None:
    a, _b = new_members(db, 2)
    with db.transaction() as s:
        tags.create_rule(
            s,
            SYSTEM,
            code="vip",
            name_zh="贵宾",
            name_en="VIP",
            conditions=[{"field": "orders_count", "op": ">=", "value": 1}],
        )
        out = tags.add_tag(s, SYSTEM, a, "  爱  跑步 ")
        assert [(t.tag, t.source, t.name_zh) for t in out] == [("爱 跑步", "manual", "爱 跑步")]
        assert len(tags.add_tag(s, SYSTEM, a, "爱 跑步")) == 1  # idempotent
        tags.add_tag(s, SYSTEM, a, "团购")
    # A manual tag with a rule's code is refused
    with db.transaction() as s, pytest.raises(ValidationFailed) as caught:
        tags.add_tag(s, SYSTEM, a, "vip")
    assert caught.value.errors[0].code == "rule_tag"
    # A rule whose code is a manual tag in use is refused
    with db.transaction() as s, pytest.raises(ValidationFailed) as caught:
        tags.create_rule(
            s,
            SYSTEM,
            code="团购",
            name_zh="团购",
            name_en="Group",
            conditions=[{"field": "orders_count", "op": ">", "value": 0}],
        )
    assert caught.value.errors[0].field == "body.code"
    # Rule tags cannot be removed by hand
    order(db, a, "A1", days_ago=1, paid=100)
    with db.transaction() as s:
        tags.evaluate_member(s, a, NOW)
    with db.transaction() as s, pytest.raises(Conflict):
        tags.remove_tag(s, SYSTEM, a, "vip")
    with db.transaction() as s:
        names = {t.tag: (t.source, t.name_zh, t.name_en) for t in tags.member_tags(s, a)}
        assert names["vip"] == ("rule", "贵宾", "VIP")
        left = tags.remove_tag(s, SYSTEM, a, "团购")
    assert [t.tag for t in left] == ["vip", "爱 跑步"]
    with db.transaction(write=False) as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "member")))
    assert actions.count("member.tag.add") == 2
    assert actions.count("member.tag.remove") == 1


def test_after_merge_dedupes_tags_and_reevaluates_rules(db: Database) -> None:
    survivor, absorbed = new_members(db, 2)
    with db.transaction() as s:
        tags.create_rule(
            s,
            SYSTEM,
            code="buyer",
            name_zh="买家",
            name_en="Buyer",
            conditions=[{"field": "orders_count", "op": ">=", "value": 1}],
        )
        tags.add_tag(s, SYSTEM, survivor, "团购")
        tags.add_tag(s, SYSTEM, absorbed, "团购")
        tags.add_tag(s, SYSTEM, absorbed, "宝妈")
    order(db, absorbed, "AB1", days_ago=1, paid=100)
    with db.transaction() as s:
        tags.evaluate_member(s, absorbed, NOW)
    assert tags_of(db, absorbed) == {"团购": "manual", "宝妈": "manual", "buyer": "rule"}
    with db.transaction() as s:
        s.execute(update(Member).where(Member.id == absorbed).values(status="merged", merged_into_id=survivor))
        s.execute(update(MemberStats).where(MemberStats.member_id == absorbed).values(member_id=survivor))
        tags.after_merge(s, survivor, absorbed)
    assert tags_of(db, survivor) == {"团购": "manual", "宝妈": "manual", "buyer": "rule"}
    assert tags_of(db, absorbed) == {}


# ---------------------------------------------------------------- guides


@pytest.fixture
def shops(db: Database) -> dict[str, int]:
    a = make_location(db, "S-A", "store")
    b = make_location(db, "S-B", "store")
    return {
        "S-A": a,
        "S-B": b,
        "g1": make_user(db, "g1", "guide", [a]),
        "g2": make_user(db, "g2", "guide", [a]),
        "g3": make_user(db, "g3", "guide", [a]),
        "g4": make_user(db, "g4", "guide", [b]),
        "mgr_b": make_user(db, "mgr_b", "store_manager", [b]),
        "analyst": make_user(db, "ana", "analyst"),
    }


def open_bindings(db: Database, member_id: int) -> list[GuideBinding]:
    with db.transaction(write=False) as s:
        rows = list(
            s.scalars(
                select(GuideBinding).where(GuideBinding.member_id == member_id, GuideBinding.unbound_at.is_(None))
            )
        )
        s.expunge_all()
        return rows


def test_binding_rules_and_history(db: Database, shops: dict[str, int]) -> None:
    (m,) = new_members(db, 1)
    g1, g2 = principal(db, shops["g1"]), principal(db, shops["g2"])
    mgr_b = principal(db, shops["mgr_b"])
    # A guide binds to themself only
    with db.transaction() as s:
        out = guides.bind(s, g1, m, shops["g1"])
    assert out.guide_user_id == shops["g1"]
    assert out.location_id == shops["S-A"]
    assert out.guide_name == "g1"
    with db.transaction() as s, pytest.raises(PermissionDenied):
        guides.bind(s, g1, m, shops["g2"])
    # A store manager only within their stores (neither to a guide of store A, nor away from one)
    with db.transaction() as s, pytest.raises(PermissionDenied):
        guides.bind(s, mgr_b, m, shops["g1"])
    with db.transaction() as s, pytest.raises(PermissionDenied):
        guides.bind(s, mgr_b, m, shops["g4"])
    # Only active guides take members
    with db.transaction() as s, pytest.raises(ValidationFailed) as caught:
        guides.bind(s, SYSTEM, m, shops["analyst"])
    assert caught.value.errors[0].code == "not_a_guide"
    with db.transaction() as s:
        auth_service.update_user(s, SYSTEM, shops["g3"], is_active=False)
    with db.transaction() as s, pytest.raises(ValidationFailed) as caught:
        guides.bind(s, SYSTEM, m, shops["g3"])
    assert caught.value.errors[0].code == "inactive_guide"
    # Binding again to the same guide changes nothing; a new guide closes the old binding
    with db.transaction() as s:
        guides.bind(s, g1, m, shops["g1"])
        guides.bind(s, g2, m, shops["g2"])
    assert [b.guide_user_id for b in open_bindings(db, m)] == [shops["g2"]]
    assert member(db, m).guide_user_id == shops["g2"]
    with db.transaction() as s:
        guides.unbind(s, g2, m)
        history = guides.binding_history(s, m)
    assert member(db, m).guide_user_id is None
    assert [(h.guide_user_id, h.unbound_at is not None) for h in history] == [(shops["g2"], True), (shops["g1"], True)]
    assert history[0].guide_name == "g2"
    assert history[0].actor_name == "g2"


def test_reassign_spreads_a_leaving_guides_members_least_loaded_first(db: Database, shops: dict[str, int]) -> None:
    leaving = new_members(db, 5)
    g2_members = new_members(db, 2)
    with db.transaction() as s:
        for m in leaving:
            guides.bind(s, SYSTEM, m, shops["g1"])
        for m in g2_members:
            guides.bind(s, SYSTEM, m, shops["g2"])
    # When g1 leaves with nobody named
    with db.transaction() as s:
        out = guides.reassign(s, SYSTEM, shops["g1"])
    # Then the five spread over g2 (2 already) and g3 (none) so they end up even
    assert out.moved == 5
    assert {c.guide_user_id: c.members for c in out.to} == {shops["g2"]: 2, shops["g3"]: 3}
    with db.transaction(write=False) as s:
        load = {g.guide_user_id: g.members for g in guides.guide_load(s, shops["S-A"])}
    assert load == {shops["g1"]: 0, shops["g2"]: 4, shops["g3"]: 3}
    for m in leaving:
        rows = open_bindings(db, m)
        assert len(rows) == 1
        assert rows[0].reason == "reassigned"
        assert rows[0].guide_user_id in (shops["g2"], shops["g3"])
        assert member(db, m).guide_user_id == rows[0].guide_user_id
    # To a named guide
    with db.transaction() as s:
        assert guides.reassign_from(s, SYSTEM, shops["g3"], to_guide_id=shops["g2"]) == 3
    with db.transaction(write=False) as s:
        assert {g.guide_user_id: g.members for g in guides.guide_load(s, shops["S-A"])}[shops["g2"]] == 7


def test_reassign_never_loses_a_member(db: Database, shops: dict[str, int]) -> None:
    members = new_members(db, 3)
    with db.transaction() as s:
        for m in members:
            guides.bind(s, SYSTEM, m, shops["g4"])
    # g4 is the only guide of store B: nobody to spread to
    with db.transaction() as s, pytest.raises(Conflict) as caught:
        guides.reassign(s, SYSTEM, shops["g4"])
    assert caught.value.extra["code"] == "no_guide_available"
    assert all(member(db, m).guide_user_id == shops["g4"] for m in members)
    # An inactive target is refused, the members stay
    with db.transaction() as s:
        auth_service.update_user(s, SYSTEM, shops["g3"], is_active=False)
    with db.transaction() as s, pytest.raises(ValidationFailed):
        guides.reassign(s, SYSTEM, shops["g4"], to_guide_id=shops["g3"])
    assert all(len(open_bindings(db, m)) == 1 for m in members)


def test_orphan_sweep_moves_members_of_deactivated_guides(db: Database, shops: dict[str, int]) -> None:
    a_members = new_members(db, 4)
    b_members = new_members(db, 2)
    with db.transaction() as s:
        for m in a_members:
            guides.bind(s, SYSTEM, m, shops["g1"])
        for m in b_members:
            guides.bind(s, SYSTEM, m, shops["g4"])
        auth_service.update_user(s, SYSTEM, shops["g1"], is_active=False)
        auth_service.update_user(s, SYSTEM, shops["g4"], is_active=False)
    with db.transaction(write=False) as s:
        assert guides.orphaned_guides(s) == sorted([shops["g1"], shops["g4"]])
    # When the schedule runs
    result = engagement_tasks.reassign_orphans(db)
    # Then store A's members went to g2 and g3; store B has nobody, so its members wait, still bound
    assert result == {"guides": 2, "moved": 4, "stuck": [shops["g4"]]}
    assert sorted(member(db, m).guide_user_id or 0 for m in a_members) == sorted(
        [shops["g2"], shops["g2"], shops["g3"], shops["g3"]]
    )
    assert all(member(db, m).guide_user_id == shops["g4"] for m in b_members)
    with db.transaction(write=False) as s:
        assert guides.orphaned_guides(s) == [shops["g4"]]
        audit = s.scalar(select(AuditEntry).where(AuditEntry.action == "member.guide.reassign"))
    assert audit is not None
    assert audit.actor_name == "job:members.guide-orphans"


def test_guide_after_merge_keeps_the_survivors_guide_or_takes_the_absorbed(db: Database, shops: dict[str, int]) -> None:
    s1, a1, s2, a2 = new_members(db, 4)
    with db.transaction() as s:
        guides.bind(s, SYSTEM, s1, shops["g1"])
        guides.bind(s, SYSTEM, a1, shops["g2"])
        guides.bind(s, SYSTEM, a2, shops["g3"])
    with db.transaction() as s:
        # The lead moves the bindings, then calls the hook
        for survivor, absorbed in ((s1, a1), (s2, a2)):
            s.execute(update(GuideBinding).where(GuideBinding.member_id == absorbed).values(member_id=survivor))
            sv, ab = s.get(Member, survivor), s.get(Member, absorbed)
            assert sv is not None
            assert ab is not None
            guides.after_merge(s, SYSTEM, sv, ab)
    assert member(db, s1).guide_user_id == shops["g1"]
    assert [b.guide_user_id for b in open_bindings(db, s1)] == [shops["g1"]]
    assert member(db, s2).guide_user_id == shops["g3"]
    rows = open_bindings(db, s2)
    assert [(b.guide_user_id, b.reason) for b in rows] == [(shops["g3"], "merged")]
    assert member(db, a1).guide_user_id is None
    assert member(db, a2).guide_user_id is None


def test_guide_members_page_is_scoped(db: Database, shops: dict[str, int]) -> None:
    members = new_members(db, 3)
    with db.transaction() as s:
        for m in members:
            guides.bind(s, SYSTEM, m, shops["g1"])
    with db.transaction(write=False) as s:
        page = guides.guide_members(s, principal(db, shops["g1"]), shops["g1"], limit=2)
        assert [p.member_id for p in page.items] == members[:2]
        assert page.next_cursor
        assert page.items[0].name == "会**"
        assert page.items[0].bound_at is not None
        rest = guides.guide_members(s, principal(db, shops["g1"]), shops["g1"], cursor=page.next_cursor, limit=2)
        assert [p.member_id for p in rest.items] == members[2:]
        with pytest.raises(PermissionDenied):
            guides.guide_members(s, principal(db, shops["g2"]), shops["g1"])
        from zhongtai.errors import NotFound

        with pytest.raises(NotFound):
            guides.guide_members(s, principal(db, shops["mgr_b"]), shops["g1"])


# ---------------------------------------------------------------- consents


def test_consents_are_append_only_and_the_latest_wins(db: Database) -> None:
    m, erased = new_members(db, 2)
    with db.transaction(write=False) as s:
        current = consents.current_consents(s, m)
    assert set(current) == {"sms", "wechat", "email", "phone", "app_push"}
    assert not any(c.granted for c in current.values())
    with db.transaction() as s:
        consents.set_consent(s, SYSTEM, m, channel="sms", granted=True, source="pos:S-A")
        consents.set_consent(s, SYSTEM, m, channel="wechat", granted=True, source="miniapp")
    with db.transaction() as s:
        consents.set_consent(s, SYSTEM, m, channel="sms", granted=False, source="web")
    with db.transaction(write=False) as s:
        current = consents.current_consents(s, m)
        history = consents.consent_history(s, m)
    assert (current["sms"].granted, current["sms"].source) == (False, "web")
    assert current["wechat"].granted is True
    assert current["email"].granted is False
    assert [(h.channel, h.granted) for h in history] == [("sms", False), ("wechat", True), ("sms", True)]
    with db.transaction() as s, pytest.raises(ValidationFailed):
        consents.set_consent(s, SYSTEM, m, channel="fax", granted=True, source="web")
    with db.transaction() as s:
        s.execute(update(Member).where(Member.id == erased).values(status="erased"))
    with db.transaction() as s, pytest.raises(Conflict):
        consents.set_consent(s, SYSTEM, erased, channel="sms", granted=True, source="web")


# ---------------------------------------------------------------- HTTP


def test_api_tags_rules_guides_and_consents(client: TestClient, db: Database, shops: dict[str, int]) -> None:
    admin = key_headers(make_key(db, role="admin", name="admin"))
    analyst = key_headers(make_key(db, role="analyst", name="analyst"))
    (m,) = new_members(db, 1, city="上海市")
    code = member(db, m).code
    order(db, m, "H1", days_ago=1, paid=600_000, channel="web")
    # Tag rules: 422 naming every bad condition
    bad = client.post(
        "/api/v1/member-tag-rules",
        json={
            "code": "big",
            "name_zh": "大客",
            "name_en": "Big",
            "conditions": [
                {"field": "spend_fen", "op": ">=", "value": 100},
                {"field": "spend_fen", "op": "=>", "value": 100},
                {"field": "height", "op": "==", "value": 1},
            ],
        },
        headers=admin,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in bad.json()["errors"]} == {"body.conditions.1.op", "body.conditions.2.field"}
    rule = {
        "code": "big",
        "name_zh": "大客",
        "name_en": "Big",
        "conditions": [{"field": "spend_fen", "op": ">=", "value": 100_000}],
    }
    assert client.post("/api/v1/member-tag-rules", json=rule, headers=analyst).status_code == 403
    created = client.post("/api/v1/member-tag-rules", json=rule, headers=admin)
    assert created.status_code == 201, created.text
    evaluated = client.post("/api/v1/member-tag-rules/evaluate", headers=admin)
    assert evaluated.status_code == 200
    assert evaluated.json()["added"] == 1
    assert evaluated.json()["rules"][0]["code"] == "big"
    assert client.get("/api/v1/member-tag-rules", headers=analyst).json()[0]["members_count"] == 1
    assert len(client.get("/api/v1/member-tag-rules/fields", headers=analyst).json()) == len(tags.FIELDS)
    changed = client.put("/api/v1/member-tag-rules/big", json={"name_en": "Big spender"}, headers=admin)
    assert changed.status_code == 200
    assert changed.json()["name_en"] == "Big spender"
    assert client.put("/api/v1/member-tag-rules/nope", json={}, headers=admin).status_code == 404
    # Manual tags, by member code
    added = client.post(f"/api/v1/members/{code}/tags", json={"tag": "团购"}, headers=admin)
    assert added.status_code == 201
    assert {t["tag"]: t["source"] for t in added.json()} == {"big": "rule", "团购": "manual"}
    assert (
        client.post(f"/api/v1/members/{code}/tags", json={"tag": "big"}, headers=admin).json()["errors"][0]["field"]
        == "body.tag"
    )
    assert client.post(f"/api/v1/members/{code}/tags", json={"tag": "x"}, headers=analyst).status_code == 403
    assert client.delete(f"/api/v1/members/{m}/tags/团购", headers=admin).status_code == 200
    assert client.delete(f"/api/v1/members/{m}/tags/big", headers=admin).status_code == 409
    assert [t["tag"] for t in client.get(f"/api/v1/members/{m}/tags", headers=analyst).json()] == ["big"]
    missing = client.get("/api/v1/members/M9999999999/tags", headers=admin)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert client.delete("/api/v1/member-tag-rules/big", headers=admin).status_code == 204
    # Stats
    assert client.get(f"/api/v1/members/{code}/stats", headers=analyst).json()["spend_fen"] == 600_000
    # Consents
    put = client.put(
        f"/api/v1/members/{code}/consents", json={"sms": True, "wechat": False, "source": "pos:S-A"}, headers=admin
    )
    assert put.status_code == 200
    assert put.json()["sms"]["granted"] is True
    assert put.json()["wechat"]["granted"] is False
    bad_consent = client.put(f"/api/v1/members/{code}/consents", json={"fax": True}, headers=admin)
    assert {e["field"] for e in bad_consent.json()["errors"]} == {"body.fax", "body.source"}
    assert client.get(f"/api/v1/members/{code}/consents", headers=analyst).json()["sms"]["source"] == "pos:S-A"
    assert len(client.get(f"/api/v1/members/{code}/consent-history", headers=analyst).json()) == 2
    # Guides: admin binds, the history shows it, a bad guide is a 422 naming the field
    bound = client.put(f"/api/v1/members/{code}/guide", json={"guide_user_id": shops["g1"]}, headers=admin)
    assert bound.status_code == 200
    assert bound.json()["guide_user_id"] == shops["g1"]
    not_guide = client.put(f"/api/v1/members/{code}/guide", json={"guide_user_id": shops["analyst"]}, headers=admin)
    assert not_guide.status_code == 422
    assert not_guide.json()["errors"][0]["field"] == "body.guide_user_id"
    assert len(client.get(f"/api/v1/members/{code}/guide-history", headers=analyst).json()) == 1
    assert client.get("/api/v1/guides?location=S-A", headers=analyst).json()[0]["members"] == 0
    # A guide sees only their own members, and binds only to themself
    g2 = console_login(client, "g2")
    assert client.get(f"/api/v1/guides/{shops['g1']}/members").status_code == 403
    assert client.get(f"/api/v1/guides/{shops['g2']}/members").json()["items"] == []
    assert client.put(f"/api/v1/members/{m}/guide", json={"guide_user_id": shops["g1"]}, headers=g2).status_code == 403
    assert client.post(f"/api/v1/guides/{shops['g1']}/reassign", json={}, headers=g2).status_code == 403
    # The leaving guide's members move
    moved = client.post(f"/api/v1/guides/{shops['g1']}/reassign", json={"to_guide_id": None}, headers=admin)
    assert moved.status_code == 200
    assert moved.json()["moved"] == 1
    page = (
        client.get(f"/api/v1/guides/{shops['g2']}/members").json()["items"]
        + client.get(f"/api/v1/guides/{shops['g3']}/members", headers=admin).json()["items"]
    )
    assert [p["member_id"] for p in page] == [m]
    assert client.delete(f"/api/v1/members/{code}/guide", headers=admin).json()["guide_user_id"] is None
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(GuideBinding).where(GuideBinding.unbound_at.is_(None))) == 0


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_evaluation_and_lists_do_not_query_per_member(client: TestClient, db: Database, shops: dict[str, int]) -> None:
    few = new_members(db, 3, city="上海市")
    with db.transaction() as s:
        tags.ensure_default_tag_rules(s)
    for m in few:
        order(db, m, f"F{m}", days_ago=1, paid=600_000)
    with db.transaction() as s, statements(db) as small:
        assert tags.evaluate_rules(s, NOW).evaluated_members == 3
    many = new_members(db, 40, city="上海市")
    for m in many:
        order(db, m, f"F{m}", days_ago=200, paid=100)
    with db.transaction() as s, statements(db) as large:
        assert tags.evaluate_rules(s, NOW).evaluated_members == 43
    # Three reads (rules, members, consents), per rule one read and at most one insert and one
    # delete batch, and the rules' counts: never a statement per member
    assert len(small) <= 3 + 3 * 5 + 1, small
    assert len(large) <= 3 + 3 * 5 + 1, large
    # Lists: the query count does not grow with the page
    with db.transaction() as s:
        for m in [*few, *many]:
            guides.bind(s, SYSTEM, m, shops["g1"])
    admin = key_headers(make_key(db, role="admin", name="admin"))
    url = f"/api/v1/guides/{shops['g1']}/members"
    client.get(url, params={"limit": 1}, headers=admin)
    with statements(db) as small:
        assert len(client.get(url, params={"limit": 2}, headers=admin).json()["items"]) == 2
    with statements(db) as large:
        assert len(client.get(url, params={"limit": 40}, headers=admin).json()["items"]) == 40
    assert len(large) == len(small)
    assert len(large) <= 8, large
