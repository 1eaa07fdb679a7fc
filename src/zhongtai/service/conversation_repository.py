"""Queries over conversations and their messages, shared by the bot, the agent desk and the
webhook: the one place that knows how to find a conversation by its public id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhongtai.service.models import Conversation, ConversationMessage


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
