"""The agents' side of customer service: the hand-off queue and the verbs of the agent desk.

A conversation the bot hands off waits in the queue (status ``queued``), VIPs first (higher
``priority``), then by the time it was queued. Its wait is measured against the channel's SLA
(``ServiceSettings.sla_wait_s``). An agent *accepts* it with a conditional update (``queued`` →
``agent`` only if it is still queued), so when two agents click at once exactly one gets it and
the other a 409. From then on only the assigned agent replies, closes (which asks the customer for
a rating), releases it back to the queue or transfers it to a colleague; a supervisor (an agent
who may also change the knowledge base: ops, admin) may release or transfer anyone's.

Agents are people: every verb takes the acting user, writes the audit log (the messages themselves
are the conversation's history) and tells the customer what happened with a system message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from zhongtai.auth import audit
from zhongtai.auth import service as auth_service
from zhongtai.auth.permissions import Perm, Role, permissions_for
from zhongtai.auth.principal import Principal
from zhongtai.catalog import service as catalog_service
from zhongtai.channels import service as channels_service
from zhongtai.db import utcnow
from zhongtai.errors import Conflict, DomainError, InvalidTransition, NotFound, PermissionDenied, invalid, not_found
from zhongtai.members import cards as member_cards
from zhongtai.money import Money
from zhongtai.orders import service as orders_service
from zhongtai.service import actions as bot_actions
from zhongtai.service import conversation_repository as conversation_repo
from zhongtai.service import conversations
from zhongtai.service.knowledge import SubIntent
from zhongtai.service.models import Conversation, ConversationMessage
from zhongtai.service.schemas_agent import (
    AgentConversationOut,
    AgentOut,
    MemberBriefOut,
    MessagesSinceOut,
    QueueItemOut,
    QueueOut,
    RecentOrderOut,
    SuggestionOut,
)
from zhongtai.service.schemas_chat import ConversationOut, MessageOut

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from zhongtai.catalog.schemas import SkuDetailOut
    from zhongtai.service.entities import Entities
    from zhongtai.service.kb import PublishedKb

QUEUE_LIMIT = 200
RECENT_ORDERS = 5
SUGGESTIONS = 3
PRODUCT_SUGGESTIONS = 2
MAX_TEXT = 2000
PREVIEW = 80
DEFAULT_SLA_S = 60
# Sub-intents only the bot says: its hand-off ("正在为您转接人工客服"), greeting, thanks, goodbye
# (by action), and its small talk about itself (who it is, praise, "ok", "hold on": the chit-chat
# scenario's social intent). A person who has taken the conversation is never offered them.
BOT_ONLY_ACTIONS = frozenset({"handoff", "greeting", "goodbye", "thanks"})
BOT_ONLY_INTENTS = frozenset({("chitchat", "social")})
# How many of the customer's latest messages are searched for the question to answer, and how
# sure the model must be that a message is small talk to skip it (asking for a person is skipped
# whenever the model reads it as the bot's own sub-intent).
QUESTION_LOOKBACK = 8
CHITCHAT_SURE = 0.4
# Actions whose {status} is the return's, not the order's.
RETURN_ACTIONS = frozenset({"return_status", "create_return"})
# A knowledge-base answer's placeholder, as the dialogue fills them.
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
STATUSES = ("bot", "queued", "agent", "closed")

ACCEPTED = "service.conversation.accepted"
CLOSED = "service.conversation.closed_by_agent"
RELEASED = "service.conversation.released"
TRANSFERRED = "service.conversation.transferred"


# ================================================================ helpers


def _sla_of(session: Session, channel_code: str, cache: dict[str, int]) -> int:
    if channel_code not in cache:
        from zhongtai.service import kb

        cache[channel_code] = int(kb.settings_for(session, channel_code).sla_wait_s or DEFAULT_SLA_S)
    return cache[channel_code]


def _wait_s(conv: Conversation, now: datetime) -> int:
    if conv.queued_at is None:
        return 0
    end = conv.accepted_at if conv.status == "agent" and conv.accepted_at is not None else now
    return max(0, int((end - conv.queued_at).total_seconds()))


def _is_vip(conv: Conversation) -> bool:
    return conv.priority > 0 or conv.handoff_reason == "vip"


def _person(actor: Principal) -> int:
    """The acting user's id: conversations are taken by people, not by keys."""
    if actor.kind != "user" or actor.id is None:
        raise PermissionDenied(
            "only a person logged in to the console takes conversations", extra={"reason": "person_only"}
        )
    return actor.id


