"""The general knowledge packs shipped in service/packs: valid, rich enough, and carrying the
sub-intents (codes, actions, slots) the dialogue depends on."""

from __future__ import annotations

import re

import pytest

from zhongtai.service import kb, text
from zhongtai.service.knowledge import ACTIONS, SLOTS

# code -> (action, slots) the dialogue relies on.
REQUIRED = {
    "chitchat.greeting": ("greeting", []),
    "chitchat.thanks": ("thanks", []),
    "chitchat.goodbye": ("goodbye", []),
    "chitchat.human": ("handoff", []),
    "chitchat.bot_identity": ("answer", []),
    "insale.order_status": ("order_status", ["order_number"]),
    "insale.logistics": ("logistics", ["order_number"]),
    "insale.order_list": ("order_list", []),
    "insale.cancel_order": ("cancel_order", ["order_number"]),
    "insale.urge_shipping": ("logistics", ["order_number"]),
    "aftersale.return_eligibility": ("return_eligibility", ["order_number"]),
    "aftersale.return_apply": ("create_return", ["order_number"]),
    "aftersale.return_status": ("return_status", ["order_number"]),
    "aftersale.warranty_lookup": ("warranty", ["serial"]),
    "aftersale.warranty_policy": ("answer", []),
    "invoice.status": ("invoice", ["order_number"]),
    "presale.product_param": ("product_param", ["sku"]),
    "presale.product_card": ("product_card", ["sku"]),
    "presale.product_compare": ("product_compare", ["sku_pair"]),
    "presale.product_gifts": ("product_gifts", ["sku"]),
    "presale.product_stock": ("product_stock", ["sku"]),
    "presale.recommend": ("product_recommend", []),
}


@pytest.fixture(scope="module")
def subintents() -> dict[str, kb.SubIntentSpec]:
    merged = kb._merge_specs((name, kb.read_pack(name)) for name in kb.PACK_NAMES)
    return {u.code: u for s in merged for i in s.intents for u in i.subintents}


def test_every_pack_is_shipped_and_valid() -> None:
    # read_pack raises a ValidationFailed naming the pack's path on any problem.
    assert kb.pack_names() == list(kb.PACK_NAMES)
    for name in kb.PACK_NAMES:
        assert kb.read_pack(name)


def test_packs_are_large_and_varied_enough(subintents: dict[str, kb.SubIntentSpec]) -> None:
    assert len(subintents) >= 60
    for code, sub in subintents.items():
        assert len(sub.examples) >= 10, code
        assert sub.answers, f"{code} has no answer"
        assert sub.action in ACTIONS
        assert set(sub.slots) <= set(SLOTS)
    # The key intents also understand English.
    english = [c for c, s in subintents.items() if any(re.fullmatch(r"[a-z ,.'?!]+", e.lower()) for e in s.examples)]
    assert {"chitchat.human", "insale.logistics", "aftersale.return_apply", "presale.product_param"} <= set(english)


def test_no_example_question_belongs_to_two_subintents(subintents: dict[str, kb.SubIntentSpec]) -> None:
    owner: dict[str, str] = {}
    clashes = []
    for code, sub in subintents.items():
        for example in sub.examples:
            key = text.normalise(example)
            if key in owner and owner[key] != code:
                clashes.append((example, owner[key], code))
            owner[key] = code
    assert clashes == []


def test_the_dialogue_finds_its_subintents(subintents: dict[str, kb.SubIntentSpec]) -> None:
    for code, (action, slots) in REQUIRED.items():
        assert code in subintents, code
        assert (subintents[code].action, subintents[code].slots) == (action, slots), code


def test_answers_vary_by_channel_and_scene(subintents: dict[str, kb.SubIntentSpec]) -> None:
    channels = {a.channel for s in subintents.values() for a in s.answers}
    scenes = {a.scene for s in subintents.values() for a in s.answers}
    assert {"marketplace", "mini_program", "pos"} <= channels
    assert "instant" in scenes
    fee = subintents["shipping.fee"]
    assert any(a.scene == "instant" and "配送费" in a.text for a in fee.answers)


def test_action_answers_use_only_documented_placeholders(subintents: dict[str, kb.SubIntentSpec]) -> None:
    documented = {
        "greeting": {"customer_name"},
        "handoff": {"wait_minutes"},
        "order_status": {"order_number", "status", "created_at", "total"},
        "logistics": {"order_number", "carrier", "tracking", "eta", "last_event"},
        "order_list": {"count"},
        "cancel_order": {"order_number", "status"},
        "return_eligibility": {"order_number", "deadline", "policy"},
        "create_return": {"order_number", "return_number", "refund"},
        "return_status": {"order_number", "return_number", "status", "refund"},
        "warranty": {"serial", "sku_name", "warranty_until", "warranty_status"},
        "invoice": {"order_number", "invoice_status", "invoice_kind"},
        "product_card": {"sku_name", "price", "selling_points"},
        "product_param": {"sku_name", "param_name", "param_value"},
        "product_compare": {"sku_name", "other_name", "differences"},
        "product_gifts": {"sku_name", "gifts", "accessories"},
        "product_stock": {"sku_name", "stock_status", "store"},
        "product_recommend": {"category"},
    }
    for code, sub in subintents.items():
        allowed = documented.get(sub.action, set())
        for answer in sub.answers:
            used = set(re.findall(r"\{(\w+)\}", answer.text))
            assert used <= allowed, (code, used - allowed)


def test_sources_name_the_pack() -> None:
    merged = kb._merge_specs((name, kb.read_pack(name)) for name in ("chitchat", "orders"))
    sources = {u.code: u.source for s in merged for i in s.intents for u in i.subintents}
    assert sources["chitchat.greeting"] == "pack:chitchat"
    assert sources["insale.logistics"] == "pack:orders"
