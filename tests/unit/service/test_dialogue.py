"""The dialogue engine's decisions with a scripted classifier (no database, no model): hand-off
rules, clarification, fallback and misses, slot filling with picks, topic switch and return,
confirmation, and the small text helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from zhongtai.service.actions import ActionResult
from zhongtai.service.dialogue import (
    Bot,
    BotSettings,
    ConversationContext,
    fill,
    is_no,
    is_yes,
    language_of,
    localised,
    ordinal_pick,
    wants_human,
    without_identifiers,
)
from zhongtai.service.entities import Entities, SkuMention
from zhongtai.service.intents import Alternative, IntentPrediction
from zhongtai.service.knowledge import Answer, KnowledgeBase, SubIntent

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
CTX = ConversationContext(public_id="C1", channel_code="web", channel_kind="web_shop")


def _sub(code: str, name: str, action: str = "answer", slots: tuple[str, ...] = (), text: str = "") -> SubIntent:
    scenario = code.split(".")[0]
    return SubIntent(
        code=code,
        name=name,
        intent_code=scenario,
        intent_name=scenario,
        scenario_code=scenario,
        scenario_name=scenario,
        action=action,
        slots=slots,
        answers=(Answer(text=text or f"{name}的答案"),),
    )


KB = KnowledgeBase(
    version=1,
    subintents={
        s.code: s
        for s in (
            _sub("chitchat.human", "转人工", "handoff", text="好的，预计等待约{wait_minutes}分钟。"),
            _sub("chitchat.ok", "好的", "answer", text="好的～"),
            _sub("chitchat.greeting", "问候", "greeting", text="您好{customer_name}，请问有什么可以帮您？"),
            _sub("shipping.fee", "运费", text="满99包邮。\nEN: Free shipping over 99 yuan."),
            _sub("invoice.types", "发票类型", text="支持电子普票和专票。"),
            _sub(
                "insale.order_status", "订单状态", "order_status", ("order_number",), "订单{order_number}：{status}。"
            ),
            _sub("aftersale.return_apply", "申请退货", "create_return", ("order_number",)),
            _sub("chitchat.thanks", "感谢", "thanks", text="不客气～"),
            _sub("presale.product_card", "商品介绍", "product_card", ("sku",)),
            _sub("invoice.types_copy", "发票类型", text="同名的另一个子意图。"),
        )
    },
)


class Script:
    """A classifier answering from a table: text -> (label, confidence, [(alt, confidence)])."""

    def __init__(self, table: dict[str, tuple[str, float, list[tuple[str, float]]]]) -> None:
        self.table = table

    def predict_one(self, text: str) -> IntentPrediction:
        label, conf, alts = self.table.get(text, ("invoice.types", 0.1, [("shipping.fee", 0.05)]))
        return IntentPrediction(label, conf, tuple(Alternative(a, c) for a, c in alts))


class FakeActions:
    """Order handlers: ask for the number, then answer; a return asks to confirm first."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def run(
        self,
        action: str,
        sub: SubIntent,
        slots: dict[str, Any],
        st: Any,
        ctx: Any,
        ents: Entities,
        message: str,
        lang: str,
        now: datetime,
    ) -> ActionResult:
        self.calls.append((action, dict(slots)))
        number = slots.get("order_number") or (ents.order_numbers[0] if ents.order_numbers else None)
        if not number:
            options = [{"label": n, "value": n, "text": n} for n in ("ZT261201AAAAAAAA", "ZT261202BBBBBBBB")]
            return ActionResult(text="请问是哪个订单？", need="order_number", options=options, slots=slots)
        slots["order_number"] = number
        if action == "create_return" and not slots.get("confirmed"):
            return ActionResult(text=f"确认退订单{number}吗？", confirm=True, slots=slots)
        return ActionResult(text=f"{action} {number}", values={"order_number": number, "status": "已发货"})

    def cards(self, codes: list[str]) -> list[dict[str, Any]]:
        return [{"sku": c} for c in codes]


def _ents(**kw: Any) -> Entities:
    return Entities(**kw)


def _bot(
    table: dict[str, tuple[str, float, list[tuple[str, float]]]],
    *,
    ents: dict[str, Entities] | None = None,
    negativity: float = 0.0,
    **settings: Any,
) -> tuple[Bot, FakeActions]:
    actions = FakeActions()
    bot = Bot(
        KB,
        Script(table),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        BotSettings(**settings),
        actions,  # type: ignore[arg-type]
        kb_version=1,
        negativity=lambda _t: negativity,
        extract=lambda t: (ents or {}).get(t, Entities()),
        wait_minutes=lambda: 3,
    )
    return bot, actions