def _supervises(actor: Principal) -> bool:
    return actor.can(Perm.SERVICE_WRITE)


def _display_names(session: Session, user_ids: Sequence[int | None]) -> dict[int, str]:
    users = auth_service.users_by_ids(session, [u for u in user_ids if u is not None])
    return {uid: (u.display_name or u.username) for uid, u in users.items()}


def _find(session: Session, public_id: str) -> Conversation:
    conv = conversation_repo.by_public_id(session, public_id)
    if conv is None:
        raise not_found("conversation", public_id)
    return conv


def _system_message(session: Session, conv: Conversation, event: str, text: str, now: datetime, **data: Any) -> None:
    conversations.add_message(session, conv, sender="system", text=text, payload={"event": event, **data}, now=now)


def _state(conv: Conversation) -> dict[str, Any]:
    return {
        "status": conv.status,
        "assigned_user_id": conv.assigned_user_id,
        "accepted_at": conv.accepted_at,
        "queued_at": conv.queued_at,
    }


def _own_or_supervised(actor: Principal, conv: Conversation, verb: str) -> None:
    if conv.status != "agent":
        raise InvalidTransition(
            f"conversation {conv.public_id} is {conv.status}, not with an agent", extra={"status": conv.status}
        )
    if conv.assigned_user_id == actor.id and actor.kind == "user":
        return
    if verb in ("release", "transfer") and _supervises(actor):
        return
    raise PermissionDenied(
        f"only the agent who accepted conversation {conv.public_id} may {verb} it", extra={"reason": "not_assignee"}
    )


# ================================================================ the queue


def _item(conv: Conversation, now: datetime, sla: int, names: dict[int, str], preview: str) -> QueueItemOut:
    wait = _wait_s(conv, now)
    return QueueItemOut(
        public_id=conv.public_id,
        channel_code=conv.channel_code,
        status="agent" if conv.status == "agent" else "queued",
        customer_name=conv.customer_name,
        member_id=conv.member_id,
        handoff_reason=conv.handoff_reason,
        priority=conv.priority,
        vip=_is_vip(conv),
        queued_at=conv.queued_at,
        accepted_at=conv.accepted_at,
        wait_s=wait,
        sla_wait_s=sla,
        sla_breached=wait > sla,
        assigned_user_id=conv.assigned_user_id,
        assigned_to=names.get(conv.assigned_user_id, "") if conv.assigned_user_id is not None else "",
        last_message=preview[:PREVIEW],
        last_message_at=conv.last_message_at,
        message_count=conv.message_count,
    )


def queue(session: Session, principal: Principal, *, now: datetime | None = None) -> list[QueueItemOut]:
    """The conversations waiting for a person, VIPs first then the longest waiting, followed by the
    ones agents are on (the caller's first). A constant number of queries."""
    at = now or utcnow()
    waiting = conversation_repo.waiting(session, QUEUE_LIMIT)
    me = principal.id if principal.kind == "user" and principal.id is not None else -1
    taken = conversation_repo.with_agents(session, me, QUEUE_LIMIT)
    rows = waiting + taken
    names = _display_names(session, [c.assigned_user_id for c in taken])
    previews = conversation_repo.last_customer_texts(session, [c.id for c in rows])
    slas: dict[str, int] = {}
    return [_item(c, at, _sla_of(session, c.channel_code, slas), names, previews.get(c.id, "")) for c in rows]


def queue_view(session: Session, principal: Principal, *, now: datetime | None = None) -> QueueOut:
    """The queue with the number of conversations per status and how many waiting ones breach their SLA."""
    items = queue(session, principal, now=now)
    counts = dict.fromkeys(STATUSES, 0) | conversation_repo.count_by_status(session)
    breached = sum(1 for i in items if i.status == "queued" and i.sla_breached)
    return QueueOut(items=items, counts=counts, breached=breached)


def agents(session: Session) -> list[AgentOut]:
    """Active people who may take conversations (transfer targets), with how many each has now."""
    roles = [r.value for r in Role if Perm.SERVICE_AGENT in permissions_for(r) and r is not Role.INTEGRATOR]
    active = conversation_repo.count_by_agent(session)
    out: list[AgentOut] = []
    cursor: str | None = None
    while True:
        page = auth_service.list_users(session, cursor=cursor, limit=500)
        for user in page.items:
            if user.is_active and user.role in roles:
                out.append(
                    AgentOut(
                        id=user.id,
                        username=user.username,
                        display_name=user.display_name,
                        role=user.role,
                        active_conversations=int(active.get(user.id, 0)),
                    )
                )
        cursor = page.next_cursor
        if cursor is None:
            return out


