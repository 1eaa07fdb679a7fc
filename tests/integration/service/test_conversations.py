"""Conversations with the bot through ``service.conversations``, on the real knowledge-base packs:
opening and reusing, the order questions with slot filling and privacy, hand-offs, clarification,
fallback, topic switch and return, after-sale flows, product answers, English, webhook repeats,
rating and closing. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import SYSTEM
from tests.integration.service.chat_world import ANON_PHONE, SERIALS, ChatWorld, build_chat_world
from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.db import Database, utcnow
from zhongtai.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from zhongtai.orders import service as orders
from zhongtai.service import conversations as conv
from zhongtai.service.models import Conversation, ConversationMessage, TrainingItem
from zhongtai.service.schemas_chat import MessageOut

WIDGET = Principal(kind="api_key", id=90, name="widget", role=Role.CHAT_WIDGET, channel_code="web")
WEB_KEY = Principal(kind="api_key", id=91, name="web integrator", role=Role.INTEGRATOR, channel_code="web")


class Chat:
    """One customer talking to the bot through the verbs, one transaction per message."""

    def __init__(
        self, db: Database, *, actor: Principal = SYSTEM, member_id: int | None = None, **start: object
    ) -> None:
        self.db = db
        self.actor = actor
        with db.transaction() as s:
            started = conv.start(s, actor, channel_code="web", member_id=member_id, **start)  # type: ignore[arg-type]
        self.public_id = started.public_id
        self.token = started.token
        self.welcome = started.messages

    def say(self, text: str, **kw: object) -> list[MessageOut]:
        with self.db.transaction() as s:
            return conv.customer_message(s, self.actor, self.public_id, text, token=self.token, **kw)  # type: ignore[arg-type]

    def text(self, text: str) -> str:
        return "\n".join(m.text for m in self.say(text))

    def last(self) -> MessageOut:
        """The customer's last message, as the bot understood it."""
        with self.db.transaction(write=False) as s:
            out = conv.get_conversation(s, SYSTEM, self.public_id, token=None)
        return [m for m in out.messages if m.sender == "customer"][-1]

    def status(self) -> str:
        with self.db.transaction(write=False) as s:
            return conv.get_conversation(s, SYSTEM, self.public_id, token=None).status


@pytest.fixture
def world(db: Database) -> ChatWorld:
    return build_chat_world(db)


# ---------------------------------------------------------------- opening


def test_start_greets_and_reuses_the_open_conversation(db: Database, world: ChatWorld) -> None:
    with db.transaction() as s:
        first = conv.start(s, WEB_KEY, channel_code="web", customer_ref="openid-1", customer_name="王女士")
    assert first.token
    assert first.messages[0].sender == "bot"
    assert first.messages[0].text
    assert first.messages[0].payload["quick_replies"]
    with db.transaction() as s:
        again = conv.start(s, WEB_KEY, channel_code="web", customer_ref="openid-1")
    assert again.reused
    assert again.public_id == first.public_id
    assert again.token is None
    # A widget that cannot show the open conversation's token gets one of its own.
    with db.transaction() as s:
        other = conv.start(s, WIDGET, channel_code="web", customer_ref="openid-1")
    assert not other.reused
    assert other.public_id != first.public_id
    with db.transaction() as s:
        mine = conv.start(s, WIDGET, channel_code="web", customer_ref="openid-1", token=first.token)
    assert mine.reused
    assert mine.public_id == first.public_id
    with db.transaction(write=False) as s:
        row = s.scalar(select(Conversation).where(Conversation.public_id == first.public_id))
        assert row is not None
        assert row.token_hash != first.token
        assert len(row.token_hash) == 64


