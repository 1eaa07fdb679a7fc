"""The bot's handlers and the read functions they use in other contexts: a serial's shipment
(portable JSON search), the buyer-phone check, members by identifier, delivered members' orders,
and the pre-sale answers (stock, recommendation, comparison) straight from the catalog."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import SYSTEM
from tests.integration.service.chat_world import ALICE_PHONE, SERIALS, build_chat_world
from zhongtai.db import Database, utcnow
from zhongtai.members import identity
from zhongtai.members.identifiers import IdentifierIn, IdKind
from zhongtai.orders import service as orders
from zhongtai.service.actions import Actions, add_months, local_time, yuan
from zhongtai.service.dialogue import ConversationContext, State
from zhongtai.service.entities import Entities, SkuMention
from zhongtai.service.kb import published

CTX = ConversationContext(public_id="CTEST", channel_code="web", channel_kind="web_shop")


def _run(
    db: Database,
    action: str,
    *,
    ctx: ConversationContext = CTX,
    slots: dict | None = None,
    ents: Entities | None = None,
    state: State | None = None,
):  # type: ignore[no-untyped-def,type-arg]
    with db.transaction() as s:
        kb = published(s)
        subs = kb.kb.by_action(action) if kb else []
        assert subs, action
        return Actions(s, ctx).run(
            action, subs[0], dict(slots or {}), state or State(), ctx, ents or Entities(), "", "zh", utcnow()
        )


def test_unit_by_serial_finds_the_shipment_on_both_backends(db: Database) -> None:
    world = build_chat_world(db, publish=False)
    with db.transaction(write=False) as s:
        unit = orders.unit_by_serial(s, SERIALS[0])
        assert orders.unit_by_serial(s, SERIALS[1]) is None  # in stock, never shipped
        assert orders.unit_by_serial(s, SERIALS[0][:-1]) is None  # a prefix is not the serial
        assert orders.unit_by_serial(s, "%") is None
    assert unit is not None
    assert unit.order_number == world.orders["serial"]
    assert unit.sku_code == "P1-SN"
    assert unit.member_id == world.alice
    assert unit.delivered_at is not None


def test_buyer_phone_digits_and_members_by_identifier(db: Database) -> None:
    world = build_chat_world(db, publish=False)
    with db.transaction(write=False) as s:
        assert orders.buyer_phone_matches(s, world.orders["shipped"], ALICE_PHONE[-4:])
        assert not orders.buyer_phone_matches(s, world.orders["shipped"], "0000")
        assert not orders.buyer_phone_matches(s, "ZT000000NOPE0000", ALICE_PHONE[-4:])
        found = identity.member_by_identifiers(s, [IdentifierIn(IdKind.PHONE, "+86" + ALICE_PHONE)])
        assert found is not None
        assert found.id == world.alice
        assert identity.member_by_identifiers(s, [IdentifierIn(IdKind.PHONE, "+8613700000000")]) is None
        brief = identity.member_brief(s, world.bob)
        assert brief is not None
        assert brief.tier == "gold"


def test_delivered_member_orders_window(db: Database) -> None:
    world = build_chat_world(db, publish=False)
    now = utcnow()
    with db.transaction(write=False) as s:
        recent = orders.delivered_member_orders(s, since=now - timedelta(days=10), until=now)
        old = orders.delivered_member_orders(s, since=now - timedelta(days=500), until=now - timedelta(days=10))
    assert [o.number for o in recent] == [world.orders["delivered"]]
    assert [o.number for o in old] == [world.orders["serial"]]
    assert recent[0].member_id == world.alice


def test_stock_recommend_and_compare_from_the_catalog(db: Database) -> None:
    build_chat_world(db)
    blk = SkuMention(code="P1-BLK", name="SKU P1-BLK", score=1.0, span=(0, 6))
    sn = SkuMention(code="P1-SN", name="SKU P1-SN", score=1.0, span=(7, 12))
    stock = _run(db, "product_stock", ents=Entities(skus=(blk,)))
    assert "有货" in stock.text
    assert "门店" in stock.text  # two Shanghai stores hold it
    assert stock.values["stock_status"] == "有货"
    compare = _run(db, "product_compare", ents=Entities(skus=(blk, sn)))
    rows = {r["name"]: (r["a"], r["b"]) for r in compare.payload["compare"]["rows"]}
    assert rows["价格"] == ("¥3,999.00", "¥5,999.00")
    assert rows["电池容量"] == ("4500 mAh", "5000 mAh")
    recommend = _run(db, "product_recommend", ents=Entities(skus=(blk,)))
    assert [c["sku"] for c in recommend.payload["cards"]] == ["P1-SN"]  # same category, another product
    by_category = _run(db, "product_recommend")
    assert by_category.need == "sku"


def test_order_answers_never_leak_to_another_member(db: Database) -> None:
    world = build_chat_world(db)
    bob = ConversationContext(public_id="CBOB", channel_code="web", member_id=world.bob)
    for action in ("order_status", "logistics", "return_eligibility", "cancel_order", "invoice", "return_status"):
        result = _run(db, action, ctx=bob, slots={"order_number": world.orders["shipped"]})
        assert result.need == "order_number", action
        assert "SF1234567890" not in result.text
        assert not result.values
    with db.transaction(write=False) as s:
        assert orders.get_order(s, SYSTEM, world.orders["shipped"]).status == "shipped"


def test_money_dates_and_months() -> None:
    assert yuan(399_900) == "¥3,999.00"
    assert yuan(5) == "¥0.05"
    assert yuan(-100) == "-¥1.00"
    assert add_months(utcnow().date().replace(month=1, day=31), 1).day in (28, 29)
    now = utcnow()
    assert len(local_time(now, now)) == len("12-05 08:00")
    assert local_time(now - timedelta(days=800), now).count("-") == 2
