"""Per-type event schemas: a valid event of every type parses; each invalid field is named by its
path; fields nobody asked for (a camera's face image) are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from zhongtai.touchpoints.events import EVENT_TYPES, ParsedEvent, parse_event

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
AT = "2026-12-05T19:59:00+08:00"

VALID: dict[str, dict[str, Any]] = {
    "page_view": {"url": "https://shop.example.com/p/1", "title": "P1"},
    "search": {"query": "手机", "results": 0},
    "product_view": {"sku": "P1-BLK", "price_fen": 399_900},
    "add_to_cart": {"sku": "P1-BLK", "quantity": 3, "price_fen": 100},
    "coupon_received": {"coupon": "C10", "value_fen": 1_000, "campaign": "double11"},
    "coupon_used": {"coupon": "C10", "value_fen": 1_000, "order_number": "ZT1"},
    "chat": {"direction": "in", "intent": "refund"},
    "store_entry": {"visitor": "v1", "gender": "female", "age_band": "18-24"},
    "store_exit": {"visitor": "v1", "dwell_s": 300, "gender": "unknown", "age_band": "55+"},
    "dwell": {"visitor": "v1", "zone": "phones", "dwell_s": 40},
    "shelf_interaction": {"shelf": "A3", "action": "pick_up", "sku": "P1-BLK"},
    "scan": {"code": "6901234567890"},
    "order_placed": {"order_number": "ZT1", "total_fen": 5_000},
    "order_paid": {"order_number": "ZT1", "total_fen": 5_000},
    "order_cancelled": {"order_number": "ZT1", "total_fen": 5_000},
    "order_refunded": {"order_number": "ZT1", "total_fen": 5_000, "refund_fen": 1_200},
    "order_completed": {"order_number": "ZT1", "total_fen": 5_000},
}


def _event(type_: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "e-1", "type": type_, "at": AT, "data": data, **extra}


def _fields(outcome: ParsedEvent | list[Any]) -> set[tuple[str, str]]:
    assert isinstance(outcome, list), outcome
    return {(p.field, p.code) for p in outcome}


def test_every_type_has_a_valid_example() -> None:
    assert set(VALID) == set(EVENT_TYPES)


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_a_valid_event_of_each_type_parses(type_: str) -> None:
    parsed = parse_event(_event(type_, VALID[type_]), 0, NOW)
    assert isinstance(parsed, ParsedEvent)
    assert parsed.type == type_
    assert parsed.occurred_at == datetime(2026, 12, 5, 11, 59, tzinfo=UTC)


def test_derived_quantity_and_value() -> None:
    cart = parse_event(_event("add_to_cart", VALID["add_to_cart"]), 0, NOW)
    refund = parse_event(_event("order_refunded", VALID["order_refunded"]), 0, NOW)
    assert isinstance(cart, ParsedEvent)
    assert isinstance(refund, ParsedEvent)
    # 3 x 100 fen
    assert (cart.data["quantity"], cart.data["value_fen"], cart.sku) == (3, 300, "P1-BLK")
    assert refund.data["value_fen"] == 1_200


@pytest.mark.parametrize(
    ("type_", "data", "expected"),
    [
        ("search", {"query": "x"}, {("events[4].data.results", "missing")}),
        ("search", {"query": "", "results": 1}, {("events[4].data.query", "string_too_short")}),
        ("add_to_cart", {"sku": "S", "quantity": 0}, {("events[4].data.quantity", "greater_than_equal")}),
        ("coupon_received", {"coupon": "C", "value_fen": -1}, {("events[4].data.value_fen", "greater_than_equal")}),
        ("chat", {"direction": "sideways"}, {("events[4].data.direction", "literal_error")}),
        (
            "store_entry",
            {"visitor": "v", "gender": "x", "age_band": "30-40"},
            {("events[4].data.gender", "literal_error"), ("events[4].data.age_band", "literal_error")},
        ),
        (
            "store_exit",
            {"visitor": "v", "gender": "male", "age_band": "0-17", "dwell_s": -3},
            {("events[4].data.dwell_s", "greater_than_equal")},
        ),
        ("dwell", {"visitor": "v", "dwell_s": 3}, {("events[4].data.zone", "missing")}),
        ("shelf_interaction", {"shelf": "A", "action": "lick"}, {("events[4].data.action", "literal_error")}),
        ("scan", {}, {("events[4].data.code", "missing")}),
        ("order_paid", {"order_number": "Z"}, {("events[4].data.total_fen", "missing")}),
        ("page_view", {"url": "u", "color": "red"}, {("events[4].data.color", "extra_forbidden")}),
    ],
)
def test_each_invalid_field_is_named(type_: str, data: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    assert _fields(parse_event(_event(type_, data), 4, NOW)) == expected


def test_cameras_cannot_send_faces() -> None:
    data = {**VALID["store_entry"], "face_image": "iVBORw0KGgo=", "face_embedding": [0.1]}
    assert _fields(parse_event(_event("store_entry", data), 0, NOW)) == {
        ("events[0].data.face_image", "extra_forbidden"),
        ("events[0].data.face_embedding", "extra_forbidden"),
    }
    assert _fields(parse_event({**_event("search", VALID["search"]), "face": "x"}, 0, NOW)) == {
        ("events[0].face", "extra_forbidden")
    }


def test_envelope_rules() -> None:
    late = (NOW + timedelta(minutes=6)).isoformat()
    assert _fields(parse_event({**_event("search", VALID["search"]), "at": late}, 1, NOW)) == {
        ("events[1].at", "in_future")
    }
    assert ("events[1].at", "timezone_aware") in _fields(
        parse_event({**_event("search", VALID["search"]), "at": "2026-12-05T10:00:00"}, 1, NOW)
    )
    assert ("events[1].id", "string_pattern_mismatch") in _fields(
        parse_event({**_event("search", VALID["search"]), "id": "a b"}, 1, NOW)
    )
    assert _fields(parse_event(_event("teleport", {}), 1, NOW)) == {("events[1].type", "unknown_type")}
    # envelope and data problems are reported together
    both = _fields(parse_event({"type": "search", "at": AT, "data": {"results": 1}}, 2, NOW))
    assert both == {("events[2].id", "missing"), ("events[2].data.query", "missing")}


def test_identifiers_are_normalised_and_checked() -> None:
    ok = parse_event(
        _event(
            "search",
            VALID["search"],
            identifiers=[
                {"kind": "phone", "value": "+86 138-0013-8000"},
                {"kind": "openid", "value": "oAbc123456", "app": "mini"},
            ],
        ),
        0,
        NOW,
    )
    assert isinstance(ok, ParsedEvent)
    assert [i.key for i in ok.identifiers] == ["phone:+8613800138000", "openid@mini:oAbc123456"]
    bad = parse_event(_event("search", VALID["search"], identifiers=[{"kind": "phone", "value": "12"}]), 0, NOW)
    assert _fields(bad) == {("events[0].identifiers[0].value", "invalid_identifier")}


def test_visitor_becomes_the_anonymous_id() -> None:
    parsed = parse_event(_event("store_entry", VALID["store_entry"], anonymous_id="ignored"), 0, NOW)
    assert isinstance(parsed, ParsedEvent)
    assert parsed.anonymous_id == "v1"
    assert "visitor" not in parsed.data


def test_the_console_snippet_examples_are_valid_events() -> None:
    """The integration snippet on a touchpoint's page shows an event integrators copy: it must pass."""
    from zhongtai.web.views.touchpoints import _DEFAULT_EXAMPLE, _EXAMPLE_EVENTS

    for example in [*_EXAMPLE_EVENTS.values(), _DEFAULT_EXAMPLE]:
        parsed = parse_event(_event(example["type"], example["data"]), 0, NOW)
        assert isinstance(parsed, ParsedEvent), (example, parsed)