def test_start_checks_channel_and_who_may_name_the_member(db: Database, world: ChatWorld) -> None:
    with db.transaction() as s, pytest.raises(PermissionDenied):
        conv.start(s, WIDGET, channel_code="jd")
    with db.transaction() as s, pytest.raises(ValidationFailed) as exc:
        conv.start(s, SYSTEM, channel_code="nope", scene="moon")
    assert {e.field for e in exc.value.errors} == {"body.channel_code", "body.scene"}
    with db.transaction() as s, pytest.raises(ValidationFailed) as exc:
        conv.start(s, WIDGET, channel_code="web", member_id=world.alice)
    assert exc.value.errors[0].code == "not_allowed"
    from zhongtai.members.identifiers import IdentifierIn, IdKind

    with db.transaction() as s:
        found = conv.start(s, WEB_KEY, channel_code="web", identifiers=[IdentifierIn(IdKind.PHONE, "+8613912345678")])
        unknown = conv.start(s, WEB_KEY, channel_code="web", identifiers=[IdentifierIn(IdKind.PHONE, "+8613700000000")])
    with db.transaction(write=False) as s:
        assert conv.get_conversation(s, SYSTEM, found.public_id, token=None).member_id == world.alice
        assert conv.get_conversation(s, SYSTEM, unknown.public_id, token=None).member_id is None


def test_token_is_required_for_untrusted_callers(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, actor=WIDGET)
    with db.transaction() as s, pytest.raises(NotFound):
        conv.customer_message(s, WIDGET, chat.public_id, "你好", token=None)
    with db.transaction() as s, pytest.raises(NotFound):
        conv.get_conversation(s, WIDGET, chat.public_id, token="wrong")
    jd_key = Principal(kind="api_key", id=92, name="jd", role=Role.INTEGRATOR, channel_code="jd")
    with db.transaction() as s, pytest.raises(NotFound):
        conv.get_conversation(s, jd_key, chat.public_id, token=chat.token)
    assert chat.say("你好")


# ---------------------------------------------------------------- orders: slot filling and privacy


def test_anonymous_order_status_needs_the_phone_digits(db: Database, world: ChatWorld) -> None:
    number = world.orders["anon"]
    chat = Chat(db, actor=WIDGET)
    asked = chat.text("帮我查一下订单状态")
    assert "订单号" in asked
    assert chat.last().outcome == "slot"
    ask_phone = chat.text(number)
    assert "后四位" in ask_phone
    assert number in ask_phone
    assert "已分配" not in ask_phone
    assert "¥" not in ask_phone
    wrong = chat.text("1234")
    assert "不一致" in wrong
    assert "状态" not in wrong
    right = chat.text(ANON_PHONE[-4:])
    assert number in right
    assert "当前状态" in right
    assert chat.last().outcome == "answered"
    assert chat.last().intent == "insale.order_status"
    # Proven once: a follow-up about the same order needs no digits.
    follow = chat.text("物流到哪了")
    assert number in follow
    assert "后四位" not in follow


def test_a_wrong_phone_twice_goes_to_a_person(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, actor=WIDGET)
    chat.say(f"订单 {world.orders['anon']} 到哪了")
    chat.say("0000")
    reply = chat.text("1111")
    assert "人工" in reply
    assert chat.status() == "queued"


def test_member_picks_from_recent_orders(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, member_id=world.alice)
    replies = chat.say("查订单状态")
    options = replies[0].payload["quick_replies"]
    assert len(options) == 4  # Alice's four orders, newest first
    second = options[1]["text"]
    assert re.fullmatch(r"ZT\w+", second)
    answer = chat.text("第二个")
    assert second in answer
    assert "当前状态" in answer


def test_member_cannot_see_someone_elses_order(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, member_id=world.bob)
    reply = chat.text(f"{world.orders['shipped']} 这个订单到哪了")
    assert "没有在您的账户下查到" in reply
    assert "SF1234567890" not in reply
    assert "已发货" not in reply
    assert "¥" not in reply
    assert chat.last().outcome == "slot"


def test_logistics_with_carrier_tracking_and_an_eta(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, member_id=world.alice)
    replies = chat.say(f"{world.orders['shipped']} 物流到哪了")
    text = replies[0].text
    assert "顺丰" in text
    assert "SF1234567890" in text
    assert "预计" in text
    timeline = replies[0].payload["timeline"]
    assert any("已发出" in row["text"] for row in timeline)
    assert chat.last().intent == "insale.logistics"


def test_slot_asked_twice_then_a_person(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, actor=WIDGET)
    chat.say("帮我查一下订单状态")
    again = chat.text("嗯嗯")
    assert "没有识别到" in again
    chat.say("啊")
    assert chat.status() == "queued"


# ---------------------------------------------------------------- hand-off, sentiment, fallback