# ================================================================ one conversation


def _member_brief(
    session: Session, principal: Principal, member_id: int
) -> tuple[MemberBriefOut, list[RecentOrderOut]]:
    card = member_cards.card(session, principal, member_id, orders_limit=RECENT_ORDERS)
    phones = [i.value for i in card.identities if i.kind == "phone" and i.status == "active"]
    brief = MemberBriefOut(
        id=card.id,
        code=card.code,
        name=card.profile.name,
        phone=phones[0] if phones else "",
        tier=card.points.tier,
        tier_name=card.points.tier_name,
        tier_name_en=card.points.tier_name_en,
        points_balance=card.points.balance,
        orders_count=card.totals.orders_count,
        spend_fen=card.totals.spend_fen,
        segment=card.rfm.segment,
        tags=[t.tag for t in card.tags],
        masked=card.masked,
    )
    orders = [
        RecentOrderOut(
            number=o.number,
            channel_code=o.channel_code,
            status=o.status,
            total_fen=o.total_fen,
            currency=o.currency,
            placed_at=o.placed_at,
            lines=o.lines,
        )
        for o in card.orders[:RECENT_ORDERS]
    ]
    return brief, orders


def conversation(
    session: Session, principal: Principal, public_id: str, *, now: datetime | None = None
) -> AgentConversationOut:
    """A conversation as the agent desk shows it: every message, the member's card summary (masked
    without ``pii:read``; an unmasked view is audited by the member center) and recent orders."""
    at = now or utcnow()
    conv = _find(session, public_id)
    member: MemberBriefOut | None = None
    orders: list[RecentOrderOut] = []
    if conv.member_id is not None:
        try:
            member, orders = _member_brief(session, principal, conv.member_id)
        except NotFound:
            member = None
    names = _display_names(session, [conv.assigned_user_id])
    sla = _sla_of(session, conv.channel_code, {})
    wait = _wait_s(conv, at)
    return AgentConversationOut(
        conversation=conversations.conversation_out(session, conv),
        scene=conv.scene,
        priority=conv.priority,
        vip=_is_vip(conv),
        assigned_user_id=conv.assigned_user_id,
        assigned_to=names.get(conv.assigned_user_id, "") if conv.assigned_user_id is not None else "",
        accepted_at=conv.accepted_at,
        mine=principal.kind == "user" and conv.assigned_user_id == principal.id,
        wait_s=wait,
        sla_wait_s=sla,
        sla_breached=conv.status in ("queued", "agent") and wait > sla,
        member=member,
        orders=orders,
    )


def messages_since(session: Session, principal: Principal, public_id: str, *, after_seq: int = 0) -> MessagesSinceOut:
    """What the desk polls: the conversation's status and its messages after ``after_seq``."""
    conv = _find(session, public_id)
    names = _display_names(session, [conv.assigned_user_id])
    return MessagesSinceOut(
        public_id=conv.public_id,
        status=conv.status,
        assigned_user_id=conv.assigned_user_id,
        assigned_to=names.get(conv.assigned_user_id, "") if conv.assigned_user_id is not None else "",
        messages=[conversations.message_out(m) for m in conversations.messages_of(session, conv, after_seq=after_seq)],
    )


# ================================================================ verbs


def accept(session: Session, actor: Principal, public_id: str, *, now: datetime | None = None) -> ConversationOut:
    """Takes a waiting conversation. A conditional update: of two agents accepting at once, one
    wins and the other gets a 409 naming who has it."""
    at = now or utcnow()
    conv = _find(session, public_id)
    user_id = _person(actor)
    if not conversation_repo.claim(session, conv.id, user_id, at):
        current = conversations.locked_conversation(session, public_id)
        holder = _display_names(session, [current.assigned_user_id]).get(current.assigned_user_id or 0, "")
        raise Conflict(
            f"conversation {public_id} is {current.status}" + (f" (with {holder})" if holder else ""),
            extra={"status": current.status, "assigned_to": holder},
        )
    locked = conversations.locked_conversation(session, public_id)
    name = _display_names(session, [user_id]).get(user_id, actor.name)
    _system_message(session, locked, "accepted", f"人工客服「{name}」已接入，正在为您服务。", at, agent=name)
    audit.record(
        session,
        actor,
        ACCEPTED,
        "conversation",
        public_id,
        before={"status": "queued", "queued_at": conv.queued_at},
        after={"status": "agent", "assigned_user_id": user_id, "accepted_at": at},
    )
    session.flush()
    return conversations.conversation_out(session, locked)