class Talk:
    def __init__(self, bot: Bot, ctx: ConversationContext = CTX) -> None:
        self.bot, self.ctx, self.state = bot, ctx, {}

    def say(self, text: str) -> Any:
        turn = self.bot.reply(self.state, self.ctx, text, NOW)
        self.state = turn.state
        return turn


def test_explicit_request_for_a_person_wins_over_everything() -> None:
    bot, _ = _bot({})
    turn = Talk(bot).say("我不想跟机器人说，转人工！")
    assert turn.handoff == "requested"
    assert turn.outcome == "handoff"
    assert turn.replies[0].text == "好的，预计等待约3分钟。"


def test_negative_sentiment_hands_off_with_an_apology() -> None:
    bot, _ = _bot({}, negativity=0.95)
    turn = Talk(bot).say("什么破东西")
    assert turn.handoff == "negative"
    assert "抱歉" in turn.replies[0].text


def test_confident_answer_and_english_variant() -> None:
    bot, _ = _bot({"运费多少": ("shipping.fee", 0.8, []), "how much is shipping": ("shipping.fee", 0.8, [])})
    talk = Talk(bot)
    assert talk.say("运费多少").replies[0].text == "满99包邮。"
    assert talk.say("how much is shipping").replies[0].text == "Free shipping over 99 yuan."


def test_greeting_fills_or_drops_the_name() -> None:
    bot, _ = _bot({"你好": ("chitchat.greeting", 0.9, [])})
    assert Talk(bot).say("你好").replies[0].text == "您好，请问有什么可以帮您？"
    named = ConversationContext(public_id="C2", channel_code="web", customer_name="王女士")
    assert Talk(bot, named).say("你好").replies[0].text == "您好王女士，请问有什么可以帮您？"


def test_close_intents_ask_which_one_and_the_answer_resolves_it() -> None:
    table = {"开票和运费": ("invoice.types", 0.4, [("shipping.fee", 0.35)])}
    bot, _ = _bot(table)
    talk = Talk(bot)
    turn = talk.say("开票和运费")
    assert turn.outcome == "clarify"
    assert turn.replies[0].text == "您是想问“发票类型”还是“运费”？"
    assert [q["label"] for q in turn.replies[0].payload["quick_replies"]] == ["发票类型", "运费"]
    picked = talk.say("运费")
    assert (picked.outcome, picked.subintent) == ("answered", "shipping.fee")
    again = Talk(bot)
    again.say("开票和运费")
    assert again.say("第一个").subintent == "invoice.types"


def test_fallback_then_hand_off_after_max_misses() -> None:
    bot, _ = _bot({}, max_misses=2)
    talk = Talk(bot)
    first = talk.say("今天股市怎么样")
    assert first.outcome == "fallback"
    assert first.training
    assert first.handoff is None
    second = talk.say("火星上能种土豆吗")
    assert second.handoff == "low_confidence"
    assert second.training
    assert second.guess == "invoice.types"


def test_vip_goes_to_a_person_at_the_first_miss() -> None:
    bot, _ = _bot({}, vip_tiers=("gold",))
    vip = ConversationContext(public_id="C3", channel_code="web", member_tier="gold")
    assert Talk(bot, vip).say("今天股市怎么样").handoff == "vip"


def test_slot_filled_by_a_pick_from_the_listed_orders() -> None:
    bot, actions = _bot({"查订单": ("insale.order_status", 0.9, [])})
    talk = Talk(bot)
    asked = talk.say("查订单")
    assert asked.outcome == "slot"
    assert [q["text"] for q in asked.replies[0].payload["quick_replies"]] == ["ZT261201AAAAAAAA", "ZT261202BBBBBBBB"]
    answered = talk.say("第二个")
    assert answered.outcome == "answered"
    assert answered.replies[0].text == "订单ZT261202BBBBBBBB：已发货。"
    assert actions.calls[-1] == ("order_status", {"order_number": "ZT261202BBBBBBBB"})


def test_slot_asked_twice_then_a_person() -> None:
    bot, _ = _bot({"查订单": ("insale.order_status", 0.9, []), "嗯嗯": ("chitchat.ok", 0.9, [])})
    talk = Talk(bot)
    talk.say("查订单")
    retry = talk.say("嗯嗯")  # small talk is not a new topic
    assert retry.outcome == "slot"
    assert retry.replies[0].text.startswith("抱歉，我没有识别到。")
    assert talk.say("嗯嗯").handoff == "misses"


