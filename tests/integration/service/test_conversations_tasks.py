"""The scheduled jobs: care messages after delivery (once per order, only to members who talk to
us on that channel) and closing idle conversations with the right resolution."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from tests.factories import SYSTEM
from tests.integration.service.chat_world import build_chat_world
from zhongtai.db import Database, utcnow
from zhongtai.orders.models import Order
from zhongtai.service import conversations as conv
from zhongtai.service import tasks
from zhongtai.service.models import CareMessage, Conversation, ConversationMessage


def _delivered_days_ago(db: Database, number: str, days: int) -> None:
    with db.transaction() as s:
        s.execute(update(Order).where(Order.number == number).values(delivered_at=utcnow() - timedelta(days=days)))


def _bot_texts(db: Database, public_id: str) -> list[str]:
    with db.transaction(write=False) as s:
        return [m.text for m in conv.get_conversation(s, SYSTEM, public_id, token=None).messages if m.sender == "bot"]


def test_care_message_once_in_the_members_open_conversation(db: Database) -> None:
    world = build_chat_world(db, publish=False)
    number = world.orders["delivered"]
    with db.transaction() as s:
        started = conv.start(s, SYSTEM, channel_code="web", member_id=world.alice, customer_ref="alice-web")
    with db.transaction(write=False) as s:
        assert number not in tasks.care_candidates(s, utcnow())  # delivered 2 days ago: too early
    _delivered_days_ago(db, number, 4)
    with db.transaction(write=False) as s:
        due = tasks.care_candidates(s, utcnow())
    assert due == [number]
    assert tasks.care_messages(db) == 1
    assert tasks.care_messages(db) == 0
    care = _bot_texts(db, started.public_id)[-1]
    assert number in care
    assert "签收 4 天" in care
    assert "有问题随时找我" in care
    assert "无理由退货" in care
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(CareMessage)) == 1


def test_care_opens_a_new_conversation_when_the_last_is_closed_and_skips_strangers(db: Database) -> None:
    world = build_chat_world(db, publish=False)
    _delivered_days_ago(db, world.orders["delivered"], 5)
    with db.transaction(write=False) as s:
        assert tasks.care_candidates(s, utcnow()) == []  # Alice never talked to us
    with db.transaction() as s:
        old = conv.start(s, SYSTEM, channel_code="web", member_id=world.alice, customer_ref="alice-web")
        conv.close(s, SYSTEM, old.public_id, token=None)
    assert tasks.care_messages(db) == 1
    with db.transaction(write=False) as s:
        rows = s.scalars(select(Conversation).where(Conversation.member_id == world.alice)).all()
        assert len(rows) == 2
        fresh = next(r for r in rows if r.public_id != old.public_id)
        assert (fresh.status, fresh.customer_ref, fresh.opened_key) == ("bot", "alice-web", "open")
    # The channel's next message from Alice lands in it.
    with db.transaction() as s:
        assert conv.start(s, SYSTEM, channel_code="web", customer_ref="alice-web").public_id == fresh.public_id


def test_idle_conversations_close_as_self_or_abandoned(db: Database) -> None:
    build_chat_world(db)
    long_ago = utcnow() - timedelta(minutes=45)
    with db.transaction() as s:
        answered = conv.start(s, SYSTEM, channel_code="web", now=long_ago).public_id
        conv.customer_message(s, SYSTEM, answered, "运费怎么算", token=None, now=long_ago)
        missed = conv.start(s, SYSTEM, channel_code="web", now=long_ago).public_id
        conv.customer_message(s, SYSTEM, missed, "帮我写一首诗", token=None, now=long_ago)
        waiting = conv.start(s, SYSTEM, channel_code="web", now=long_ago).public_id
        conv.customer_message(s, SYSTEM, waiting, "转人工", token=None, now=long_ago)
        silent = conv.start(s, SYSTEM, channel_code="web", now=long_ago).public_id
        fresh = conv.start(s, SYSTEM, channel_code="web").public_id
    assert tasks.close_idle_conversations(db) == 4
    with db.transaction(write=False) as s:
        got = dict(s.execute(select(Conversation.public_id, Conversation.resolution)).all())
        status = dict(s.execute(select(Conversation.public_id, Conversation.status)).all())
        surveys = s.scalar(
            select(func.count()).select_from(ConversationMessage).where(ConversationMessage.text == conv.CLOSE_TEXT)
        )
    assert got[answered] == "self"
    assert got[missed] == "abandoned"
    assert got[waiting] == "abandoned"
    assert got[silent] == "abandoned"
    assert status[fresh] == "bot"
    assert surveys == 0
    assert tasks.close_idle_conversations(db) == 0
