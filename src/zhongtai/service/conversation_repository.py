"""Queries over conversations and their messages, shared by the bot, the agent desk and the
webhook: the one place that knows how to find a conversation by its public id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from zhongtai.service.models import CareMessage, Conversation, ConversationMessage


def by_public_id(session: Session, public_id: str, *, for_update: bool = False) -> Conversation | None:
    stmt = select(Conversation).where(Conversation.public_id == public_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def recent_waits(session: Session, channel_code: str, limit: int) -> list[tuple[datetime | None, datetime | None]]:
    """(queued_at, accepted_at) of the channel's last accepted hand-offs, newest first."""
    rows = session.execute(
        select(Conversation.queued_at, Conversation.accepted_at)
        .where(Conversation.channel_code == channel_code, Conversation.accepted_at.is_not(None))
        .order_by(Conversation.accepted_at.desc())
        .limit(limit)
    ).all()
    return [(q, a) for q, a in rows]


def staff_messages_before(session: Session, conversation_id: int, external_id: str | None) -> list[ConversationMessage]:
    """Agent and system messages between the customer's message ``external_id`` (else their latest)
    and the customer message before it, in order."""
    customer = select(ConversationMessage).where(
        ConversationMessage.conversation_id == conversation_id, ConversationMessage.sender == "customer"
    )
    this = (
        session.scalar(customer.where(ConversationMessage.external_id == external_id))
        if external_id
        else session.scalar(customer.order_by(ConversationMessage.seq.desc()).limit(1))
    )
    if this is None:
        return []
    previous = session.scalar(
        customer.where(ConversationMessage.seq < this.seq).order_by(ConversationMessage.seq.desc()).limit(1)
    )
    return list(
        session.scalars(
            select(ConversationMessage)
            .where(
                ConversationMessage.conversation_id == conversation_id,
                ConversationMessage.seq > (previous.seq if previous is not None else 0),
                ConversationMessage.seq < this.seq,
                ConversationMessage.sender.in_(("agent", "system")),
            )
            .order_by(ConversationMessage.seq)
        )
    )


def open_conversation_of(session: Session, channel_code: str, customer_ref: str) -> Conversation | None:
    """The customer's open conversation on the channel (there is at most one: ``opened_key``)."""
    return session.scalar(
        select(Conversation).where(
            Conversation.channel_code == channel_code,
            Conversation.customer_ref == customer_ref,
            Conversation.opened_key == "open",
        )
    )


def messages_after(session: Session, conversation_id: int, after_seq: int = 0) -> list[ConversationMessage]:
    return list(
        session.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id == conversation_id, ConversationMessage.seq > after_seq)
            .order_by(ConversationMessage.seq)
        )
    )


def message_by_external_id(session: Session, conversation_id: int, external_id: str) -> ConversationMessage | None:
    return session.scalar(
        select(ConversationMessage).where(
            ConversationMessage.conversation_id == conversation_id, ConversationMessage.external_id == external_id
        )
    )


def last_customer_texts(session: Session, conversation_ids: Sequence[int]) -> dict[int, str]:
    """Each conversation's newest customer message text."""
    if not conversation_ids:
        return {}
    last = (
        select(ConversationMessage.conversation_id, func.max(ConversationMessage.seq).label("seq"))
        .where(ConversationMessage.conversation_id.in_(conversation_ids), ConversationMessage.sender == "customer")
        .group_by(ConversationMessage.conversation_id)
        .subquery()
    )
    rows = session.execute(
        select(ConversationMessage.conversation_id, ConversationMessage.text).join(
            last,
            (last.c.conversation_id == ConversationMessage.conversation_id) & (last.c.seq == ConversationMessage.seq),
        )
    )
    return {cid: text for cid, text in rows}


def recent_customer_messages(session: Session, conversation_id: int, limit: int) -> list[ConversationMessage]:
    """The customer's last ``limit`` messages, newest first."""
    return list(
        session.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id == conversation_id, ConversationMessage.sender == "customer")
            .order_by(ConversationMessage.seq.desc())
            .limit(limit)
        )
    )


def waiting(session: Session, limit: int) -> list[Conversation]:
    """Queued conversations, highest priority then longest waiting first."""
    return list(
        session.scalars(
            select(Conversation)
            .where(Conversation.status == "queued")
            .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
            .limit(limit)
        )
    )


def with_agents(session: Session, first_user_id: int, limit: int) -> list[Conversation]:
    """Conversations an agent is on, ``first_user_id``'s first, then by when they were accepted."""
    mine_first = (Conversation.assigned_user_id == first_user_id).desc()
    return list(
        session.scalars(
            select(Conversation)
            .where(Conversation.status == "agent")
            .order_by(mine_first, Conversation.accepted_at, Conversation.id)
            .limit(limit)
        )
    )


def count_by_status(session: Session) -> dict[str, int]:
    return {
        s: int(n) for s, n in session.execute(select(Conversation.status, func.count()).group_by(Conversation.status))
    }


def count_by_agent(session: Session) -> dict[int | None, int]:
    """Conversations each agent is on now."""
    rows = session.execute(
        select(Conversation.assigned_user_id, func.count())
        .where(Conversation.status == "agent")
        .group_by(Conversation.assigned_user_id)
    ).all()
    return {uid: int(n) for uid, n in rows}


def claim(session: Session, conversation_id: int, user_id: int, at: datetime) -> bool:
    """queued → agent for ``user_id``, only if still queued (of two agents at once, one wins)."""
    result = session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.status == "queued")
        .values(status="agent", assigned_user_id=user_id, accepted_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- care messages and idle conversations


def care_sent(session: Session, order_numbers: Sequence[str]) -> set[str]:
    """Which of these orders already had their care message."""
    if not order_numbers:
        return set()
    return set(session.scalars(select(CareMessage.order_number).where(CareMessage.order_number.in_(order_numbers))))


def recent_contacts(session: Session, member_ids: Sequence[int], since: datetime) -> set[tuple[int | None, str]]:
    """(member, channel) pairs with a conversation active since ``since``."""
    rows = session.execute(
        select(Conversation.member_id, Conversation.channel_code).where(
            Conversation.member_id.in_(sorted(set(member_ids))), Conversation.last_message_at >= since
        )
    )
    return {(m, c) for m, c in rows}


def latest_of_member(session: Session, member_id: int, channel_code: str, since: datetime) -> Conversation | None:
    return session.scalar(
        select(Conversation)
        .where(
            Conversation.member_id == member_id,
            Conversation.channel_code == channel_code,
            Conversation.last_message_at >= since,
        )
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(1)
    )


def idle_public_ids(session: Session, before: datetime, limit: int) -> list[str]:
    """Conversations with the bot or in the queue whose last message is older than ``before``."""
    return list(
        session.scalars(
            select(Conversation.public_id)
            .where(Conversation.status.in_(("bot", "queued")), Conversation.last_message_at < before)
            .order_by(Conversation.last_message_at)
            .limit(limit)
        )
    )