def test_topic_switch_answers_then_offers_the_old_topic_back() -> None:
    table = {"我要退货": ("aftersale.return_apply", 0.9, []), "运费多少": ("shipping.fee", 0.8, [])}
    bot, _ = _bot(table, ents={"ZT261203CCCCCCCC": _ents(order_numbers=("ZT261203CCCCCCCC",))})
    talk = Talk(bot)
    assert talk.say("我要退货").outcome == "slot"
    switched = talk.say("运费多少")
    assert [r.text for r in switched.replies] == ["满99包邮。", "刚才的“申请退货”还要继续吗？"]
    resumed = talk.say("继续")
    assert resumed.outcome == "slot"
    assert resumed.subintent == "aftersale.return_apply"
    confirm = talk.say("ZT261203CCCCCCCC")
    assert confirm.replies[0].text == "确认退订单ZT261203CCCCCCCC吗？"
    done = talk.say("确认")
    assert done.outcome == "answered"
    assert done.replies[0].text == "create_return ZT261203CCCCCCCC"


def test_declining_a_confirmation_changes_nothing() -> None:
    table = {"退货": ("aftersale.return_apply", 0.9, [])}
    bot, actions = _bot(table, ents={"退货 ZT261203CCCCCCCC": _ents(order_numbers=("ZT261203CCCCCCCC",))})
    talk = Talk(bot)
    talk.say("退货 ZT261203CCCCCCCC")
    turn = talk.say("不用了")
    assert "取消" in turn.replies[0].text
    assert all(not slots.get("confirmed") for _, slots in actions.calls)


def test_a_bare_order_number_asks_its_status() -> None:
    number = "ZT261204DDDDDDDD"
    bot, _ = _bot({}, ents={number: _ents(order_numbers=(number,))})
    turn = Talk(bot).say(number)
    assert turn.subintent == "insale.order_status"
    assert turn.outcome == "answered"


@pytest.mark.parametrize(
    ("text", "count", "index"),
    [("第二个", 3, 1), ("2", 3, 1), ("第 3 单", 3, 2), ("最后一个", 3, 2), ("第五个", 3, None), ("好的", 3, None)],
)
def test_ordinal_pick(text: str, count: int, index: int | None) -> None:
    assert ordinal_pick(text, count) == index


def test_small_helpers() -> None:
    assert is_yes("好的！")
    assert is_yes("确认")
    assert not is_yes("好的我再想想")
    assert is_no("不用了")
    assert wants_human("帮我转人工客服")
    assert wants_human("I want to talk to a human")
    assert not wants_human("人工智能是什么")
    assert language_of("where is my parcel") == "en"
    assert language_of("ZT261204DDDDDDDD", "en") == "en"
    assert language_of("8000") == "zh"
    assert language_of("我的订单") == "zh"
    assert localised("中文\nEN: English", "en") == "English"
    assert localised("中文\nEN: English", "zh") == "中文"
    assert localised("只有中文", "en") == "只有中文"
    assert fill("订单{order_number}：{status}", {"order_number": "X", "status": "已发货"}) == "订单X：已发货"
    assert fill("订单{order_number}：{status}", {"order_number": "X", "status": ""}) is None
    ents = _ents(order_numbers=("ZT261204DDDDDDDD",), serials=("C02XK1ABJG5H",))
    assert without_identifiers("ZT261204DDDDDDDD 能退货吗", ents) == "能退货吗"
    assert without_identifiers("SN: C02XK1ABJG5H 保修", ents) == "保修"
    assert without_identifiers("ZT261204DDDDDDDD", ents) == "ZT261204DDDDDDDD"


def test_sku_mentions_are_remembered_for_follow_ups() -> None:
    mention = SkuMention(code="P1-BLK", name="手机", score=1.0, span=(0, 6))
    bot, _ = _bot({"P1-BLK 运费": ("shipping.fee", 0.8, [])}, ents={"P1-BLK 运费": _ents(skus=(mention,))})
    turn = Talk(bot).say("P1-BLK 运费")
    assert turn.state["skus"] == ["P1-BLK"]


# ---------------------------------------------------------------- deciding, steering, pending topics


def test_a_clear_lead_below_the_threshold_is_answered_a_weak_one_is_not() -> None:
    table = {
        "运费怎么算呀": ("shipping.fee", 0.34, [("invoice.types", 0.1)]),
        "运费还是发票": ("shipping.fee", 0.34, [("invoice.types", 0.3)]),
        "嗯那个": ("shipping.fee", 0.2, [("invoice.types", 0.05)]),
    }
    bot, _ = _bot(table, min_confidence=0.45)
    assert Talk(bot).say("运费怎么算呀").outcome == "answered"  # 0.34 >= 0.67 * 0.45 and 3x the runner-up
    assert Talk(bot).say("运费还是发票").outcome == "clarify"
    assert Talk(bot).say("嗯那个").outcome == "fallback"  # below the floor


