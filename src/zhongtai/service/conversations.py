"""Conversations: opening one, the customer's messages and the bot's replies, hand-off, rating, closing.

Every message is a row (``ConversationMessage``) numbered by ``seq`` within its conversation; the
conversation's row is locked for each message (``SELECT ... FOR UPDATE`` on PostgreSQL, SQLite's
writers serialise), so two messages sent at once get distinct, ordered numbers. A message that
carries the channel's id (``external_id``) and was seen before gets the replies it got the first
time: webhooks retry, the bot answers once.

Who may do what. A customer holds the conversation's token (``secrets.token_urlsafe``; only its
sha256 is stored) and must present it; a channel's integrator key and admin are trusted and need
none. A key bound to a channel (integrator or chat widget) only opens and reaches conversations on
that channel. Only trusted callers may say who the customer is (a member id or the member
center's identifiers); a lookup never creates a member.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.channels import service as channels
from zhongtai.db import utcnow
from zhongtai.errors import InvalidTransition, NotFound, PermissionDenied, invalid, not_found
from zhongtai.members import identity as members
from zhongtai.members.identifiers import IdentifierIn
from zhongtai.service import conversation_repository as conversation_repo
from zhongtai.service import dialogue
from zhongtai.service.models import Conversation, ConversationMessage
from zhongtai.service.schemas_chat import RESOLUTIONS, ConversationOut, MessageOut, StartedConversation

DEFAULT_WELCOME = "您好，我是智能客服，请问有什么可以帮您？您可以直接描述问题，或发送订单号。"
CLOSE_TEXT = "本次服务已结束，感谢您的咨询！请为本次服务打分（1-5 分）。"
HANDOFF_PRIORITY_VIP = 10
MAX_TEXT = 1000
TEXT_FIELD = "body.text"


# ================================================================ helpers


def hash_token(token: str) -> str:
    """What is stored of a customer's token."""
    return hashlib.sha256(token.encode()).hexdigest()


def trusted(actor: Principal, channel_code: str) -> bool:
    """Whether ``actor`` may act on any conversation of ``channel_code`` without its token: the
    system, admin, and integrator keys bound to that channel."""
    if actor.kind == "system" or actor.role is Role.ADMIN:
        return True
    return actor.kind == "api_key" and actor.role is Role.INTEGRATOR and actor.channel_code == channel_code


def _bound_elsewhere(actor: Principal, channel_code: str) -> bool:
    return actor.kind == "api_key" and actor.channel_code is not None and actor.channel_code != channel_code


def _scene_of(channel_kind: str) -> str:
    return "instant" if channel_kind == "instant_retail" else "ecommerce"


def _find(session: Session, public_id: str, *, for_update: bool = False) -> Conversation | None:
    return conversation_repo.by_public_id(session, public_id, for_update=for_update)


def _authorised(session: Session, actor: Principal, public_id: str, token: str | None, *, lock: bool) -> Conversation:
    """The conversation, when ``actor`` may reach it; otherwise the same 404 as for an unknown id
    (a guessed id tells nothing)."""
    conv = _find(session, public_id, for_update=lock)
    if conv is None or _bound_elsewhere(actor, conv.channel_code):
        raise not_found("conversation", public_id)
    if trusted(actor, conv.channel_code):
        return conv
    if not token or not hmac.compare_digest(hash_token(token), conv.token_hash):
        raise not_found("conversation", public_id)
    return conv


def locked_conversation(session: Session, public_id: str) -> Conversation:
    """The conversation's row, locked for a change (agents' verbs use it; no token check: they
    check their own permission)."""
    conv = _find(session, public_id, for_update=True)
    if conv is None:
        raise not_found("conversation", public_id)
    return conv


def add_message(
    session: Session,
    conv: Conversation,
    *,
    sender: str,
    text: str,
    payload: dict[str, Any] | None = None,
    now: datetime | None = None,
    agent_user_id: int | None = None,
    external_id: str | None = None,
) -> ConversationMessage:
    """Appends a message (the caller holds the conversation's lock): the next ``seq``, the
    conversation's ``last_message_at`` and ``message_count`` follow."""
    at = now or utcnow()
    conv.message_count += 1
    msg = ConversationMessage(
        conversation_id=conv.id,
        seq=conv.message_count,
        sender=sender,
        text=text,
        payload=payload or {},
        agent_user_id=agent_user_id,
        external_id=external_id,
        created_at=at,
    )
    session.add(msg)
    if sender != "system":
        conv.last_message_at = at
    return msg


