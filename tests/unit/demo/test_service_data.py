"""The customer-service demo data: placeholders filled from facts, and the six weeks of planned
conversations (pure, no database)."""

from __future__ import annotations

import importlib.util
import random
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from zhongtai.demo.service_data import (
    CHANNEL_WEIGHTS,
    HISTORY_DAYS,
    OPEN_TODAY,
    Facts,
    Filler,
    MemberFact,
    Need,
    OrderFact,
    PlaceholderError,
    ReturnFact,
    SkuFact,
    fill_conversation,
    fill_conversation_facts,
    members_meeting,
    needs_of,
    order_answer,
    param_text,
    plan_history,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def _sku(code: str, model: str, category: str = "phone", **kw: object) -> SkuFact:
    defaults: dict[str, object] = {
        "name": f"云启 {model} 手机 {code}",
        "spu_code": f"SPU-{model}",
        "spu_name": f"云启 {model} 5G 手机",
        "model": model,
        "category": category,
        "lifecycle": "on_sale",
        "serial_tracked": True,
        "price_fen": 199_900,
        "params": {},
        "accessories": (),
        "brand": "云启",
    }
    defaults.update(kw)
    return SkuFact(code=code, **defaults)  # type: ignore[arg-type]


def _order(number: str, status: str, member: int | None, days_ago: float, **kw: object) -> OrderFact:
    defaults: dict[str, object] = {
        "channel_code": "web",
        "payment_status": "paid",
        "delivered_at": None,
        "sku_codes": ("Q60P-BK",),
    }
    defaults.update(kw)
    return OrderFact(
        number=number,
        status=status,
        member_id=member,
        placed_at=NOW - timedelta(days=days_ago),
        **defaults,  # type: ignore[arg-type]
    )


def make_facts() -> Facts:
    skus = {
        "Q60P-BK": _sku(
            "Q60P-BK",
            "Q60 Pro",
            params={"battery_capacity": "5500", "screen_size": "6.78"},
            accessories=("CASE-Q60P",),
        ),
        "S30-BK": _sku("S30-BK", "S30", params={"battery_capacity": "5000"}, price_fen=179_900, spu_code="SPU-S30"),
        # one colour withdrawn while the product sells on
        "S30-RED": _sku("S30-RED", "S30", lifecycle="off_sale", spu_lifecycle="on_sale", spu_code="SPU-S30"),
        "CASE-Q60P": _sku(
            "CASE-Q60P",
            "",
            category="phone_case",
            serial_tracked=False,
            spu_name="盾甲 云启 Q60 Pro 液态硅胶手机壳",
            brand="盾甲",
            name="盾甲 云启 Q60 Pro 液态硅胶手机壳 曜石黑",
            spu_code="SPU-CASE",
        ),
        # a case named after the phone, without a model parameter of its own
        "CASE2-Q60P": _sku(
            "CASE2-Q60P",
            "",
            category="phone_case",
            serial_tracked=False,
            spu_name="云启 Q60 Pro 官方素皮保护壳",
            spu_code="SPU-CASE2",
        ),
        "CHG120": _sku(
            "CHG120",
            "",
            category="charger",
            serial_tracked=False,
            spu_name="云启 120W 超级快充充电器",
            spu_code="SPU-CHG",
            lifecycle="off_sale",
        ),
    }
    orders = [
        _order("ZT001", "shipped", 1, 2, carrier="顺丰速运", tracking="SF123"),
        _order("ZT002", "delivered", 1, 5, returnable=True, serials=(("Q60P-BK", "SN-A1"),)),
        _order("ZT003", "completed", 1, 30, serials=(("Q60P-BK", "SN-A2"),)),
        _order("ZT004", "completed", 2, 20, returns=(ReturnFact("ZT004-R1", "received"),)),
        _order("ZT005", "shipped", 2, 0.5),
        _order("ZT006", "routed", None, 1),
        _order("ZT007", "completed", 3, 40, sku_codes=("S30-BK", "CASE-Q60P")),
    ]
    members = {
        1: MemberFact(1, "张伟", "13800000001", "gold"),
        2: MemberFact(2, "李娜", "13800000002", "silver"),
        3: MemberFact(3, "王芳", "13800000003", ""),
    }
    return Facts(skus=skus, orders=orders, members=members, attributes={"battery_capacity": ("电池容量", "mAh")})


def test_needs_are_counted_per_order_class() -> None:
    texts = ["{order:shipped} 到哪了", "还有 {order:shipped#2}", "序列号 {serial:received}", "{sku:on_sale|model}"]
    assert needs_of(texts) == [Need("shipped", 2), Need("received", 1, serial=True)]
    with pytest.raises(PlaceholderError):
        needs_of(["{order:teleported}"])


def test_a_placeholder_means_the_same_value_throughout_a_conversation() -> None:
    facts = make_facts()
    filler = Filler(facts, random.Random(1), member=facts.members[1], now=NOW)
    first = filler.fill("{order:shipped} 到哪了")
    again = filler.fill("单号 {order:shipped|tracking}，订单 {order:shipped}")
    assert first == "ZT001 到哪了"
    assert again == "单号 SF123，订单 ZT001"


def test_orders_and_serials_are_the_members_own() -> None:
    facts = make_facts()
    filler = Filler(facts, random.Random(3), member=facts.members[1], now=NOW)
    serial = filler.fill("{serial:received}")
    assert serial in ("SN-A1", "SN-A2")
    assert filler.fill("{serial:received|model}") == "Q60 Pro"
    # member 1 has no returned order: the facts cannot fill it
    with pytest.raises(PlaceholderError, match="no returned order of member 1"):
        filler.fill("{order:returned}")


def test_the_nth_value_of_a_selector_is_a_different_one() -> None:
    facts = make_facts()
    filler = Filler(facts, random.Random(5))
    one, two = filler.fill("{sku:category=phone|model}"), filler.fill("{sku:category=phone#2|model}")
    assert {one, two} == {"Q60 Pro", "S30"}
    with pytest.raises(PlaceholderError):
        filler.fill("{sku:category=phone#3}")


def test_sku_fields_come_from_the_catalog_facts() -> None:
    facts = make_facts()
    filler = Filler(facts, random.Random(0))
    assert filler.fill("{sku:model=Q60 Pro|param.battery_capacity}") == "5500"
    assert filler.fill("{sku:model=q60 pro|price}") == "1999"
    assert filler.fill("{sku:model=Q60 Pro|accessory}") == "盾甲 云启 Q60 Pro 液态硅胶手机壳 曜石黑"
    # without a model parameter, the product's name without its brand; a product off sale (not a
    # withdrawn colour of one that sells on) is selectable
    assert {Filler(facts, random.Random(k)).fill("{sku:off_sale|model}") for k in range(10)} == {"120W 超级快充充电器"}
    assert filler.fill("{sku:off_sale|model}") == "120W 超级快充充电器"
    assert filler.fill("{sku:model=120W}") == "120W 超级快充充电器"
    # the model parameter wins over a product whose name merely starts with it
    assert {Filler(facts, random.Random(k)).fill("{sku:model=Q60 Pro|code}") for k in range(10)} == {"Q60P-BK"}
    with pytest.raises(PlaceholderError, match="no parameter"):
        filler.fill("{sku:model=S30|param.screen_size}")


def test_latest_is_the_members_newest_order_and_now_hides_later_ones() -> None:
    facts = make_facts()
    assert Filler(facts, random.Random(0), member=facts.members[2], now=NOW).fill("{order:latest}") == "ZT005"
    # 13 hours ago ZT005 (placed 12 hours ago) did not exist yet
    earlier = NOW - timedelta(hours=13)
    assert Filler(facts, random.Random(0), member=facts.members[2], now=earlier).fill("{order:latest}") == "ZT004"


def test_the_return_fields_and_status_words() -> None:
    facts = make_facts()
    filler = Filler(facts, random.Random(0), member=facts.members[2])
    assert filler.fill("{order:returned|return_number} {order:returned|return_status_zh}") == "ZT004-R1 已收货"
    assert filler.fill("{order:shipped|status_zh}") == "已发货"


def test_a_conversation_gets_a_member_who_has_what_it_asks_about() -> None:
    facts = make_facts()
    texts, member = fill_conversation(facts, ["{order:returned} 退款到了吗"], seed="x")
    assert member is not None
    assert member.id == 2
    assert texts == ["ZT004 退款到了吗"]
    # nobody has two shipped orders
    assert members_meeting(facts, [Need("shipped", 2)]) == []
    with pytest.raises(PlaceholderError):
        fill_conversation(facts, ["{order:shipped} {order:shipped#2}"], seed="x")
    # a filter (VIPs only) narrows the choice
    texts, member = fill_conversation(
        facts, ["{member_surname}先生的 {order:any}"], seed="y", member_filter=lambda m: m.tier == "gold"
    )
    assert member is not None
    assert member.id == 1
    assert texts[0].startswith("张先生的 ZT00")


def test_anonymous_conversations_take_anybodys_orders_and_refuse_member_fields() -> None:
    facts = make_facts()
    texts, member = fill_conversation(facts, ["{order:processing} 发货了吗"], seed="z", member=False)
    assert member is None
    assert texts == ["ZT006 发货了吗"]
    with pytest.raises(PlaceholderError):
        fill_conversation(facts, ["{member_phone}"], seed="z", member=False)


def test_parameters_read_as_customers_read_them() -> None:
    assert param_text(14.0) == "14"
    assert param_text(6.78) == "6.78"
    assert param_text(5500) == "5500"
    assert param_text("骁龙 8 Gen 3") == "骁龙 8 Gen 3"


def _richer_facts() -> Facts:
    """Members with orders in every class over the last eight weeks, for the planner."""
    facts = make_facts()
    rng = random.Random(9)
    statuses = ["completed"] * 6 + ["delivered", "shipped", "routed", "picking", "cancelled"]
    orders = []
    for k in range(400):
        member = 1 + k % 40
        status = rng.choice(statuses)
        days = rng.uniform(0.1, 56) if status in ("completed", "cancelled") else rng.uniform(0.1, 4)
        orders.append(
            _order(
                f"ZT{k:05d}",
                status,
                member,
                days,
                returnable=status == "delivered",
                serials=(("Q60P-BK", f"SN{k:05d}"),) if status in ("completed", "delivered") else (),
                returns=(ReturnFact(f"ZT{k:05d}-R1", "approved"),) if k % 17 == 0 else (),
                tracking=f"SF{k:05d}" if status in ("shipped", "delivered", "completed") else "",
                carrier="顺丰速运",
            )
        )
    members = {m: MemberFact(m, f"会员{m}", f"1390000{m:04d}", "gold" if m % 10 == 0 else "") for m in range(1, 41)}
    return Facts(skus=facts.skus, orders=orders, members=members, attributes=facts.attributes)


def test_six_weeks_of_conversations_are_planned_deterministically() -> None:
    facts = _richer_facts()
    plans, _skipped = plan_history(facts, seed=42, scale="small", now=NOW)
    again, _ = plan_history(facts, seed=42, scale="small", now=NOW)
    other, _ = plan_history(facts, seed=43, scale="small", now=NOW)
    assert [(p.key, p.texts, p.started_at) for p in plans] == [(p.key, p.texts, p.started_at) for p in again]
    assert [p.texts for p in plans] != [p.texts for p in other]
    assert 80 <= len(plans) <= 250
    # within the six weeks (and a day), oldest first, on the online channels only
    assert all(NOW - timedelta(days=HISTORY_DAYS + 1) <= p.started_at < NOW for p in plans)
    assert [p.started_at for p in plans] == sorted(p.started_at for p in plans)
    assert {p.channel_code for p in plans} <= set(CHANNEL_WEIGHTS)
    # every placeholder was filled, and orders asked about were placed before the conversation
    placed = {o.number: o.placed_at for o in facts.orders}
    for p in plans:
        for text in p.texts:
            assert "{" not in text, text
            assert "}" not in text, text
            for number in re.findall(r"ZT\d{5}", text):
                assert placed[number] <= p.started_at - timedelta(hours=1)
                assert p.member is not None
                assert any(o.number == number and o.member_id == p.member.id for o in facts.orders)
    # a mix: every category, and today's queue left open
    assert {p.category for p in plans} >= {"pre_sale", "in_sale", "after_sale", "chitchat", "unknown", "handoff"}
    open_now = [p for p in plans if p.leave_open]
    assert len(open_now) == OPEN_TODAY["small"]
    assert all(NOW - p.started_at < timedelta(hours=1) and p.rating is None for p in open_now)
    assert all(p.rating is None or 1 <= p.rating <= 5 for p in plans)


def test_the_demo_agents_answer_what_the_customer_asked() -> None:
    facts = _richer_facts()
    orders = {o.number: o for o in facts.orders}
    plans, _ = plan_history(facts, seed=42, scale="small", now=NOW)
    for p in plans:
        # what an agent sends is finished text, never a template with {placeholders}
        for text in (p.agent_reply, p.follow_up, p.follow_up_reply):
            assert "{" not in text, text
            assert "}" not in text, text
        # an order the customer named is looked up, and the reply is about it
        named = re.findall(r"ZT\d{5}", " ".join(p.texts))
        if named:
            assert named[0] in p.agent_reply, (p.texts, p.agent_reply)
        # "转人工" alone: the agent asks, the customer tells (about one of their own orders), the agent answers
        if p.follow_up:
            assert p.template == "human"
            number = re.findall(r"ZT\d{5}", p.follow_up)[0]
            assert number in p.follow_up_reply
            assert p.member is not None
            assert orders[number].member_id == p.member.id
            assert orders[number].placed_at <= p.started_at - timedelta(hours=1)
            assert p.agent_reply
            assert number not in p.agent_reply
    assert any(p.follow_up for p in plans if p.template == "human")
    # a question about a product is answered from the catalog facts
    battery = [p for p in plans if p.template == "param_battery"]
    assert battery
    assert all("电池容量是" in p.agent_reply and "mAh" in p.agent_reply for p in battery)


def test_an_agent_reply_follows_the_order_and_what_was_asked() -> None:
    facts = make_facts()
    by_number = {o.number: o for o in facts.orders}
    shipped = order_answer(facts, by_number["ZT001"], "status")
    assert "顺丰速运" in shipped
    assert "SF123" in shipped
    assert "7 天无理由退货期内" in order_answer(facts, by_number["ZT002"], "return")
    assert "超过 7 天无理由退货期" in order_answer(facts, by_number["ZT003"], "return")
    refund = order_answer(facts, by_number["ZT004"], "return")
    assert "ZT004-R1" in refund
    assert "已收货" in refund
    assert "取消" in order_answer(facts, by_number["ZT006"], "cancel")
    assert "换新" in order_answer(facts, by_number["ZT002"], "broken")
    # the facts a filled conversation chose are kept for the reply
    filled = fill_conversation_facts(
        facts, ["{order:shipped}到哪了", "{sku:has=battery_capacity|model}电池多大"], seed=1, now=NOW
    )
    assert [o.number for o in filled.orders] == [filled.texts[0].removesuffix("到哪了")]
    assert filled.attributes == ("battery_capacity",)
    assert filled.skus
    assert filled.skus[0].short in filled.texts[1]


def _bench_module() -> ModuleType:
    path = ROOT / "bench" / "cs_dialogues.py"
    spec = importlib.util.spec_from_file_location("cs_dialogues_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_scripts_are_well_formed() -> None:
    bench = _bench_module()
    scripts = bench.load_scripts()
    topics = bench.load_topics()
    # At least 200 multi-turn conversations; the holdout set (written after tuning, scored apart)
    # may also hold single questions.
    tuned = [s for s in scripts if s.category != "holdout"]
    assert len(tuned) >= 200
    assert all(len(s.turns) >= 2 for s in tuned), [s.id for s in tuned if len(s.turns) < 2]
    assert {s.category for s in scripts} >= {"pre_sale", "in_sale", "after_sale", "chitchat", "switch", "handoff"}
    used = {t for s in scripts for turn in s.turns for t in bench._as_list(turn.expect.get("topic"))}
    assert used <= set(topics), used - set(topics)
    # every placeholder in the scripts names an order class the filler knows
    for s in scripts:
        for turn in s.turns:
            needs_of([turn.say, *bench._as_list(turn.expect.get("contains"))])


def test_the_benchmark_judges_each_check() -> None:
    bench = _bench_module()
    got = bench.TurnResult(
        say="q60pro电池多大",
        replies="Q60 Pro 的电池容量是 5500 mAh",
        subintent="presale.product_param",
        action="product_param",
        confidence=0.8,
        outcome="answered",
        status="bot",
        seconds=0.01,
    )
    ok = {"action": "product_param", "outcome": "answered", "contains": ["5500"]}
    assert bench.judge(ok, got, {}) == []
    assert bench.judge({"action": "product_compare"}, got, {}) != []
    assert bench.judge({"topic": "battery"}, got, {"battery": ["presale.product_param"]}) == []
    # any one of action/topic matching is enough
    assert bench.judge({"action": "warranty", "topic": "battery"}, got, {"battery": ["presale.product_param"]}) == []
    assert bench.judge({"contains": ["5000"]}, got, {}) == ["reply lacks ['5000']"]
    assert bench.judge({"contains_any": ["无货", "5500"]}, got, {}) == []
    assert bench.judge({"not_contains": ["5500"]}, got, {}) != []
    assert bench.judge({"outcome": ["slot", "clarify"]}, got, {}) != []
    assert bench.judge({"status": "queued"}, got, {}) != []
