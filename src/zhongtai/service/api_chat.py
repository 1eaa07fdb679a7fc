"""Customer service HTTP API: conversations for widgets, mini-programs and integrators.

Open a conversation, send the customer's messages and get the bot's replies, read it back, rate
it, close it. Every call needs ``service:chat`` (a chat widget key, a channel's integrator key,
admin). The customer's token comes back once from ``POST /service/conversations`` and travels in
``X-Conversation-Token``; a channel's integrator key and admin need none.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.errors import invalid
from zhongtai.http import DbSession, require
from zhongtai.members.identifiers import IdentifierIn as Ident
from zhongtai.members.identifiers import InvalidIdentifier, normalise
from zhongtai.service import conversations
from zhongtai.service.schemas_chat import (
    CloseIn,
    ConversationOut,
    MessageIn,
    RatingIn,
    RepliesOut,
    StartedConversation,
    StartIn,
)

router = APIRouter(tags=["service"])

Chat = Annotated[Principal, Depends(require(Perm.SERVICE_CHAT))]
Token = Annotated[str | None, Header(alias="X-Conversation-Token", max_length=128)]


def _identifiers(body: StartIn) -> list[Ident]:
    out: list[Ident] = []
    problems = []
    for i, item in enumerate(body.member_identifiers):
        try:
            out.append(Ident(item.kind, normalise(item.kind, item.value), item.app))
        except InvalidIdentifier as exc:
            problems.append((f"body.member_identifiers.{i}.value", "invalid_identifier", str(exc)))
    if problems:
        raise invalid(*problems)
    return out


@router.post("/service/conversations", response_model=StartedConversation, status_code=201)
def start_conversation(body: StartIn, session: DbSession, actor: Chat, token: Token = None) -> StartedConversation:
    """Opens a conversation (or continues the customer's open one on the channel: by
    ``customer_ref`` for the channel's integrator, by ``customer_ref`` plus the token for a
    widget). The welcome message comes back with the token."""
    channel = body.channel_code or actor.channel_code
    if not channel:
        raise invalid(("body.channel_code", "required", "name the channel (this key is bound to none)"))
    return conversations.start(
        session,
        actor,
        channel_code=channel,
        customer_ref=body.customer_ref,
        customer_name=body.customer_name,
        scene=body.scene,
        identifiers=_identifiers(body),
        token=token,
    )


@router.get("/service/conversations/{public_id}", response_model=ConversationOut)
def get_conversation(public_id: str, session: DbSession, actor: Chat, token: Token = None) -> ConversationOut:
    return conversations.get_conversation(session, actor, public_id, token=token)


@router.post("/service/conversations/{public_id}/messages", response_model=RepliesOut)
def post_message(public_id: str, body: MessageIn, session: DbSession, actor: Chat, token: Token = None) -> RepliesOut:
    """The customer's message; the answer holds the bot's replies (none while the conversation
    waits for or talks with an agent). The same ``client_message_id`` again gets the same replies."""
    replies = conversations.customer_message(
        session, actor, public_id, body.text, token=token, external_id=body.client_message_id
    )
    status = conversations.status_of(session, public_id)
    return RepliesOut(public_id=public_id, status=status, messages=replies)


@router.post("/service/conversations/{public_id}/rating", response_model=ConversationOut)
def rate_conversation(
    public_id: str, body: RatingIn, session: DbSession, actor: Chat, token: Token = None
) -> ConversationOut:
    return conversations.rate(session, actor, public_id, token=token, score=body.score, comment=body.comment)


@router.post("/service/conversations/{public_id}/close", response_model=ConversationOut)
def close_conversation(
    public_id: str, session: DbSession, actor: Chat, token: Token = None, body: CloseIn | None = None
) -> ConversationOut:
    """The customer ends the conversation (resolution ``self`` unless an agent had it)."""
    return conversations.close(
        session, actor, public_id, token=token, resolution=body.resolution if body is not None else None
    )
