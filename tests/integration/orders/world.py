"""A small retailer for order tests: a central DC in Wuhan, a regional DC in Suzhou, two
Shanghai stores 1.5 km apart, a Beijing store; channels web (Zhongtai shape), tmall (marketplace
shape) and pos; a phone in two colours, a case, and a serial-tracked phone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.factories import SYSTEM, make_catalog_basics, make_catalog_sku, make_catalog_spu, make_location, receive
from zhongtai.db import Database

# People's Square, Shanghai (a delivery point 1–2 km from both Shanghai stores).
SH_POINT = {
    "province": "上海市",
    "city": "上海市",
    "district": "黄浦区",
    "address": "人民大道 200 号",
    "latitude": 31.2304,
    "longitude": 121.4737,
}
BJ_POINT = {
    "province": "北京市",
    "city": "北京市",
    "district": "朝阳区",
    "address": "建国路 88 号",
    "latitude": 39.9087,
    "longitude": 116.4605,
}
CD_POINT = {
    "province": "四川省",
    "city": "成都市",
    "district": "锦江区",
    "address": "春熙路 1 号",
    "latitude": 30.6570,
    "longitude": 104.0817,
}


@dataclass
class World:
    locations: dict[str, int]


def build(db: Database, *, stock: bool = True) -> World:
    from zhongtai.channels import service as channels
    from zhongtai.channels.models import Channel

    make_catalog_basics(db)
    make_catalog_spu(db, "P1")
    make_catalog_spu(db, "CASE", category_code="accessories")
    make_catalog_spu(db, "P2")
    make_catalog_sku(db, "P1-BLK", sale_price_fen=399_900, lifecycle="on_sale", sale_attributes={"color": "曜石黑"})
    make_catalog_sku(db, "P1-WHT", sale_price_fen=399_900, lifecycle="on_sale", sale_attributes={"color": "冰川白"})
    make_catalog_sku(db, "CASE-1", spu_code="CASE", sale_price_fen=9_900, lifecycle="on_sale")
    make_catalog_sku(
        db,
        "P1-SN",
        spu_code="P2",
        sale_price_fen=599_900,
        list_price_fen=699_900,
        lifecycle="on_sale",
        serial_tracked=True,
    )
    locs = {
        "DC-WH": make_location(
            db,
            "DC-WH",
            "central_dc",
            province="湖北省",
            city="武汉市",
            region="华中",
            latitude=30.5928,
            longitude=114.3055,
        ),
        "RDC-EC": make_location(
            db,
            "RDC-EC",
            "regional_dc",
            province="江苏省",
            city="苏州市",
            region="华东",
            latitude=31.2989,
            longitude=120.5853,
        ),
        "S-SH-01": make_location(
            db,
            "S-SH-01",
            "store",
            province="上海市",
            city="上海市",
            region="华东",
            latitude=31.2352,
            longitude=121.4811,
        ),  # Nanjing Rd, ~0.9 km
        "S-SH-02": make_location(
            db,
            "S-SH-02",
            "store",
            province="上海市",
            city="上海市",
            region="华东",
            latitude=31.2200,
            longitude=121.4600,
        ),  # ~1.7 km
        "S-BJ-01": make_location(
            db,
            "S-BJ-01",
            "store",
            province="北京市",
            city="北京市",
            region="华北",
            latitude=39.9150,
            longitude=116.4550,
        ),
    }
    with db.transaction() as s:
        channels.create_channel(s, SYSTEM, code="tmall", name="天猫旗舰店", kind="marketplace", platform="tmall")
        channels.create_channel(s, SYSTEM, code="pos", name="门店 POS", kind="pos")
        s.flush()
        for ch in s.query(Channel).all():
            ch.adapter = "marketplace" if ch.code == "tmall" else "zhongtai"
    if stock:
        receive(db, "DC-WH", "P1-BLK", 50)
        receive(db, "DC-WH", "CASE-1", 100)
        receive(db, "RDC-EC", "P1-BLK", 20)
        receive(db, "RDC-EC", "P1-WHT", 5)
        receive(db, "S-SH-01", "P1-BLK", 3)
        receive(db, "S-SH-02", "CASE-1", 10)
        receive(db, "S-BJ-01", "P1-WHT", 2)
        receive(db, "S-SH-01", "P1-SN", 2, serials=["SN-A1", "SN-A2"])
    return World(locs)


def web_order(
    external_id: str,
    *lines: tuple[str, int],
    mode: str = "express",
    status: str = "paid",
    address: dict[str, Any] | None = None,
    store_code: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "status": status,
        "delivery_mode": mode,
        "lines": [
            {"sku_code": s, "quantity": q, "unit_price_fen": 399_900 if s.startswith("P1") else 9_900} for s, q in lines
        ],
        "buyer": {"phone": "13800138000", "name": "张三"},
        **extra,
    }
    if mode in ("express", "same_city"):
        body["address"] = {"name": "张三", "phone": "13800138000", **(address or SH_POINT)}
    if store_code:
        body["store_code"] = store_code
    if status == "paid" and "paid_fen" not in extra:
        body["paid_fen"] = sum(ln["unit_price_fen"] * ln["quantity"] for ln in body["lines"])
    return body


def tmall_trade(tid: str, status: str, *lines: tuple[str, int, str], **extra: Any) -> dict[str, Any]:
    """A TOP-style trade: lines are (outer_sku_id, num, price in yuan)."""
    from decimal import Decimal

    total = sum(Decimal(p) * n for _, n, p in lines)
    return {
        "tid": tid,
        "status": status,
        "created": "2026-11-11 00:00:03",
        "pay_time": "2026-11-11 00:00:09" if status != "WAIT_BUYER_PAY" else None,
        "buyer_open_uid": "AAHk5d-buyer",
        "receiver_name": "李四",
        "receiver_mobile": "13900139000",
        "receiver_state": "北京市",
        "receiver_city": "北京市",
        "receiver_district": "朝阳区",
        "receiver_address": "建国路 88 号",
        "payment": f"{total:.2f}",
        "post_fee": "0.00",
        "discount_fee": "0.00",
        "shipping_type": "express",
        "orders": [{"oid": f"{tid}-{i}", "outer_sku_id": s, "num": n, "price": p} for i, (s, n, p) in enumerate(lines)],
        **extra,
    }
