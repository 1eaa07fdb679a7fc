"""Conversations under concurrent clients (PostgreSQL only: SQLite's writers serialise anyway).

* Eight messages sent into one conversation at once, each from its own thread and connection,
  released together by a barrier: every one is stored and answered, ``seq`` runs 1..N without a
  gap or a duplicate, and each customer message is directly followed by its own replies (the row
  lock serialises whole turns).
* The same channel message (webhook retry) delivered four times at once: stored and answered once.
* Six starts for one customer at once: one open conversation, every caller gets it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import SYSTEM
from tests.integration.service.chat_world import build_chat_world
from zhongtai.db import Database
from zhongtai.service import conversations as conv
from zhongtai.service.models import Conversation, ConversationMessage

pytestmark = pytest.mark.postgres

# Questions the packs answer outright (no slot to fill, no hand-off), so every turn has a reply
# whatever order the threads run in.
TEXTS = ["你好", "运费怎么算", "支持花呗吗", "可以开发票吗", "支持七天无理由退货吗", "保修多久", "谢谢", "能货到付款吗"]


def _all_at_once(n: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            out[i] = work(i)
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    return out


def _messages(db: Database, public_id: str) -> list[ConversationMessage]:
    with db.transaction(write=False) as s:
        cid = s.scalar(select(Conversation.id).where(Conversation.public_id == public_id))
        rows = list(
            s.scalars(
                select(ConversationMessage)
                .where(ConversationMessage.conversation_id == cid)
                .order_by(ConversationMessage.seq)
            )
        )
        s.expunge_all()
        return rows


def test_simultaneous_messages_keep_seq_unique_and_turns_whole(pg_db: Database) -> None:
    build_chat_world(pg_db)
    with pg_db.transaction() as s:
        started = conv.start(s, SYSTEM, channel_code="web", customer_ref="burst")

    def send(i: int) -> list[int]:
        with pg_db.transaction() as s:
            replies = conv.customer_message(s, SYSTEM, started.public_id, TEXTS[i], token=None)
            return [m.seq for m in replies]

    results = _all_at_once(len(TEXTS), send)
    assert not [r for r in results if isinstance(r, Exception)], results
    rows = _messages(pg_db, started.public_id)
    assert [m.seq for m in rows] == list(range(1, len(rows) + 1))
    customer = [m for m in rows if m.sender == "customer"]
    assert sorted(m.text for m in customer) == sorted(TEXTS)
    by_seq = {m.seq: m for m in rows}
    for reply_seqs in results:
        assert reply_seqs, "every message got a reply"
        question = by_seq[reply_seqs[0] - 1]
        assert question.sender == "customer"
        assert reply_seqs == list(range(reply_seqs[0], reply_seqs[0] + len(reply_seqs)))
    with pg_db.transaction(write=False) as s:
        count = s.scalar(select(Conversation.message_count).where(Conversation.public_id == started.public_id))
    assert count == len(rows)


def test_a_webhook_retry_burst_is_answered_once(pg_db: Database) -> None:
    build_chat_world(pg_db)
    with pg_db.transaction() as s:
        started = conv.start(s, SYSTEM, channel_code="web", customer_ref="wx-1")

    def deliver(i: int) -> list[int]:
        with pg_db.transaction() as s:
            replies = conv.customer_message(
                s, SYSTEM, started.public_id, "运费怎么算", token=None, external_id="MSG-77"
            )
            return [m.id for m in replies]

    results = _all_at_once(4, deliver)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({tuple(r) for r in results}) == 1
    assert results[0]
    rows = _messages(pg_db, started.public_id)
    assert sum(1 for m in rows if m.sender == "customer") == 1


def test_simultaneous_starts_open_one_conversation(pg_db: Database) -> None:
    build_chat_world(pg_db, publish=False)

    def start(i: int) -> str:
        with pg_db.transaction() as s:
            return conv.start(s, SYSTEM, channel_code="web", customer_ref="same-customer").public_id

    results = _all_at_once(6, start)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1
    with pg_db.transaction(write=False) as s:
        open_rows = s.scalars(
            select(Conversation).where(Conversation.customer_ref == "same-customer", Conversation.opened_key == "open")
        ).all()
    assert len(open_rows) == 1