def message_out(msg: ConversationMessage) -> MessageOut:
    return MessageOut.model_validate(msg)


def messages_of(session: Session, conv: Conversation, *, after_seq: int = 0) -> list[ConversationMessage]:
    return conversation_repo.messages_after(session, conv.id, after_seq)


def conversation_out(session: Session, conv: Conversation, *, with_messages: bool = True) -> ConversationOut:
    return ConversationOut(
        public_id=conv.public_id,
        channel_code=conv.channel_code,
        status=conv.status,
        member_id=conv.member_id,
        customer_name=conv.customer_name,
        handoff_reason=conv.handoff_reason,
        queued_at=conv.queued_at,
        started_at=conv.started_at,
        closed_at=conv.closed_at,
        resolution=conv.resolution,
        satisfaction=conv.satisfaction,
        messages=[message_out(m) for m in messages_of(session, conv)] if with_messages else [],
    )


def _settings(session: Session, channel_code: str) -> dialogue.BotSettings:
    from zhongtai.service import kb

    return dialogue.BotSettings.of(kb.settings_for(session, channel_code))


# ================================================================ start


def _resolve_member(
    session: Session, actor: Principal, channel_code: str, member_id: int | None, identifiers: Sequence[IdentifierIn]
) -> int | None:
    if member_id is None and not identifiers:
        return None
    if not trusted(actor, channel_code):
        field = "body.member_identifiers" if identifiers else "body.member_id"
        raise invalid((field, "not_allowed", "only the channel's integrator may say who the customer is"))
    if member_id is not None:
        brief = members.member_brief(session, member_id)
        if brief is None:
            raise invalid(("body.member_id", "unknown_member", f"no active member {member_id}"))
        return brief.id
    found = members.member_by_identifiers(session, identifiers)
    # An unknown customer chats anonymously: chat never creates members.
    return found.id if found is not None else None


def start(
    session: Session,
    actor: Principal,
    *,
    channel_code: str,
    customer_ref: str = "",
    customer_name: str = "",
    member_id: int | None = None,
    scene: str | None = None,
    identifiers: Sequence[IdentifierIn] = (),
    token: str | None = None,
    now: datetime | None = None,
) -> StartedConversation:
    """Opens a conversation on ``channel_code`` (or continues the customer's open one there: a
    trusted caller by ``customer_ref`` alone, a widget by ``customer_ref`` plus the token it holds)
    and greets the customer."""
    at = now or utcnow()
    if _bound_elsewhere(actor, channel_code):
        raise PermissionDenied(
            f"this key is bound to channel {actor.channel_code}", extra={"channel_code": channel_code}
        )
    problems: list[tuple[str, str, str]] = []
    if scene is not None and scene not in ("ecommerce", "instant"):
        problems.append(("body.scene", "unknown_scene", "scene is ecommerce or instant"))
    if len(customer_ref) > 128:
        problems.append(("body.customer_ref", "too_long", "at most 128 characters"))
    if len(customer_name) > 64:
        problems.append(("body.customer_name", "too_long", "at most 64 characters"))
    try:
        channel = channels.get_channel(session, channel_code)
    except NotFound:
        problems.append(("body.channel_code", "unknown_channel", f"no channel {channel_code!r}"))
        channel = None
    if problems or channel is None:
        raise invalid(*problems)
    if not channel.is_active:
        raise invalid(("body.channel_code", "inactive_channel", f"channel {channel_code} is inactive"))
    resolved_member = _resolve_member(session, actor, channel_code, member_id, identifiers)
    is_trusted = trusted(actor, channel_code)

    existing: Conversation | None = None
    if customer_ref:
        existing = conversation_repo.open_conversation_of(session, channel_code, customer_ref)
        if existing is not None and (
            is_trusted or (token is not None and hmac.compare_digest(hash_token(token), existing.token_hash))
        ):
            if resolved_member is not None and existing.member_id is None:
                existing.member_id = resolved_member
            return StartedConversation(
                public_id=existing.public_id,
                token=None,
                status=existing.status,
                reused=True,
                messages=[message_out(m) for m in messages_of(session, existing)],
            )

    new_token = secrets.token_urlsafe(24)
    public_id = "C" + secrets.token_hex(12).upper()
    settings = _settings(session, channel_code)
    conv = Conversation(
        public_id=public_id,
        token_hash=hash_token(new_token),
        channel_code=channel_code,
        scene=scene or _scene_of(channel.kind),
        member_id=resolved_member,
        customer_ref=customer_ref,
        # At most one open conversation per customer and channel ("open"); a widget that could
        # not prove it holds the open one's token gets a conversation of its own (keyed by its id).
        opened_key="open" if customer_ref and existing is None else public_id,
        customer_name=customer_name,
        status="bot",
        state={},
        started_at=at,
        last_message_at=at,
        message_count=0,
    )
    try:
        with session.begin_nested():
            session.add(conv)
            session.flush()
    except IntegrityError:
        # Someone opened this customer's conversation a moment ago: continue that one if allowed.
        existing = conversation_repo.open_conversation_of(session, channel_code, customer_ref)
        if existing is not None and is_trusted:
            return StartedConversation(
                public_id=existing.public_id,
                token=None,
                status=existing.status,
                reused=True,
                messages=[message_out(m) for m in messages_of(session, existing)],
            )
        conv.opened_key = public_id
        session.add(conv)
        session.flush()
    welcome = add_message(
        session,
        conv,
        sender="bot",
        text=settings.welcome or DEFAULT_WELCOME,
        payload=dialogue.welcome_payload(),
        now=at,
    )
    session.flush()
    return StartedConversation(
        public_id=conv.public_id, token=new_token, status="bot", reused=False, messages=[message_out(welcome)]
    )


