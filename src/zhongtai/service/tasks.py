"""Customer service's scheduled jobs.

* ``service.care-messages`` (hourly): a member's order delivered 3 to 14 days ago, on a channel
  where the member talked to us in the last 90 days, gets one care message (how it's going, a tip
  about the product, the return deadline and warranty, "有问题随时找我") in the member's open
  bot conversation there, or in a new one. A ``CareMessage`` row per order makes it once only.
* ``service.close-idle`` (every 5 min): a conversation with the bot or waiting in the queue with no
  message for 30 minutes is closed: ``self`` when the bot answered the customer's last question
  and nobody asked for a person, ``abandoned`` otherwise.

Each order or conversation is handled in its own transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhongtai.auth.principal import Principal
from zhongtai.catalog import service as catalog
from zhongtai.db import Database, utcnow
from zhongtai.errors import DomainError
from zhongtai.jobs import schedule
from zhongtai.orders import service as orders
from zhongtai.service import conversation_repository as conversation_repo
from zhongtai.service import conversations
from zhongtai.service.actions import DEFAULT_WARRANTY_MONTHS, local_date
from zhongtai.service.models import CareMessage, Conversation

CARE = "service.care-messages"
CLOSE_IDLE = "service.close-idle"
CARE_AFTER = timedelta(days=3)
CARE_UNTIL = timedelta(days=14)
RECENT_CONTACT = timedelta(days=90)
IDLE_AFTER = timedelta(minutes=30)
BATCH = 500
ANSWERED = ("answered", "chitchat")
log = logging.getLogger("zhongtai.service")


def _bot(name: str) -> Principal:
    return Principal.system(f"service-bot:{name}")


# ================================================================ care messages


def care_candidates(session: Session, now: datetime, limit: int = BATCH) -> list[str]:
    """Order numbers due a care message: delivered 3 to 14 days ago, none sent yet, and the
    member talked to us on the order's channel in the last 90 days."""
    due = orders.delivered_member_orders(session, since=now - CARE_UNTIL, until=now - CARE_AFTER, limit=limit * 4)
    if not due:
        return []
    sent = conversation_repo.care_sent(session, [o.number for o in due])
    contacts = conversation_repo.recent_contacts(session, [o.member_id for o in due], now - RECENT_CONTACT)
    return [o.number for o in due if o.number not in sent and (o.member_id, o.channel_code) in contacts][:limit]


def _care_text(session: Session, number: str, now: datetime) -> tuple[str, dict[str, object]]:
    order = orders.get_order(session, _bot("care"), number)
    names = [ln.name or ln.sku_code for ln in order.lines]
    items = names[0] + (f"等 {len(names)} 件商品" if len(names) > 1 else "")
    days = max(1, (now - (order.delivered_at or now)).days)
    parts = [f"您好！您的订单 {number}（{items}）已签收 {days} 天，使用还顺利吗？"]
    tip = ""
    warranty = ""
    try:
        detail = catalog.get_sku_detail(session, order.lines[0].sku_code)
    except DomainError:
        detail = None
    if detail is not None:
        if detail.selling_points:
            tip = f"小贴士：这款的亮点是“{detail.selling_points[0]}”，不妨多试试。"
        months = next(
            (
                int(p.value)
                for p in detail.parameters
                if p.code == "warranty_months" and isinstance(p.value, int | float)
            ),
            DEFAULT_WARRANTY_MONTHS if detail.serial_tracked else 0,
        )
        if months:
            warranty = f"商品享受 {months} 个月保修，发送机身序列号给我即可查询保修状态。"
    if tip:
        parts.append(tip)
    elig = orders.return_eligibility(session, _bot("care"), number)
    deadline = next((ln.deadline for ln in elig.lines if ln.deadline and ln.returnable > 0), None)
    if elig.eligible and deadline is not None and deadline > now:
        parts.append(f"如不满意，{local_date(deadline)} 前可申请无理由退货。")
    if warranty:
        parts.append(warranty)
    parts.append("有问题随时找我～")
    payload: dict[str, object] = {
        "care": {"order_number": number},
        "quick_replies": [
            {"label": "查看订单", "text": f"{number} 订单状态"},
            {"label": "申请退货", "text": f"{number} 我要退货"},
            {"label": "查保修", "text": "查保修"},
        ],
    }
    return "".join(parts), payload