def agent_message(
    session: Session, actor: Principal, public_id: str, text: str, *, now: datetime | None = None
) -> MessageOut:
    """The assigned agent's reply, stored as sender ``agent`` with the agent's user id."""
    at = now or utcnow()
    conv = conversations.locked_conversation(session, public_id)
    _own_or_supervised(actor, conv, "reply to")
    clean = (text or "").strip()
    if not clean:
        raise invalid(("body.text", "empty", "the message is empty"))
    if len(clean) > MAX_TEXT:
        raise invalid(("body.text", "too_long", f"at most {MAX_TEXT} characters"))
    name = _display_names(session, [actor.id]).get(actor.id or 0, actor.name)
    msg = conversations.add_message(
        session, conv, sender="agent", text=clean, payload={"agent": name}, now=at, agent_user_id=actor.id
    )
    session.flush()
    return conversations.message_out(msg)


def close_by_agent(
    session: Session, actor: Principal, public_id: str, *, now: datetime | None = None
) -> ConversationOut:
    """Ends the conversation as resolved by an agent; the customer is asked for a 1-5 rating (the
    survey message carries ``payload.survey``; the answer goes through ``conversations.rate``)."""
    at = now or utcnow()
    conv = conversations.locked_conversation(session, public_id)
    _own_or_supervised(actor, conv, "close")
    before = _state(conv)
    conversations.close_conversation(session, actor, conv, "agent", now=at)
    audit.record(
        session,
        actor,
        CLOSED,
        "conversation",
        public_id,
        before=before,
        after={"status": "closed", "resolution": "agent", "closed_at": at},
    )
    session.flush()
    return conversations.conversation_out(session, conv)


def release(
    session: Session, actor: Principal, public_id: str, *, note: str = "", now: datetime | None = None
) -> ConversationOut:
    """Puts the conversation back in the queue, in its old place (its wait counts from the hand-off)."""
    at = now or utcnow()
    conv = conversations.locked_conversation(session, public_id)
    _own_or_supervised(actor, conv, "release")
    before = _state(conv)
    conv.status = "queued"
    conv.assigned_user_id = None
    conv.accepted_at = None
    if conv.queued_at is None:
        conv.queued_at = at
    _system_message(session, conv, "released", "正在为您转接其他客服，请稍候。", at)
    audit.record(
        session, actor, RELEASED, "conversation", public_id, before=before, after={**_state(conv), "note": note}
    )
    session.flush()
    return conversations.conversation_out(session, conv)


def transfer(
    session: Session, actor: Principal, public_id: str, to_user_id: int, *, note: str = "", now: datetime | None = None
) -> ConversationOut:
    """Hands the conversation to another agent (an active person whose role may take conversations)."""
    at = now or utcnow()
    conv = conversations.locked_conversation(session, public_id)
    _own_or_supervised(actor, conv, "transfer")
    target = auth_service.users_by_ids(session, [to_user_id]).get(to_user_id)
    if target is None or not target.is_active:
        raise invalid(("body.user_id", "unknown_agent", f"no active user {to_user_id}"))
    if Perm.SERVICE_AGENT not in permissions_for(Role(target.role)) or target.role == Role.INTEGRATOR.value:
        raise invalid(("body.user_id", "not_an_agent", f"user {target.username} cannot take conversations"))
    if target.id == conv.assigned_user_id:
        raise invalid(("body.user_id", "same_agent", "the conversation is already with this agent"))
    before = _state(conv)
    conv.assigned_user_id = target.id
    conv.accepted_at = at
    name = target.display_name or target.username
    _system_message(session, conv, "transferred", f"已为您转接人工客服「{name}」。", at, agent=name)
    audit.record(
        session, actor, TRANSFERRED, "conversation", public_id, before=before, after={**_state(conv), "note": note}
    )
    session.flush()
    return conversations.conversation_out(session, conv)


# ================================================================ suggestions


