"""The WeChat/WeCom-style webhook: URL verification, signed XML messages answered by the bot in a
passive reply, a retried MsgId answered once, non-text messages, what an agent wrote travelling
with the next reply, and every unsigned, badly signed or replayed call refused with 401."""

from __future__ import annotations

import hashlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import SYSTEM
from tests.integration.service.test_agent_desk import build_desk, login, small_kb
from zhongtai.db import Database
from zhongtai.service import kb, wecom
from zhongtai.service.models import Conversation, ConversationMessage

TOKEN = "wecomToken2026"
HOOK = "/api/v1/service/wecom"


def signed(token: str = TOKEN, *, age_s: int = 0, nonce: str = "n0nce") -> dict[str, str]:
    timestamp = str(int(time.time()) - age_s)
    digest = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode(), usedforsecurity=False).hexdigest()
    return {"signature": digest, "timestamp": timestamp, "nonce": nonce}


def text_message(content: str, *, sender: str = "oUser-openid-1", msg_id: str = "1001", kind: str = "text") -> bytes:
    return (
        "<xml><ToUserName><![CDATA[gh_shop]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def reply_of(resp: httpx.Response) -> dict[str, str]:
    root = ET.fromstring(resp.content)  # noqa: S314 - our own server's reply
    return {child.tag: (child.text or "") for child in root}


@pytest.fixture
def hooked(db: Database) -> None:
    build_desk(db)
    with db.transaction() as s:
        kb.update_settings(s, SYSTEM, "web", {"webhook_token": TOKEN})


# ---------------------------------------------------------------- the signature


def test_url_verification_echoes_when_signed_with_the_channels_token(client: TestClient, hooked: None) -> None:
    resp = client.get(f"{HOOK}/web?{urlencode({**signed(), 'echostr': 'hello-4242'})}")
    assert resp.status_code == 200
    assert resp.text == "hello-4242"


# Each case builds its query when the test runs (a timestamp computed at collection would age).
UNSIGNED_CASES: dict[str, Callable[[], dict[str, str]]] = {
    "unsigned": lambda: {},
    "bad signature": lambda: {**signed(), "signature": "0" * 40},
    "another token": lambda: signed("someoneElsesToken"),
    "replayed": lambda: signed(age_s=301),
    "from the future": lambda: signed(age_s=-400),
    "not a timestamp": lambda: {**signed(), "timestamp": "yesterday"},
}


@pytest.mark.parametrize("case", list(UNSIGNED_CASES))
def test_unsigned_badly_signed_or_replayed_calls_get_401(client: TestClient, hooked: None, case: str) -> None:
    query = UNSIGNED_CASES[case]()
    for resp in (
        client.get(f"{HOOK}/web?{urlencode({**query, 'echostr': 'x'})}"),
        client.post(f"{HOOK}/web?{urlencode(query)}", content=text_message("你好")),
    ):
        assert resp.status_code == 401, case
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] == "unauthenticated"


def test_a_channel_without_a_webhook_token_refuses_every_call(client: TestClient, hooked: None) -> None:
    resp = client.post(f"{HOOK}/jd?{urlencode(signed(''))}", content=text_message("你好"))
    assert resp.status_code == 401
    assert resp.json()["code"] == "unauthenticated"


def test_replay_window_is_five_minutes(db: Database, hooked: None) -> None:
    with db.transaction(write=False) as s:
        fresh = signed(age_s=299)
        wecom.verify(s, "web", signature_=fresh["signature"], timestamp=fresh["timestamp"], nonce=fresh["nonce"])


# ---------------------------------------------------------------- messages


def test_a_text_message_gets_the_bots_answer_and_a_retry_gets_the_same_one(
    client: TestClient, db: Database, hooked: None
) -> None:
    # Given a published knowledge base whose shipping answer has a web-shop variant
    small_kb(db)

    # When the platform posts a customer's question
    resp = client.post(f"{HOOK}/web?{urlencode(signed())}", content=text_message("请问几天能发货", msg_id="m-1"))

    # Then the passive reply, addressed back to the customer, carries the web-shop answer
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/xml")
    first = reply_of(resp)
    assert (first["ToUserName"], first["FromUserName"], first["MsgType"]) == ("oUser-openid-1", "gh_shop", "text")
    assert "官网订单 24 小时内发货" in first["Content"]

    # When the platform retries the same MsgId (it got no answer in time)
    again = reply_of(
        client.post(f"{HOOK}/web?{urlencode(signed())}", content=text_message("请问几天能发货", msg_id="m-1"))
    )

    # Then the reply is the same and the question was stored and answered once
    assert again["Content"] == first["Content"]
    with db.transaction(write=False) as s:
        conv = s.scalar(select(Conversation).where(Conversation.customer_ref == "oUser-openid-1"))
        assert conv is not None
        assert conv.channel_code == "web"
        customer = s.scalar(
            select(func.count()).where(
                ConversationMessage.conversation_id == conv.id, ConversationMessage.sender == "customer"
            )
        )
        assert customer == 1

    # And the customer's next message continues the same conversation
    client.post(f"{HOOK}/web?{urlencode(signed())}", content=text_message("能开发票吗", msg_id="m-2"))
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Conversation)) == 1


