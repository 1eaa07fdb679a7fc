"""Channel adapters: the marketplace (TOP-style) trade ↔ the normalised order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from zhongtai.errors import ValidationFailed
from zhongtai.orders.adapters import from_marketplace, normalise, status_word, to_marketplace
from zhongtai.orders.schemas import OrderIn


def _order(status: str = "paid") -> OrderIn:
    return OrderIn.model_validate(
        {
            "external_id": "T-1",
            "status": status,
            "placed_at": "2026-11-10T16:00:03+00:00",
            "paid_at": "2026-11-10T16:00:09+00:00" if status == "paid" else None,
            "delivery_mode": "same_city",
            "lines": [
                {
                    "sku_code": "A",
                    "quantity": 2,
                    "unit_price_fen": 19_950,
                    "discount_fen": 1_001,
                    "external_line_id": "o1",
                },
                {"sku_code": "B", "quantity": 1, "unit_price_fen": 5},
            ],
            "buyer": {"marketplace_id": "uid-9", "phone": "13900139000", "name": "李四"},
            "address": {
                "province": "上海市",
                "city": "上海市",
                "address": "南京东路 1 号",
                "latitude": 31.2362,
                "longitude": 121.4781,
                "name": "李四",
                "phone": "13900139000",
            },
            "shipping_fen": 600,
            "order_discount_fen": 99,
            "paid_fen": 2 * 19_950 - 1_001 + 5 - 99 + 600 if status == "paid" else None,
        }
    )


def test_round_trip_keeps_money_times_and_lines_exact() -> None:
    original = _order()
    back = from_marketplace(to_marketplace(original))
    assert back.external_id == "T-1"
    assert back.status == "paid"
    assert back.delivery_mode == "same_city"
    assert [(ln.sku_code, ln.quantity, ln.unit_price_fen, ln.discount_fen) for ln in back.lines] == [
        ("A", 2, 19_950, 1_001),
        ("B", 1, 5, 0),
    ]
    assert back.paid_fen == original.paid_fen
    assert (back.shipping_fen, back.order_discount_fen) == (600, 99)
    # Beijing local time in the trade, UTC again after reading it.
    assert to_marketplace(original)["created"] == "2026-11-11 00:00:03"
    assert back.placed_at == datetime(2026, 11, 10, 16, 0, 3, tzinfo=UTC)
    assert back.address is not None
    assert back.address.latitude == pytest.approx(31.2362)
    assert back.buyer.marketplace_id == "uid-9"


def test_unpaid_trade_states_no_payment() -> None:
    trade = to_marketplace(_order("created"))
    assert trade["status"] == "WAIT_BUYER_PAY"
    assert trade["payment"] is None
    assert from_marketplace(trade).paid_fen is None


def test_every_bad_field_is_named_in_the_channels_words() -> None:
    trade = to_marketplace(_order())
    trade["orders"][0]["price"] = "199.999"
    trade["post_fee"] = "-1"
    trade["created"] = "yesterday"
    trade["receiver_lat"] = "91"
    trade["status"] = "NOPE"
    with pytest.raises(ValidationFailed) as err:
        from_marketplace(trade)
    assert {p.field for p in err.value.errors} == {
        "body.orders.0.price",
        "body.post_fee",
        "body.created",
        "body.receiver_lat",
        "body.status",
    }


def test_missing_fields_and_wrong_body_type() -> None:
    with pytest.raises(ValidationFailed) as err:
        from_marketplace({"status": "WAIT_SELLER_SEND_GOODS", "orders": []})
    assert {"body.tid", "body.orders"} <= {p.field for p in err.value.errors}
    with pytest.raises(ValidationFailed):
        normalise("zhongtai", [1, 2])


def test_status_words() -> None:
    assert status_word("marketplace", "TRADE_CLOSED_BY_TAOBAO") == "cancelled"
    assert status_word("marketplace", "WAIT_BUYER_CONFIRM_GOODS") == "paid"
    assert status_word("zhongtai", "completed") == "completed"
    assert status_word("zhongtai", "TRADE_FINISHED") is None