def _fill(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` with the placeholders we know filled; the others stay as written (``{eta}``), and
    are listed in the order they appear."""
    missing: list[str] = []

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if values.get(name):
            return values[name]
        if name not in missing:
            missing.append(name)
        return match.group(0)

    return PLACEHOLDER.sub(one, text), missing


def _product_text(detail: Any) -> str:
    price = Money(detail.sale_price_fen, detail.currency).format()
    lines = [f"{detail.name}  {price}"]
    if detail.selling_points:
        lines.append("卖点：" + "；".join(detail.selling_points[:4]))
    params = [f"{p.name} {p.value}{p.unit or ''}" for p in detail.parameters[:5] if p.value not in (None, "", [])]
    if params:
        lines.append("参数：" + "，".join(params))
    if detail.accessories:
        lines.append("推荐配件：" + "、".join(a.name for a in detail.accessories[:3]))
    return "\n".join(lines)


def for_a_person(sub: SubIntent) -> bool:
    """Whether an agent would say this sub-intent's answer: not the bot's own hand-off, greeting,
    thanks or goodbye, nor its small talk about itself."""
    return sub.action not in BOT_ONLY_ACTIONS and (sub.scenario_code, sub.intent_code) not in BOT_ONLY_INTENTS


def _recent_customer_messages(session: Session, conv: Conversation) -> list[ConversationMessage]:
    rows = conversation_repo.recent_customer_messages(session, conv.id, QUESTION_LOOKBACK)
    return [m for m in rows if m.text.strip()]


def _question_index(
    texts: Sequence[str],
    found: Sequence[Entities],
    published: PublishedKb | None,
    proba: npt.NDArray[np.float64] | None,
    wants_human: Callable[[str], bool],
) -> int | None:
    """Which of the customer's latest messages (newest first) is the question to answer: the
    newest that is not just asking for a person, greeting or thanking (what the published model
    reads as the bot's own small talk). A message naming an order or a product always is."""
    for i, text in enumerate(texts):
        if found[i].order_numbers or found[i].skus:
            return i
        if published is None or proba is None:
            return i
        row = proba[i]
        top = int(row.argmax())
        sub = published.kb.get(published.classifier.labels[top])
        if sub is not None and not for_a_person(sub) and (row[top] >= CHITCHAT_SURE or wants_human(text)):
            continue
        return i
    return None


def _order_values(session: Session, principal: Principal, number: str) -> tuple[dict[str, str], dict[str, str]]:
    """What an answer about order ``number`` may say, as the bot words it: (order values, the
    latest return's values). Empty when the agent may not see the order."""
    try:
        order = orders_service.get_order(session, principal, number)
        returns = orders_service.order_returns(session, principal, number)
    except DomainError:
        return {"order_number": number}, {}
    values = {
        "order_number": number,
        "status": bot_actions.ORDER_STATUS_ZH.get(order.status, order.status),
        "created_at": bot_actions.local_time(order.placed_at),
        "total": bot_actions.yuan(order.paid_fen or order.total_fen, order.currency),
    }
    shipped = next((f for f in order.fulfilments if f.tracking_no), None)
    if shipped is not None:
        values["carrier"] = bot_actions.CARRIER_ZH.get(shipped.carrier.lower(), shipped.carrier)
        values["tracking"] = shipped.tracking_no or ""
    returned: dict[str, str] = {}
    if returns:
        latest = returns[-1]
        returned = {
            "return_number": latest.number,
            "status": bot_actions.RETURN_STATUS_ZH.get(latest.status, latest.status),
            "refund": bot_actions.yuan(latest.refund_fen, order.currency),
        }
    return values, returned


def _return_values(values: dict[str, str], returned: dict[str, str]) -> dict[str, str]:
    """For an answer about a return, whose {status} is the return's: never the order's."""
    return {**{k: v for k, v in values.items() if k != "status"}, **returned}


def _param_text(value: Any, unit: str | None) -> str:
    if isinstance(value, bool):
        shown = "是" if value else "否"
    elif isinstance(value, list | tuple):
        shown = "、".join(str(v) for v in value)
    else:
        shown = str(value)
    return f"{shown} {unit}".strip() if unit else shown


def _sku_values(detail: SkuDetailOut, attributes: Sequence[str]) -> dict[str, str]:
    values = {
        "sku_name": detail.name,
        "price": Money(detail.sale_price_fen, detail.currency).format(),
    }
    if detail.selling_points:
        values["selling_points"] = "、".join(detail.selling_points[:4])
    if detail.accessories:
        values["accessories"] = "、".join(a.name for a in detail.accessories[:3])
    asked = next((p for a in attributes for p in detail.parameters if p.code == a and p.value not in (None, "")), None)
    if asked is not None:
        values["param_name"] = asked.name
        values["param_value"] = _param_text(asked.value, asked.unit)
    return values


def suggestions(session: Session, principal: Principal, public_id: str) -> list[SuggestionOut]:
    """Replies the agent may send for the customer's question: the published knowledge base's
    three best sub-intents a person would answer with (never the bot's hand-off or small talk),
    each the answer variant for this conversation's channel and scene with what is known filled
    in (the order's number, status, total, tracking; the product's name, price, parameter);
    then, for the products the question names, their card text. The question is the customer's
    newest message that asks something: when the customer last only asked for a person ("转人工")
    or said thanks, the one before. Suggestions whose text is complete come first; the others
    list what the agent must still fill in (``missing``) and keep its ``{placeholder}`` visible."""
    from zhongtai.service import dialogue, entities, kb

    conv = _find(session, public_id)
    recent = _recent_customer_messages(session, conv)
    if not recent:
        return []
    catalog = entities.catalog_index(session)
    texts = [m.text for m in recent]
    found = [entities.extract(t, catalog) for t in texts]
    published = kb.published(session)
    proba = published.classifier.predict_proba(texts) if published is not None else None
    index = _question_index(texts, found, published, proba, dialogue.wants_human)
    if index is None:
        return []
    question = found[index]
    # What the answers may say. The order: the one the question names, else the one the customer
    # named lately, else the one the bot was last talking about.
    values: dict[str, str] = {}
    if conv.customer_name:
        values["customer_name"] = conv.customer_name
    state = conv.state or {}
    remembered = state.get("order_number")
    numbers = [*question.order_numbers, *(n for f in found for n in f.order_numbers)]
    if isinstance(remembered, str) and remembered:
        numbers.append(remembered)
    returned: dict[str, str] = {}
    if numbers:
        order_values, returned = _order_values(session, principal, numbers[0])
        values.update(order_values)
    if question.serials:
        values["serial"] = question.serials[0]
    sku_codes = [m.code for m in question.skus] + [str(c) for c in reversed(state.get("skus") or [])]
    details: dict[str, SkuDetailOut] = {}
    for code in dict.fromkeys(sku_codes):
        try:
            details[code] = catalog_service.get_sku_detail(session, code)
        except DomainError:
            continue
        break
    for detail in details.values():
        values.update(_sku_values(detail, question.attributes))
    out: list[SuggestionOut] = []
    if published is not None and proba is not None:
        channel_kind = ""
        try:
            channel_kind = channels_service.get_channel(session, conv.channel_code).kind
        except NotFound:
            channel_kind = ""
        row = proba[index]
        for label_index in row.argsort()[::-1]:
            if len(out) >= SUGGESTIONS:
                break
            sub = published.kb.get(published.classifier.labels[int(label_index)])
            if sub is None or not for_a_person(sub):
                continue
            answer = published.kb.answer_for(
                sub.code, channel_code=conv.channel_code, channel_kind=channel_kind, scene=conv.scene
            )
            if answer is None:
                continue
            text, missing = _fill(
                answer.text, _return_values(values, returned) if sub.action in RETURN_ACTIONS else values
            )
            out.append(
                SuggestionOut(
                    kind="answer",
                    text=text,
                    subintent_code=sub.code,
                    subintent_name=sub.name,
                    subintent_name_en=sub.name_en,
                    confidence=round(float(row[int(label_index)]), 4),
                    missing=missing,
                    cards=[dict(c) for c in answer.cards],
                    links=[dict(link) for link in answer.links],
                )
            )
    for mention in question.skus[:PRODUCT_SUGGESTIONS]:
        try:
            detail = details.get(mention.code) or catalog_service.get_sku_detail(session, mention.code)
        except DomainError:
            continue
        out.append(
            SuggestionOut(
                kind="product",
                text=_product_text(detail),
                sku_code=detail.code,
                confidence=round(float(mention.score), 4),
                cards=[
                    {
                        "sku": detail.code,
                        "name": detail.name,
                        "price_fen": detail.sale_price_fen,
                        "currency": detail.currency,
                    }
                ],
            )
        )
    # Ready to send first (a stable sort keeps the model's order within each group).
    return sorted(out, key=lambda s: bool(s.missing))