def test_non_text_messages_get_a_polite_text_reply(client: TestClient, hooked: None) -> None:
    resp = client.post(f"{HOOK}/web?{urlencode(signed())}", content=text_message("", kind="image", msg_id="img-1"))
    assert resp.status_code == 200
    assert reply_of(resp)["Content"] == wecom.NON_TEXT_REPLY


def test_what_the_agent_wrote_travels_with_the_next_reply(client: TestClient, db: Database, hooked: None) -> None:
    # Given a webhook customer who asked for a person and an agent who answered
    small_kb(db)
    client.post(f"{HOOK}/web?{urlencode(signed())}", content=text_message("什么时候发货", msg_id="a-1"))
    with db.transaction(write=False) as s:
        public_id = s.scalar(select(Conversation.public_id))
    assert public_id is not None
    from zhongtai.service import conversations

    with db.transaction() as s:
        conversations.hand_off(s, SYSTEM, conversations.locked_conversation(s, public_id), "requested")
    headers = login(client, "xiaowang")
    assert client.post(f"/api/v1/service/agent/conversations/{public_id}/accept", headers=headers).status_code == 200
    client.post(
        f"/api/v1/service/agent/conversations/{public_id}/messages", json={"text": "您好，订单已加急"}, headers=headers
    )
    client.cookies.clear()

    # When the customer writes again (the bot does not answer: a person has the conversation)
    resp = client.post(f"{HOOK}/web?{urlencode(signed())}", content=text_message("谢谢", msg_id="a-2"))

    # Then the reply carries what happened since the customer's previous message, in order
    content = reply_of(resp)["Content"]
    assert content.index("已接入") < content.index("您好，订单已加急")
    # And a retry of that message gets exactly the same
    again = client.post(f"{HOOK}/web?{urlencode(signed())}", content=text_message("谢谢", msg_id="a-2"))
    assert reply_of(again)["Content"] == content
    # And the next message has nothing new to carry: the platform gets "success"
    resp = client.post(f"{HOOK}/web?{urlencode(signed())}", content=text_message("好的", msg_id="a-3"))
    assert resp.text == "success"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<xml><ToUserName>x</ToUserName><Encrypt><![CDATA[abc]]></Encrypt></xml>", "encrypted_not_supported"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>', None),
        (b"not xml at all", None),
    ],
)
def test_encrypted_dtd_or_broken_bodies_are_refused(
    client: TestClient, hooked: None, body: bytes, reason: str | None
) -> None:
    resp = client.post(f"{HOOK}/web?{urlencode(signed())}", content=body)
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_failed"
    if reason:
        assert resp.json()["reason"] == reason


def test_text_replies_render_cards_links_timeline_and_choices() -> None:
    from datetime import UTC, datetime

    from zhongtai.service.schemas_chat import MessageOut

    msg = MessageOut(
        id=1,
        seq=2,
        sender="bot",
        text="为您找到：",
        payload={
            "cards": [{"sku": "X1", "name": "极客手机 X1", "price_fen": 299900, "url": "https://shop.example.com/x1"}],
            "links": [{"title": "退货政策", "url": "https://shop.example.com/returns"}],
            "order": {"number": "ZT261111ABCD2345", "status_text": "已发货", "total": "¥2,999.00"},
            "timeline": [{"at": "2026-11-11T02:00:00+00:00", "text": "已发货"}],
            "quick_replies": ["查物流", {"label": "转人工", "text": "转人工"}],
        },
        created_at=datetime.now(UTC),
    )
    assert wecom.message_text(msg).splitlines() == [
        "为您找到：",
        "· 极客手机 X1 ¥2,999.00 https://shop.example.com/x1",
        "· 退货政策 https://shop.example.com/returns",
        "订单 ZT261111ABCD2345 · 已发货 · ¥2,999.00",
        "  2026-11-11 10:00 已发货",
        "您可以回复：查物流 / 转人工",
    ]
    long = wecom.reply_text([msg.model_copy(update={"text": "很长" * 2000, "payload": {}})])
    assert len(long.encode()) <= wecom.MAX_REPLY_BYTES