def send_care(session: Session, number: str, *, now: datetime | None = None) -> bool:
    """One care message for the order (False when already sent or no longer due)."""
    at = now or utcnow()
    if conversation_repo.care_sent(session, [number]):
        return False
    buyer = orders.order_buyer(session, number)
    if buyer is None or buyer.member_id is None:
        return False
    recent = conversation_repo.latest_of_member(session, buyer.member_id, buyer.channel_code, at - RECENT_CONTACT)
    if recent is None:
        return False
    if recent.status in ("queued", "agent"):
        return False  # a person is on it; the next run tries again
    actor = _bot("care")
    if recent.status == "bot":
        conv = conversations.locked_conversation(session, recent.public_id)
    else:
        conv = _care_conversation(session, recent, at)
    text, payload = _care_text(session, number, at)
    try:
        with session.begin_nested():
            session.add(CareMessage(order_number=number, conversation_id=conv.id, sent_at=at))
            session.flush()
    except IntegrityError:
        return False  # another run sent it a moment ago
    conversations.add_message(session, conv, sender="bot", text=text, payload=payload, now=at)
    session.flush()
    log.info("care message for %s in %s by %s", number, conv.public_id, actor.name)
    return True


def _care_conversation(session: Session, previous: Conversation, at: datetime) -> Conversation:
    """A new conversation with the member on the channel (the last one is closed)."""
    public_id = "C" + secrets.token_hex(12).upper()
    conv = Conversation(
        public_id=public_id,
        token_hash=conversations.hash_token(secrets.token_urlsafe(24)),
        channel_code=previous.channel_code,
        scene=previous.scene,
        member_id=previous.member_id,
        customer_ref=previous.customer_ref,
        opened_key="open" if previous.customer_ref and not _has_open(session, previous) else public_id,
        customer_name=previous.customer_name,
        status="bot",
        state={},
        started_at=at,
        last_message_at=at,
        message_count=0,
    )
    session.add(conv)
    session.flush()
    return conv


def _has_open(session: Session, previous: Conversation) -> bool:
    return conversation_repo.open_conversation_of(session, previous.channel_code, previous.customer_ref) is not None


# ================================================================ idle conversations


def idle_conversations(session: Session, now: datetime, limit: int = BATCH) -> list[str]:
    return conversation_repo.idle_public_ids(session, now - IDLE_AFTER, limit)


def idle_resolution(session: Session, conv: Conversation) -> str:
    """``self`` when the bot answered the customer's last question and no person was asked for."""
    if conv.handoff_reason is not None or conv.status != "bot":
        return "abandoned"
    latest = conversation_repo.recent_customer_messages(session, conv.id, 1)
    last = latest[0] if latest else None
    return "self" if last is not None and last.outcome in ANSWERED else "abandoned"


def close_idle(session: Session, public_id: str, *, now: datetime | None = None) -> bool:
    at = now or utcnow()
    conv = conversations.locked_conversation(session, public_id)
    if conv.status not in ("bot", "queued") or conv.last_message_at >= at - IDLE_AFTER:
        return False
    conversations.close_conversation(session, _bot("idle"), conv, idle_resolution(session, conv), now=at, survey=False)
    return True


def _each(db: Database, keys: Sequence[str], step: Callable[[Session, str], bool]) -> int:
    done = 0
    for key in keys:
        try:
            with db.transaction() as session:
                done += 1 if step(session, key) else 0
        except DomainError:
            log.warning("%s skipped by the schedule", key, exc_info=True)
    return done


@schedule(CARE, every_s=3600)
def care_messages(db: Database) -> int:
    now = utcnow()
    with db.transaction(write=False) as session:
        numbers = care_candidates(session, now)
    return _each(db, numbers, lambda s, n: send_care(s, n, now=now))


@schedule(CLOSE_IDLE, every_s=300)
def close_idle_conversations(db: Database) -> int:
    now = utcnow()
    with db.transaction(write=False) as session:
        ids = idle_conversations(session, now)
    return _each(db, ids, lambda s, i: close_idle(s, i, now=now))
