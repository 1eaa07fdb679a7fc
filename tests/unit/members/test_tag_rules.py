"""Tag rule validation and evaluation semantics over a small frame (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from zhongtai.members.tags import (
    DEFAULT_RULES,
    FIELDS,
    build_frame,
    condition_problems,
    field_catalogue,
    matching_ids,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _member(member_id: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "member_id": member_id,
        "orders_count": 0,
        "spend_fen": 0,
        "spend_12m_fen": 0,
        "r_score": 0,
        "f_score": 0,
        "m_score": 0,
        "segment": "",
        "tier": "",
        "points_balance": 0,
        "city": "",
        "channels": [],
        "enrolled": False,
        "has_guide": False,
        "consent_sms": False,
        "consent_wechat": False,
    }
    base.update(fields)
    return base


def _days_ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


FRAME = build_frame(
    [
        # 1: a big spender in Shanghai, ordering on JD and the web shop, born in November
        _member(
            1,
            orders_count=12,
            spend_fen=900_000,
            spend_12m_fen=600_000,
            first_order_at=_days_ago(700),
            last_order_at=_days_ago(3),
            r_score=5,
            f_score=5,
            m_score=5,
            segment="champions",
            tier="gold",
            city="上海市",
            channels=["jd", "web"],
            birthday_month=date(1990, 11, 2).month,
            enrolled=True,
            has_guide=True,
            consent_sms=True,
        ),
        # 2: one order 200 days ago at a store in Beijing
        _member(
            2,
            orders_count=1,
            spend_fen=30_000,
            first_order_at=_days_ago(200),
            last_order_at=_days_ago(200),
            r_score=1,
            f_score=2,
            m_score=1,
            segment="lost",
            city="北京市",
            channels=["pos"],
            birthday_month=3,
            consent_wechat=True,
        ),
        # 3: new this month, no birthday known
        _member(
            3,
            orders_count=1,
            spend_fen=9_900,
            spend_12m_fen=9_900,
            first_order_at=_days_ago(10),
            last_order_at=_days_ago(10),
            city="上海市浦东新区",
            channels=["miniapp"],
            enrolled=True,
        ),
        # 4: enrolled, never ordered
        _member(4, enrolled=True, birthday_month=11),
    ],
    NOW,
)


def _match(*conditions: dict[str, Any]) -> set[int]:
    assert condition_problems(list(conditions)) == []
    return matching_ids(FRAME, list(conditions), NOW)


def test_numeric_ops() -> None:
    assert _match({"field": "orders_count", "op": ">=", "value": 1}) == {1, 2, 3}
    assert _match({"field": "orders_count", "op": "==", "value": 1}) == {2, 3}
    assert _match({"field": "orders_count", "op": "!=", "value": 1}) == {1, 4}
    assert _match({"field": "spend_fen", "op": "<", "value": 30_000}) == {3, 4}
    assert _match({"field": "spend_fen", "op": "<=", "value": 30_000}) == {2, 3, 4}
    assert _match({"field": "m_score", "op": "in", "value": [1, 5]}) == {1, 2}


def test_days_since_order_never_match_members_without_orders() -> None:
    assert _match({"field": "last_order_days", "op": ">=", "value": 180}) == {2}
    assert _match({"field": "first_order_days", "op": "<=", "value": 30}) == {3}
    # Member 4 has no orders: != matches nobody without a value either
    assert 4 not in _match({"field": "last_order_days", "op": "!=", "value": 5})


def test_text_ops() -> None:
    assert _match({"field": "city", "op": "==", "value": "上海市"}) == {1}
    assert _match({"field": "city", "op": "contains", "value": "上海"}) == {1, 3}
    assert _match({"field": "city", "op": "in", "value": ["北京市", "上海市"]}) == {1, 2}
    assert _match({"field": "segment", "op": "==", "value": "champions"}) == {1}
    assert _match({"field": "tier", "op": "!=", "value": "gold"}) == {2, 3, 4}


def test_channel_means_has_ordered_in() -> None:
    assert _match({"field": "channel", "op": "==", "value": "jd"}) == {1}
    assert _match({"field": "channel", "op": "contains", "value": "pos"}) == {2}
    assert _match({"field": "channel", "op": "in", "value": ["pos", "miniapp"]}) == {2, 3}
    assert _match({"field": "channel", "op": "!=", "value": "jd"}) == {2, 3, 4}
    assert _match({"field": "channels_count", "op": ">=", "value": 2}) == {1}


def test_bool_fields_and_birthday_this_month() -> None:
    assert _match({"field": "enrolled", "op": "==", "value": True}) == {1, 3, 4}
    assert _match({"field": "has_guide", "op": "==", "value": False}) == {2, 3, 4}
    assert _match({"field": "consent_sms", "op": "==", "value": True}) == {1}
    assert _match({"field": "consent_wechat", "op": "!=", "value": False}) == {2}
    # NOW is in November: "current" means November; member 3 has no birthday
    assert _match({"field": "birthday_month", "op": "==", "value": "current"}) == {1, 4}
    assert _match({"field": "birthday_month", "op": "in", "value": [3, 4]}) == {2}


def test_all_conditions_must_hold() -> None:
    assert _match(
        {"field": "city", "op": "contains", "value": "上海"},
        {"field": "orders_count", "op": ">", "value": 1},
    ) == {1}


def test_default_rules_are_valid_and_tag_the_expected_members() -> None:
    expected = {"high_value": {1}, "dormant": {2}, "omnichannel": {1}, "birthday_this_month": {1, 4}, "new": {3}}
    for code, name_zh, name_en, conditions in DEFAULT_RULES:
        assert name_zh
        assert name_en
        assert _match(*conditions) == expected[code], code


def test_validation_names_every_bad_condition() -> None:
    problems = condition_problems(
        [
            {"field": "orders_count", "op": ">=", "value": 3},  # fine
            {"field": "orders_count", "op": "~", "value": 3},
            {"field": "shoe_size", "op": "==", "value": 42},
            {"field": "city", "op": ">", "value": "上海"},
            {"field": "spend_fen", "op": ">=", "value": "a lot"},
            {"field": "segment", "op": "==", "value": "vip"},
            {"field": "enrolled", "op": "==", "value": "yes"},
            {"field": "birthday_month", "op": "==", "value": 13},
            {"field": "m_score", "op": "in", "value": []},
            {"field": "orders_count", "op": ">=", "value": True},
        ]
    )
    by_field = {p.field: p.code for p in problems}
    assert by_field == {
        "body.conditions.1.op": "unknown_op",
        "body.conditions.2.field": "unknown_field",
        "body.conditions.3.op": "op_not_for_field",
        "body.conditions.4.value": "invalid_value",
        "body.conditions.5.value": "invalid_value",
        "body.conditions.6.value": "invalid_value",
        "body.conditions.7.value": "invalid_value",
        "body.conditions.8.value": "invalid_value",
        "body.conditions.9.value": "invalid_value",
    }
    assert [p.field for p in condition_problems([])] == ["body.conditions"]


def test_field_catalogue_documents_every_field() -> None:
    catalogue = {f.field: f for f in field_catalogue()}
    assert set(catalogue) == set(FIELDS)
    assert catalogue["channel"].ops == ["==", "!=", "in", "contains"]
    assert catalogue["enrolled"].ops == ["==", "!="]
    assert all(f.name_zh and f.name_en for f in catalogue.values())