def test_an_order_number_steers_to_the_order_questions() -> None:
    # The classifier sees the message without the number.
    table = {"现在啥情况": ("shipping.fee", 0.3, [("insale.order_status", 0.25)])}
    ents = {"ZT261201AAAAAAAA 现在啥情况": _ents(order_numbers=("ZT261201AAAAAAAA",))}
    bot, actions = _bot(table, ents=ents)
    turn = Talk(bot).say("ZT261201AAAAAAAA 现在啥情况")
    assert turn.subintent == "insale.order_status"
    assert [call[0] for call in actions.calls] == ["order_status"]
    assert turn.replies[0].text == "订单ZT261201AAAAAAAA：已发货。"
    # Without the number the same scores stay with the fee (close: a clarification).
    plain, _ = _bot(table)
    assert Talk(plain).say("现在啥情况").subintent == "shipping.fee"


def test_a_product_question_without_any_product_is_unlikely() -> None:
    table = {"今天天气怎么样": ("presale.product_card", 0.5, [("shipping.fee", 0.1)])}
    bot, _ = _bot(table)
    turn = Talk(bot).say("今天天气怎么样")
    assert turn.outcome == "fallback"
    assert turn.confidence is not None
    assert turn.confidence < 0.45


def test_thanks_while_a_slot_waits_ends_the_topic() -> None:
    table = {"查订单": ("insale.order_status", 0.9, []), "明白了，谢谢": ("chitchat.thanks", 0.6, [])}
    bot, _ = _bot(table)
    talk = Talk(bot)
    assert talk.say("查订单").outcome == "slot"
    turn = talk.say("明白了，谢谢")
    assert (turn.outcome, turn.subintent, turn.replies[0].text) == ("chitchat", "chitchat.thanks", "不客气～")
    assert turn.state["pending"] is None


def test_dropping_the_pending_topic_reads_the_rest_afresh() -> None:
    table = {"我要退货": ("aftersale.return_apply", 0.9, []), "问下运费": ("shipping.fee", 0.8, [])}
    bot, _ = _bot(table)
    talk = Talk(bot)
    assert talk.say("我要退货").outcome == "slot"
    turn = talk.say("算了不退了，问下运费")
    assert (turn.outcome, turn.subintent) == ("answered", "shipping.fee")
    assert turn.state["pending"] is None
    again = Talk(bot)
    again.say("我要退货")
    assert again.say("算了").state["pending"] is None


def test_a_worded_confirmation_completes_the_return() -> None:
    table = {"退货": ("aftersale.return_apply", 0.9, [])}
    ents = {"ZT261201AAAAAAAA": _ents(order_numbers=("ZT261201AAAAAAAA",))}
    bot, actions = _bot(table, ents=ents)
    talk = Talk(bot)
    talk.say("退货")
    assert talk.say("ZT261201AAAAAAAA").state["confirm"] is not None
    done = talk.say("对，确认提交")
    assert done.replies[0].text == "create_return ZT261201AAAAAAAA"
    assert actions.calls[-1][1]["confirmed"] is True


def test_yes_and_no_in_several_words() -> None:
    assert all(is_yes(m) for m in ("确认", "对，确认提交", "好的", "嗯嗯 可以", "OK sure"))
    assert not any(is_yes(m) for m in ("买重复了", "好的，谢谢", "不要"))
    assert all(is_no(m) for m in ("不用了", "算了吧", "no thanks", "不取消了"))


def test_asking_whether_a_person_is_there_hands_off() -> None:
    bot, _ = _bot({})
    assert Talk(bot).say("有人工吗").handoff == "requested"


def test_fallback_suggestions_are_listed_once() -> None:
    table = {"嗯": ("invoice.types", 0.1, [("invoice.types_copy", 0.09), ("shipping.fee", 0.05)])}
    bot, _ = _bot(table)
    turn = Talk(bot).say("嗯")
    labels = [q["label"] for q in turn.replies[0].payload["quick_replies"]]
    assert labels == ["发票类型", "运费", "转人工"]


def test_no_clarification_between_two_kinds_of_small_talk() -> None:
    bot, _ = _bot({"ok 谢了": ("chitchat.thanks", 0.38, [("chitchat.ok", 0.33)])})
    turn = Talk(bot).say("ok 谢了")
    assert (turn.outcome, turn.subintent) == ("chitchat", "chitchat.thanks")


@pytest.mark.parametrize("text", ["是的，确定取消", "确认取消", "好的确认"])
def test_confirming_a_cancellation_is_a_yes(text: str) -> None:
    assert is_yes(text)
    assert not is_no(text)


def test_cancel_alone_is_still_a_no() -> None:
    assert is_no("取消")
    assert not is_yes("取消")