def test_explicit_request_for_a_person(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, member_id=world.alice)
    reply = chat.text("转人工")
    assert "人工" in reply
    assert chat.status() == "queued"
    assert chat.last().outcome == "handoff"
    # While queued the bot is silent: the agent answers.
    assert chat.say("还在吗") == []
    with db.transaction(write=False) as s:
        row = s.scalar(select(Conversation).where(Conversation.public_id == chat.public_id))
        assert row is not None
        assert (row.handoff_reason, row.priority) == ("requested", 0)
        assert row.queued_at is not None


def test_vip_members_go_first(db: Database, world: ChatWorld) -> None:
    from zhongtai.service import kb

    with db.transaction() as s:
        kb.update_settings(s, SYSTEM, "web", {"vip_tiers": ["gold"]})
    chat = Chat(db, member_id=world.bob)
    chat.say("我要找人工客服")
    with db.transaction(write=False) as s:
        row = s.scalar(select(Conversation).where(Conversation.public_id == chat.public_id))
        assert row is not None
        assert row.status == "queued"
        assert row.priority > 0


def test_negative_sentiment_apologises_and_hands_off(db: Database, world: ChatWorld) -> None:
    chat = Chat(db)
    reply = chat.text("你们这是什么垃圾服务，骗子！我要投诉！！！")
    assert "抱歉" in reply
    assert chat.status() == "queued"
    with db.transaction(write=False) as s:
        assert (
            s.scalar(select(Conversation.handoff_reason).where(Conversation.public_id == chat.public_id)) == "negative"
        )


def test_fallback_records_training_items_then_hands_off(db: Database, world: ChatWorld) -> None:
    chat = Chat(db)
    first = chat.say("帮我写一首诗")
    assert chat.last().outcome == "fallback"
    assert first[0].payload["quick_replies"]
    assert chat.status() == "bot"
    chat.say("火星上能种土豆吗")
    assert chat.status() == "queued"
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(TrainingItem)) == 2
        assert s.scalar(select(Conversation.handoff_reason).where(Conversation.public_id == chat.public_id)) == (
            "low_confidence"
        )


# ---------------------------------------------------------------- clarification and topics


def test_clarification_is_resolved_by_number(db: Database, world: ChatWorld) -> None:
    from zhongtai.service import kb

    # A wide margin: "where is my order" is list, status or logistics, two of them close.
    with db.transaction() as s:
        kb.update_settings(s, SYSTEM, "web", {"clarify_margin": 0.4})
    chat = Chat(db, member_id=world.alice)
    replies = chat.say("我的订单到哪了")
    assert chat.last().outcome == "clarify"
    options = [q["text"] for q in replies[0].payload["quick_replies"]]
    assert len(options) == 2
    assert "还是" in replies[0].text
    first_guess = chat.last().intent
    chat.say("第一个")
    assert chat.last().intent == first_guess
    assert chat.last().outcome in ("slot", "answered")


def test_topic_switch_answers_and_offers_to_return(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, actor=WIDGET)
    chat.say("我要退货")
    assert chat.last().outcome == "slot"
    replies = chat.say("运费怎么算")
    assert chat.last().outcome == "answered"
    assert len(replies) == 2
    assert "还要继续吗" in replies[1].text
    resumed = chat.text("继续")
    assert "订单号" in resumed


# ---------------------------------------------------------------- after-sale


def test_return_request_confirmed_then_created(db: Database, world: ChatWorld) -> None:
    number = world.orders["delivered"]
    chat = Chat(db, member_id=world.alice)
    eligible = chat.text(f"{number} 还在退货期内吗")
    assert "7天无理由" in eligible or "7 天无理由" in eligible
    asked = chat.say(f"订单{number}我要申请退货")
    assert "哪件" in asked[0].text
    chat.say("第一个")
    assert "几件" in chat.text("第一个") or chat.last().outcome == "slot"
    reply = chat.text("1")
    assert "原因" in reply
    confirm = chat.text("不想要了")
    assert "确认" in confirm
    assert number in confirm
    done = chat.text("确认")
    assert "退货" in done
    assert "-R1" in done
    with db.transaction(write=False) as s:
        returns = orders.order_returns(s, SYSTEM, number)
    assert len(returns) == 1
    assert returns[0].reason == "不想要了"
    assert returns[0].created_by.startswith("service-bot:")
    status = chat.text("退货进度怎么样了")
    assert returns[0].number in status


