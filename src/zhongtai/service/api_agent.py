"""Customer service HTTP API: the agents' hand-off queue under /api/v1/service/agent.

Every route needs ``service:agent`` (cs_agent, ops, admin). Taking, answering and closing a
conversation is for people (a console session); a key with the permission may read the queue.
The agent desk in the console calls these with its session cookie and the X-CSRF-Token header.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.http import DbSession, require
from zhongtai.service import agents
from zhongtai.service.schemas_agent import (
    AgentConversationOut,
    AgentMessageIn,
    AgentOut,
    MessagesSinceOut,
    QueueOut,
    ReleaseIn,
    SuggestionOut,
    TransferIn,
)
from zhongtai.service.schemas_chat import ConversationOut, MessageOut

router = APIRouter(prefix="/service/agent", tags=["service"])

Agent = Annotated[Principal, Depends(require(Perm.SERVICE_AGENT))]


@router.get("/queue", response_model=QueueOut)
def get_queue(session: DbSession, principal: Agent) -> QueueOut:
    """Waiting conversations (VIPs first, then the longest waiting) with their wait and SLA breach,
    then the ones agents are on; counts per status."""
    return agents.queue_view(session, principal)


@router.get("/agents", response_model=list[AgentOut])
def list_agents(session: DbSession, principal: Agent) -> list[AgentOut]:
    """People who can take conversations (transfer targets) and how many each has open."""
    return agents.agents(session)


@router.get("/conversations/{public_id}", response_model=AgentConversationOut)
def get_conversation(session: DbSession, principal: Agent, public_id: str) -> AgentConversationOut:
    """The conversation with every message, the member's card summary and recent orders."""
    return agents.conversation(session, principal, public_id)


@router.get("/conversations/{public_id}/messages", response_model=MessagesSinceOut)
def poll_messages(
    session: DbSession,
    principal: Agent,
    public_id: str,
    after_seq: Annotated[int, Query(ge=0, description="the last seq the desk has")] = 0,
) -> MessagesSinceOut:
    """The desk's poll: status and the messages after ``after_seq``."""
    return agents.messages_since(session, principal, public_id, after_seq=after_seq)


@router.get("/conversations/{public_id}/suggestions", response_model=list[SuggestionOut])
def get_suggestions(session: DbSession, principal: Agent, public_id: str) -> list[SuggestionOut]:
    """Answers for the customer's last message from the published knowledge base, and product cards."""
    return agents.suggestions(session, principal, public_id)


@router.post("/conversations/{public_id}/accept", response_model=ConversationOut)
def accept(session: DbSession, principal: Agent, public_id: str) -> ConversationOut:
    """Takes a waiting conversation; 409 when another agent was quicker."""
    return agents.accept(session, principal, public_id)


@router.post("/conversations/{public_id}/messages", response_model=MessageOut, status_code=201)
def reply(session: DbSession, principal: Agent, public_id: str, body: AgentMessageIn) -> MessageOut:
    """The assigned agent's reply to the customer."""
    return agents.agent_message(session, principal, public_id, body.text)


@router.post("/conversations/{public_id}/close", response_model=ConversationOut)
def close(session: DbSession, principal: Agent, public_id: str) -> ConversationOut:
    """Ends the conversation (resolution ``agent``) and asks the customer for a rating."""
    return agents.close_by_agent(session, principal, public_id)


@router.post("/conversations/{public_id}/release", response_model=ConversationOut)
def release(session: DbSession, principal: Agent, public_id: str, body: ReleaseIn | None = None) -> ConversationOut:
    """Back to the queue, in its old place."""
    return agents.release(session, principal, public_id, note=body.note if body else "")


@router.post("/conversations/{public_id}/transfer", response_model=ConversationOut)
def transfer(session: DbSession, principal: Agent, public_id: str, body: TransferIn) -> ConversationOut:
    """To another agent."""
    return agents.transfer(session, principal, public_id, body.user_id, note=body.note)
