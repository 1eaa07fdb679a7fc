"""The WeChat / WeCom-style webhook: the platform posts a customer's message as XML, the bot's
answer goes back in the same HTTP response (a "passive reply").

Authentication is the platform's signature, not an API key: ``signature = sha1(sorted(token,
timestamp, nonce) joined)``, the token being the channel's ``ServiceSettings.webhook_token``.
A call without a valid signature, or with a timestamp more than five minutes away from now (a
replay), is refused with 401. Only plain-text mode is implemented: an encrypted ("safe mode",
AES) message is refused with a clear error.

The sender (``FromUserName``, the customer's openid) is the conversation's ``customer_ref``: the
customer's open conversation on the channel continues, or a new one starts. ``MsgId`` is the
message's ``external_id``: the platform retries a message it got no answer to within 5 s, and a
retry gets the reply the first delivery got, never a second answer. Cards, links, quick replies
and an order timeline become text lines. A passive reply is the only way back to the customer
here (the platform's outbound customer-service API needs credentials this adapter does not hold),
so what an agent wrote since the customer's previous message travels with the next reply.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.channels import service as channels_service
from zhongtai.db import utcnow
from zhongtai.errors import NotFound, Unauthenticated, ValidationFailed, invalid
from zhongtai.money import Money
from zhongtai.service import conversation_repository as conversation_repo
from zhongtai.service import conversations
from zhongtai.service.schemas_chat import MessageOut

REPLAY_WINDOW_S = 300
MAX_BODY_BYTES = 64 * 1024
# The platforms cap a text message at 2048 bytes of UTF-8.
MAX_REPLY_BYTES = 2000
NON_TEXT_REPLY = "抱歉，我目前只能看懂文字消息。请用文字描述您的问题，或发送订单号，我马上为您查询～"
CHINA = ZoneInfo("Asia/Shanghai")
EMPTY_REPLY = "success"  # what the platforms expect when there is nothing to say


@dataclass(frozen=True, slots=True)
class Incoming:
    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    content: str = ""
    msg_id: str = ""
    event: str = ""


def signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode(), usedforsecurity=False).hexdigest()


def webhook_principal(channel_code: str) -> Principal:
    """Who acts for a webhook message: the channel's own integration (trusted on its channel only)."""
    return Principal(
        kind="system", id=None, name=f"wecom:{channel_code}", role=Role.INTEGRATOR, channel_code=channel_code
    )