# ================================================================ messages


def _replies_to(session: Session, conv: Conversation, msg: ConversationMessage) -> list[ConversationMessage]:
    """The bot's messages that answered ``msg``: those after it, up to the customer's next one."""
    out = []
    for m in messages_of(session, conv, after_seq=msg.seq):
        if m.sender == "customer":
            break
        if m.sender == "bot":
            out.append(m)
    return out


def customer_message(
    session: Session,
    actor: Principal,
    public_id: str,
    text: str,
    *,
    token: str | None,
    external_id: str | None = None,
    now: datetime | None = None,
) -> list[MessageOut]:
    """Stores the customer's message and, while the bot has the conversation, its replies (while
    queued or with an agent: nothing, the agent answers)."""
    at = now or utcnow()
    clean = text.strip()
    if not clean:
        raise invalid((TEXT_FIELD, "empty", "the message is empty"))
    if len(clean) > MAX_TEXT:
        raise invalid((TEXT_FIELD, "too_long", f"at most {MAX_TEXT} characters"))
    conv = _authorised(session, actor, public_id, token, lock=True)
    if external_id is not None:
        seen = conversation_repo.message_by_external_id(session, conv.id, external_id)
        if seen is not None:
            return [message_out(m) for m in _replies_to(session, conv, seen)]
    if conv.status == "closed":
        raise InvalidTransition(f"conversation {public_id} is closed: start a new one", extra={"status": conv.status})
    msg = add_message(session, conv, sender="customer", text=clean, now=at, external_id=external_id)
    session.flush()
    if conv.status != "bot":
        return []
    return [message_out(m) for m in _run_bot(session, actor, conv, msg, at)]


def _run_bot(
    session: Session, actor: Principal, conv: Conversation, msg: ConversationMessage, at: datetime
) -> list[ConversationMessage]:
    settings = _settings(session, conv.channel_code)
    channel = channels.get_channel(session, conv.channel_code)
    tier = ""
    if conv.member_id is not None:
        brief = members.member_brief(session, conv.member_id)
        tier = brief.tier if brief is not None else ""
    ctx = dialogue.ConversationContext(
        public_id=conv.public_id,
        channel_code=conv.channel_code,
        channel_kind=channel.kind,
        scene=conv.scene,
        member_id=conv.member_id,
        member_tier=tier,
        customer_name=conv.customer_name,
    )
    turn = dialogue.respond(session, ctx, settings, dict(conv.state or {}), msg.text, now=at)
    msg.intent = turn.subintent[:64] if turn.subintent else None
    msg.confidence = turn.confidence
    msg.outcome = turn.outcome
    conv.state = turn.state
    if turn.kb_version is not None:
        conv.kb_version = turn.kb_version
    replies = [add_message(session, conv, sender="bot", text=r.text, payload=r.payload, now=at) for r in turn.replies]
    session.flush()
    if turn.training:
        from zhongtai.service import trainer

        trainer.record_training_item(session, msg.id, msg.text, conv.channel_code, turn.guess, turn.confidence)
    if turn.handoff:
        hand_off(session, actor, conv, turn.handoff, now=at, priority=turn.priority)
    session.flush()
    return replies