def test_cancel_only_while_cancellable(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, member_id=world.alice)
    shipped = chat.text(f"取消订单 {world.orders['shipped']}")
    assert "无法取消" in shipped
    confirm = chat.text(f"取消订单 {world.orders['routed']}")
    assert "确认" in confirm
    done = chat.text("确认")
    assert "取消" in done
    with db.transaction(write=False) as s:
        assert orders.get_order(s, SYSTEM, world.orders["routed"]).status == "cancelled"


def test_warranty_by_serial(db: Database, world: ChatWorld) -> None:
    chat = Chat(db)
    ask = chat.text("手机保修到什么时候")
    assert "序列号" in ask
    answer = chat.text(f"SN: {SERIALS[0]}")
    assert "在保" in answer
    assert "24" in answer
    unknown = chat.text("查一下序列号 ZZ9XK1ABJG5Q 的保修")
    assert "没有查到" in unknown


# ---------------------------------------------------------------- pre-sale


def test_product_card_parameters_and_gifts(db: Database, world: ChatWorld) -> None:
    chat = Chat(db)
    card = chat.say("SKU P1-BLK 这款怎么样")
    assert card[0].payload["cards"][0]["sku"] == "P1-BLK"
    assert card[0].payload["cards"][0]["price"] == "¥3,999.00"
    param = chat.text("它的电池容量多大")
    assert "4500 mAh" in param
    gifts = chat.say("有赠品吗")
    assert "没有赠品" in gifts[0].text
    assert [c["sku"] for c in gifts[0].payload["cards"]] == ["CASE-1"]


def test_english_question_gets_an_english_answer(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, member_id=world.alice)
    reply = chat.text(f"where is my order {world.orders['shipped']}")
    assert "Order" in reply
    assert not re.search(r"[\u4e00-\u9fff]{4}", reply.replace("顺丰速运", ""))


# ---------------------------------------------------------------- repeats, rating, closing


def test_a_repeated_external_message_is_answered_once(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, actor=WEB_KEY, customer_ref="openid-9")
    first = chat.say("你好", external_id="msg-1")
    again = chat.say("你好", external_id="msg-1")
    assert [m.id for m in again] == [m.id for m in first]
    assert first
    with db.transaction(write=False) as s:
        customer = s.scalar(
            select(func.count())
            .select_from(ConversationMessage)
            .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
            .where(Conversation.public_id == chat.public_id, ConversationMessage.sender == "customer")
        )
    assert customer == 1


def test_rate_and_close(db: Database, world: ChatWorld) -> None:
    chat = Chat(db, actor=WIDGET)
    chat.say("你好")
    with db.transaction() as s:
        closed = conv.close(s, WIDGET, chat.public_id, token=chat.token)
    assert closed.status == "closed"
    assert closed.resolution == "self"
    assert closed.messages[-1].payload["survey"]["scale"] == [1, 2, 3, 4, 5]
    with db.transaction() as s:
        rated = conv.rate(s, WIDGET, chat.public_id, token=chat.token, score=5, comment="很快")
    assert rated.satisfaction == 5
    with db.transaction() as s, pytest.raises(InvalidTransition):
        conv.customer_message(s, WIDGET, chat.public_id, "还有个问题", token=chat.token)
    with db.transaction() as s, pytest.raises(ValidationFailed):
        conv.rate(s, WIDGET, chat.public_id, token=chat.token, score=6)
    with db.transaction() as s, pytest.raises(ValidationFailed):
        conv.close(s, WIDGET, chat.public_id, token=chat.token, resolution="agent")
    # Closed, the customer may open a new conversation under the same reference.
    with db.transaction() as s:
        fresh = conv.start(s, WEB_KEY, channel_code="web", customer_ref="x")
        conv.close(s, WEB_KEY, fresh.public_id, token=None)
        newer = conv.start(s, WEB_KEY, channel_code="web", customer_ref="x")
    assert newer.public_id != fresh.public_id


def test_backdated_messages_keep_their_time(db: Database, world: ChatWorld) -> None:
    at = utcnow() - timedelta(days=3)
    with db.transaction() as s:
        started = conv.start(s, SYSTEM, channel_code="web", now=at)
        replies = conv.customer_message(s, SYSTEM, started.public_id, "你好", token=None, now=at)
    assert replies[0].created_at == at