def verify(
    session: Session, channel_code: str, *, signature_: str, timestamp: str, nonce: str, now: float | None = None
) -> None:
    """Raises Unauthenticated unless the call is signed with the channel's webhook token and fresh."""
    from zhongtai.service import kb

    if not signature_ or not timestamp or not nonce:
        raise Unauthenticated("sign the call: signature, timestamp and nonce query parameters")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise Unauthenticated("timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > REPLAY_WINDOW_S:
        raise Unauthenticated("timestamp too far from now (a replayed call?)", extra={"reason": "stale_timestamp"})
    token = kb.settings_for(session, channel_code).webhook_token
    if not token:
        raise Unauthenticated(f"no webhook token is set for channel {channel_code}")
    if not hmac.compare_digest(signature(token, timestamp, nonce), signature_.lower()):
        raise Unauthenticated("bad signature", extra={"reason": "bad_signature"})


def _text(root: ET.Element, tag: str) -> str:
    node = root.find(tag)
    return (node.text or "").strip() if node is not None else ""


def parse(body: bytes) -> Incoming:
    """The platform's XML message. A document with a DTD is refused (no entity expansion, no
    external entities), as is an encrypted one."""
    if len(body) > MAX_BODY_BYTES:
        raise invalid(("body", "too_large", f"at most {MAX_BODY_BYTES} bytes"))
    head = body[:2048].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in body.upper():
        raise invalid(("body", "dtd_not_allowed", "XML with a DTD is not accepted"))
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTD possible here (checked above)
    except ET.ParseError as exc:
        raise invalid(("body", "invalid_xml", f"not XML: {exc}")) from None
    if root.find("Encrypt") is not None:
        raise ValidationFailed(
            "encrypted (AES safe mode) messages are not supported: switch the callback to plain-text mode",
            extra={"reason": "encrypted_not_supported"},
        )
    problems = []
    from_user = _text(root, "FromUserName")
    to_user = _text(root, "ToUserName")
    msg_type = _text(root, "MsgType").lower()
    if not from_user:
        problems.append(("body.FromUserName", "missing", "FromUserName is required"))
    if len(from_user) > 128:
        problems.append(("body.FromUserName", "too_long", "at most 128 characters"))
    if not msg_type:
        problems.append(("body.MsgType", "missing", "MsgType is required"))
    raw_time = _text(root, "CreateTime")
    create_time = int(raw_time) if raw_time.isdigit() else 0
    msg_id = _text(root, "MsgId")
    if len(msg_id) > 128:
        problems.append(("body.MsgId", "too_long", "at most 128 characters"))
    if problems:
        raise invalid(*problems)
    return Incoming(
        to_user=to_user,
        from_user=from_user,
        create_time=create_time,
        msg_type=msg_type,
        content=_text(root, "Content"),
        msg_id=msg_id,
        event=_text(root, "Event").lower(),
    )


# ---------------------------------------------------------------- the reply as text


def _price(card: Mapping[str, Any]) -> str:
    fen = card.get("price_fen", card.get("sale_price_fen"))
    if isinstance(fen, int) and not isinstance(fen, bool):
        return Money(fen, str(card.get("currency") or "CNY")).format()
    price = card.get("price")
    return str(price) if price not in (None, "") else ""


def _label(item: Any) -> str:
    if isinstance(item, Mapping):
        return str(item.get("label") or item.get("text") or item.get("title") or "")
    return str(item)


def local_time(value: str) -> str:
    """An ISO time from a payload as the customer reads it (China time), minutes precision."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value[:16].replace("T", " ")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(CHINA)
    return parsed.strftime("%Y-%m-%d %H:%M")


def message_text(msg: MessageOut) -> str:
    """One message for a text-only channel: its text, then its cards, links, timeline and choices."""
    payload = msg.payload or {}
    lines = [msg.text.strip()] if msg.text.strip() else []
    for card in payload.get("cards") or ():
        if isinstance(card, Mapping):
            parts = [str(card.get("name") or card.get("title") or card.get("sku") or ""), _price(card)]
            url = str(card.get("url") or "")
            lines.append("· " + " ".join(p for p in [*parts, url] if p))
    for link in payload.get("links") or ():
        if isinstance(link, Mapping) and link.get("url"):
            lines.append(f"· {link.get('title') or ''} {link['url']}".replace("·  ", "· "))
    order = payload.get("order")
    if isinstance(order, Mapping) and order.get("number"):
        parts = [str(order.get("number")), str(order.get("status_text") or ""), str(order.get("total") or "")]
        lines.append("订单 " + " · ".join(p for p in parts if p))
    for step in payload.get("timeline") or ():
        if isinstance(step, Mapping):
            when = local_time(str(step.get("at") or step.get("time") or ""))
            what = str(step.get("text") or step.get("label") or step.get("message") or step.get("status") or "")
            lines.append(f"  {when} {what}".rstrip())
    choices = [c for c in (_label(q) for q in payload.get("quick_replies") or ()) if c]
    if choices:
        lines.append("您可以回复：" + " / ".join(choices))
    if payload.get("survey"):
        lines.append("请回复 1-5 为本次服务打分（5 分最满意）。")
    return "\n".join(line for line in lines if line)


def reply_text(messages: Sequence[MessageOut]) -> str:
    text = "\n\n".join(t for t in (message_text(m) for m in messages) if t)
    data = text.encode()
    if len(data) <= MAX_REPLY_BYTES:
        return text
    return data[: MAX_REPLY_BYTES - 3].decode(errors="ignore") + "…"


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def reply_xml(incoming: Incoming, content: str, *, now: float | None = None) -> str:
    created = int(time.time() if now is None else now)
    return (
        "<xml>"
        f"<ToUserName>{_cdata(incoming.from_user)}</ToUserName>"
        f"<FromUserName>{_cdata(incoming.to_user)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        f"<MsgType>{_cdata('text')}</MsgType>"
        f"<Content>{_cdata(content)}</Content>"
        "</xml>"
    )


# ---------------------------------------------------------------- handling a message


def _undelivered(session: Session, public_id: str, external_id: str | None) -> list[MessageOut]:
    """What an agent (or the desk) said between the customer's previous message and this one: a
    passive reply is the only way it reaches the customer. Depends only on the stored messages, so
    a retried delivery gets the same reply."""
    conv = conversation_repo.by_public_id(session, public_id)
    if conv is None:
        return []
    between = conversation_repo.staff_messages_before(session, conv.id, external_id)
    return [conversations.message_out(m) for m in between if m.text.strip()]


def handle(session: Session, channel_code: str, incoming: Incoming, *, now: datetime | None = None) -> str:
    """The passive reply (XML) to one verified message, or ``success`` when there is nothing to say."""
    at = now or utcnow()
    try:
        channels_service.get_channel(session, channel_code)
    except NotFound:
        raise NotFound(f"channel {channel_code} not found", extra={"entity": "channel", "key": channel_code}) from None
    actor = webhook_principal(channel_code)
    if incoming.msg_type == "event":
        if incoming.event in ("subscribe", "enter_agent"):
            from zhongtai.service import kb

            welcome = kb.settings_for(session, channel_code).welcome or conversations.DEFAULT_WELCOME
            return reply_xml(incoming, welcome, now=at.timestamp())
        return EMPTY_REPLY
    if incoming.msg_type != "text":
        return reply_xml(incoming, NON_TEXT_REPLY, now=at.timestamp())
    if not incoming.content.strip():
        return EMPTY_REPLY
    started = conversations.start(session, actor, channel_code=channel_code, customer_ref=incoming.from_user, now=at)
    external_id = incoming.msg_id or None
    replies = conversations.customer_message(
        session,
        actor,
        started.public_id,
        incoming.content[: conversations.MAX_TEXT],
        token=None,
        external_id=external_id,
        now=at,
    )
    content = reply_text([*_undelivered(session, started.public_id, external_id), *replies])
    return reply_xml(incoming, content, now=at.timestamp()) if content else EMPTY_REPLY