# ================================================================ hand-off, reading, rating, closing


def hand_off(
    session: Session,
    actor: Principal,
    conversation: Conversation,
    reason: str,
    *,
    now: datetime | None = None,
    priority: int | None = None,
) -> None:
    """bot → queued: the conversation waits for an agent (VIP members' first)."""
    if conversation.status != "bot":
        raise InvalidTransition(
            f"conversation {conversation.public_id} is {conversation.status}",
            extra={"status": conversation.status},
        )
    if priority is None:
        priority = 0
        if conversation.member_id is not None:
            brief = members.member_brief(session, conversation.member_id)
            vip = _settings(session, conversation.channel_code).vip_tiers
            if brief is not None and brief.tier and brief.tier in vip:
                priority = HANDOFF_PRIORITY_VIP
    conversation.status = "queued"
    conversation.handoff_reason = reason[:32]
    conversation.queued_at = now or utcnow()
    conversation.priority = priority
    add_message(
        session,
        conversation,
        sender="system",
        text="",
        payload={"event": "handoff", "reason": reason[:32], "by": actor.name[:128]},
        now=now,
    )


def get_conversation(session: Session, principal: Principal, public_id: str, *, token: str | None) -> ConversationOut:
    conv = _authorised(session, principal, public_id, token, lock=False)
    return conversation_out(session, conv)


def rate(
    session: Session,
    actor: Principal,
    public_id: str,
    *,
    token: str | None,
    score: int,
    comment: str = "",
    now: datetime | None = None,
) -> ConversationOut:
    """The satisfaction survey's answer (1-5). A second rating replaces the first."""
    problems = []
    if not 1 <= score <= 5:
        problems.append(("body.score", "out_of_range", "a score is 1 to 5"))
    if len(comment) > 500:
        problems.append(("body.comment", "too_long", "at most 500 characters"))
    if problems:
        raise invalid(*problems)
    conv = _authorised(session, actor, public_id, token, lock=True)
    conv.satisfaction = score
    conv.satisfaction_comment = comment
    add_message(
        session,
        conv,
        sender="system",
        text="",
        payload={"event": "rating", "score": score, "comment": comment},
        now=now,
    )
    session.flush()
    return conversation_out(session, conv)


def close(
    session: Session,
    actor: Principal,
    public_id: str,
    *,
    token: str | None,
    resolution: str | None = None,
    now: datetime | None = None,
) -> ConversationOut:
    """Ends the conversation. The resolution is the channel's to say (trusted callers); otherwise
    it follows from what happened: an agent had it → ``agent``, still waiting for one →
    ``abandoned``, the bot alone → ``self``."""
    if resolution is not None and resolution not in RESOLUTIONS:
        raise invalid(("body.resolution", "unknown_resolution", "resolution is self, agent or abandoned"))
    conv = _authorised(session, actor, public_id, token, lock=True)
    if resolution is not None and not trusted(actor, conv.channel_code):
        raise invalid(("body.resolution", "not_allowed", "only the channel may say how a conversation ended"))
    close_conversation(session, actor, conv, resolution or natural_resolution(conv), now=now)
    return conversation_out(session, conv)


def natural_resolution(conv: Conversation) -> str:
    if conv.assigned_user_id is not None or conv.accepted_at is not None:
        return "agent"
    return "abandoned" if conv.status == "queued" else "self"


def status_of(session: Session, public_id: str) -> str:
    conv = _find(session, public_id)
    if conv is None:
        raise not_found("conversation", public_id)
    return conv.status


def close_conversation(
    session: Session,
    actor: Principal,
    conv: Conversation,
    resolution: str,
    *,
    now: datetime | None = None,
    survey: bool = True,
) -> None:
    """Closes a locked conversation and (``survey``) asks for a rating; agents' close and the idle
    job use it too."""
    if conv.status == "closed":
        raise InvalidTransition(f"conversation {conv.public_id} is already closed", extra={"status": conv.status})
    at = now or utcnow()
    conv.status = "closed"
    conv.closed_at = at
    conv.closed_by = actor.name[:128]
    conv.resolution = resolution
    conv.opened_key = conv.public_id[:32]
    if survey and conv.satisfaction is None:
        add_message(
            session,
            conv,
            sender="bot",
            text=CLOSE_TEXT,
            payload={"survey": {"scale": [1, 2, 3, 4, 5], "question": "您对本次服务满意吗？"}},
            now=at,
        )
    session.flush()
