"""The agent desk's API: the queue's order and SLA flags, accepting (one winner), replies only by
the assignee, close → survey → rating, release and transfer, the member card with masking, and
suggestions from the published knowledge base and the catalog. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.factories import (
    SYSTEM,
    console_login,
    key_headers,
    make_catalog_basics,
    make_catalog_sku,
    make_catalog_spu,
    make_key,
    make_user,
)
from tests.integration.service.chat_world import build_chat_world
from zhongtai.auth.models import AuditEntry
from zhongtai.db import Database, utcnow
from zhongtai.members import identity, points
from zhongtai.members.identifiers import IdentifierIn, IdKind
from zhongtai.service import agents, conversations, kb
from zhongtai.service.models import ConversationMessage

AGENT_API = "/api/v1/service/agent"


# ---------------------------------------------------------------- the world (used by the other agent tests too)


@dataclass
class Desk:
    """Two agents (cs_agent), a supervisor (ops) and an analyst; channels web and jd."""

    a: int
    b: int
    ops: int
    analyst: int


def build_desk(db: Database, *, sla_web: int = 120) -> Desk:
    make_catalog_basics(db)
    desk = Desk(
        a=make_user(db, "xiaowang", "cs_agent"),
        b=make_user(db, "xiaoli", "cs_agent"),
        ops=make_user(db, "ops1", "ops"),
        analyst=make_user(db, "ana", "analyst"),
    )
    with db.transaction() as s:
        kb.update_settings(s, SYSTEM, "web", {"sla_wait_s": sla_web})
    return desk


def open_conversation(
    db: Database,
    *,
    channel: str = "web",
    name: str = "",
    member_id: int | None = None,
    says: tuple[str, ...] = (),
) -> tuple[str, str]:
    """A conversation with the bot; returns (public_id, customer token)."""
    with db.transaction() as s:
        started = conversations.start(
            s, SYSTEM, channel_code=channel, customer_name=name, member_id=member_id, customer_ref=""
        )
    assert started.token
    return started.public_id, started.token


def queue_it(
    db: Database,
    public_id: str,
    *,
    ago_s: int = 0,
    reason: str = "requested",
    priority: int | None = None,
    says: tuple[str, ...] = (),
) -> None:
    """Hands the conversation off ``ago_s`` seconds ago; the customer then says ``says`` (stored,
    no bot: the conversation waits for a person)."""
    with db.transaction() as s:
        conv = conversations.locked_conversation(s, public_id)
        conversations.hand_off(s, SYSTEM, conv, reason, now=utcnow() - timedelta(seconds=ago_s), priority=priority)
    for text in says:
        with db.transaction() as s:
            assert conversations.customer_message(s, SYSTEM, public_id, text, token=None) == []


def login(client: TestClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    return console_login(client, username)


# ---------------------------------------------------------------- the queue


def test_queue_puts_vips_first_then_the_longest_waiting_and_flags_sla_breaches(
    client: TestClient, db: Database
) -> None:
    # Given three waiting conversations on web (SLA 120 s) and one still with the bot
    build_desk(db, sla_web=120)
    recent, _ = open_conversation(db, name="新客")
    old, _ = open_conversation(db, name="老客")
    vip, _ = open_conversation(db, name="金卡会员")
    open_conversation(db, name="机器人在聊")
    queue_it(db, recent, ago_s=30, says=("还在吗",))
    queue_it(db, old, ago_s=300, reason="low_confidence", says=("我的订单怎么还没到",))
    queue_it(db, vip, ago_s=10, reason="vip", priority=10)
    headers = login(client, "xiaowang")

    # When an agent reads the queue
    resp = client.get(f"{AGENT_API}/queue", headers=headers)

    # Then the VIP comes first, then the longest waiting; the one past 120 s is flagged
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [i["public_id"] for i in body["items"]] == [vip, old, recent]
    by_id = {i["public_id"]: i for i in body["items"]}
    assert by_id[vip]["vip"] is True
    assert by_id[old]["vip"] is False
    assert by_id[old]["sla_breached"] is True
    assert by_id[old]["wait_s"] >= 300
    assert by_id[recent]["sla_breached"] is False
    assert 30 <= by_id[recent]["wait_s"] < 120
    assert by_id[old]["sla_wait_s"] == 120
    assert by_id[old]["handoff_reason"] == "low_confidence"
    assert by_id[old]["last_message"] == "我的订单怎么还没到"
    assert body["counts"] == {"bot": 1, "queued": 3, "agent": 0, "closed": 0}
    assert body["breached"] == 1


def test_the_queue_needs_the_agent_permission(client: TestClient, db: Database) -> None:
    build_desk(db)
    assert client.get(f"{AGENT_API}/queue").status_code == 401
    analyst = key_headers(make_key(db, role="analyst"))
    resp = client.get(f"{AGENT_API}/queue", headers=analyst)
    assert resp.status_code == 403
    assert resp.json()["code"] == "permission_denied"
    assert client.get(f"{AGENT_API}/queue", headers=key_headers(make_key(db, role="cs_agent"))).status_code == 200


# ---------------------------------------------------------------- accept, reply


def test_one_agent_accepts_and_only_that_agent_replies(client: TestClient, db: Database) -> None:
    # Given a waiting conversation
    desk = build_desk(db)
    public_id, _ = open_conversation(db, name="张三")
    queue_it(db, public_id, ago_s=20, says=("人呢",))

    # When agent A accepts it
    a = login(client, "xiaowang")
    resp = client.post(f"{AGENT_API}/conversations/{public_id}/accept", headers=a)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "agent"
    joined = resp.json()["messages"][-1]
    assert joined["sender"] == "system"
    assert "已接入" in joined["text"]

    # Then it is A's: A replies; B can neither accept it nor reply
    resp = client.post(f"{AGENT_API}/conversations/{public_id}/messages", json={"text": "您好，我是小王"}, headers=a)
    assert resp.status_code == 201, resp.text
    assert resp.json()["sender"] == "agent"
    b = login(client, "xiaoli")
    resp = client.post(f"{AGENT_API}/conversations/{public_id}/accept", headers=b)
    assert resp.status_code == 409
    assert resp.json()["code"] == "conflict"
    assert resp.json()["assigned_to"] == "xiaowang"
    resp = client.post(f"{AGENT_API}/conversations/{public_id}/messages", json={"text": "我来"}, headers=b)
    assert resp.status_code == 403
    assert resp.json()["code"] == "permission_denied"
    resp = client.post(
        f"{AGENT_API}/conversations/{public_id}/messages", json={"text": "   "}, headers=login(client, "xiaowang")
    )
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["body.text"]

    # And the reply is stored with the agent's user id; the accept is in the audit log
    with db.transaction(write=False) as s:
        agent_rows = s.scalars(select(ConversationMessage).where(ConversationMessage.sender == "agent")).all()
        assert [(m.text, m.agent_user_id) for m in agent_rows] == [("您好，我是小王", desk.a)]
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "service.conversation.accepted")).all()
        assert [(e.actor_id, e.entity_id) for e in audit] == [(desk.a, public_id)]

    # And the customer sees the agent's reply in the conversation
    with db.transaction(write=False) as s:
        conv = conversations.get_conversation(s, SYSTEM, public_id, token=None)
    assert [m.text for m in conv.messages if m.sender == "agent"] == ["您好，我是小王"]


def test_a_key_cannot_take_conversations(client: TestClient, db: Database) -> None:
    build_desk(db)
    public_id, _ = open_conversation(db)
    queue_it(db, public_id)
    resp = client.post(
        f"{AGENT_API}/conversations/{public_id}/accept", headers=key_headers(make_key(db, role="cs_agent"))
    )
    assert resp.status_code == 403
    assert resp.json()["reason"] == "person_only"
    resp = client.post(f"{AGENT_API}/conversations/CNOSUCH/accept", headers=login(client, "xiaowang"))
    assert resp.status_code == 404


def test_a_conversation_with_the_bot_cannot_be_accepted(client: TestClient, db: Database) -> None:
    build_desk(db)
    public_id, _ = open_conversation(db)
    resp = client.post(f"{AGENT_API}/conversations/{public_id}/accept", headers=login(client, "xiaowang"))
    assert resp.status_code == 409
    assert resp.json()["status"] == "bot"


# ---------------------------------------------------------------- close, survey, rating


def test_closing_asks_for_a_rating_and_the_customers_rating_lands_on_the_conversation(
    client: TestClient, db: Database
) -> None:
    # Given an accepted conversation
    build_desk(db)
    public_id, token = open_conversation(db, name="李四")
    queue_it(db, public_id)
    a = login(client, "xiaowang")
    assert client.post(f"{AGENT_API}/conversations/{public_id}/accept", headers=a).status_code == 200
    assert (
        client.post(f"{AGENT_API}/conversations/{public_id}/close", headers=login(client, "xiaoli")).status_code == 403
    )

    # When its agent closes it
    resp = client.post(f"{AGENT_API}/conversations/{public_id}/close", headers=login(client, "xiaowang"))

    # Then it is closed as resolved by an agent and the last message carries the survey
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["status"], body["resolution"]) == ("closed", "agent")
    assert body["messages"][-1]["payload"]["survey"]
    # And the customer's rating (through the chat API, with the conversation's token) is kept
    widget = key_headers(make_key(db, role="chat_widget", channel_code="web"))
    resp = client.post(
        f"/api/v1/service/conversations/{public_id}/rating",
        json={"score": 5, "comment": "很快"},
        headers={**widget, "X-Conversation-Token": token},
    )
    assert resp.status_code == 200, resp.text
    resp = client.get(f"{AGENT_API}/conversations/{public_id}", headers=login(client, "xiaowang"))
    assert resp.json()["conversation"]["satisfaction"] == 5
    # And nothing more can be done to it
    assert (
        client.post(f"{AGENT_API}/conversations/{public_id}/close", headers=login(client, "xiaowang")).status_code
        == 409
    )


# ---------------------------------------------------------------- release, transfer


def test_release_keeps_the_place_in_the_queue_and_transfer_hands_over(client: TestClient, db: Database) -> None:
    desk = build_desk(db)
    public_id, _ = open_conversation(db)
    queue_it(db, public_id, ago_s=90)
    with db.transaction(write=False) as s:
        queued_at = conversations.locked_conversation(s, public_id).queued_at
    a = login(client, "xiaowang")
    client.post(f"{AGENT_API}/conversations/{public_id}/accept", headers=a)

    # Released: back in the queue with its original hand-off time
    resp = client.post(f"{AGENT_API}/conversations/{public_id}/release", json={"note": "下班"}, headers=a)
    assert resp.status_code == 200
    assert resp.json()["status"] == "queued"
    assert datetime.fromisoformat(resp.json()["queued_at"]) == queued_at
    item = client.get(f"{AGENT_API}/queue", headers=a).json()["items"][0]
    assert (item["public_id"], item["assigned_user_id"], item["wait_s"] >= 90) == (public_id, None, True)

    # Transferred: to B; an analyst is no transfer target; B replies, A no longer can
    client.post(f"{AGENT_API}/conversations/{public_id}/accept", headers=a)
    resp = client.post(f"{AGENT_API}/conversations/{public_id}/transfer", json={"user_id": desk.analyst}, headers=a)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["code"] == "not_an_agent"
    resp = client.post(f"{AGENT_API}/conversations/{public_id}/transfer", json={"user_id": desk.b}, headers=a)
    assert resp.status_code == 200, resp.text
    assert "已为您转接" in resp.json()["messages"][-1]["text"]
    assert (
        client.post(f"{AGENT_API}/conversations/{public_id}/messages", json={"text": "x"}, headers=a).status_code == 403
    )
    b = login(client, "xiaoli")
    assert (
        client.post(f"{AGENT_API}/conversations/{public_id}/messages", json={"text": "我是小李"}, headers=b).status_code
        == 201
    )
    targets = {t["username"]: t["active_conversations"] for t in client.get(f"{AGENT_API}/agents", headers=b).json()}
    assert targets["xiaoli"] == 1
    assert "ana" not in targets

    # A supervisor may release someone else's conversation; the agent who has it sees it change
    ops = login(client, "ops1")
    assert client.post(f"{AGENT_API}/conversations/{public_id}/release", headers=ops).status_code == 200
    polled = client.get(f"{AGENT_API}/conversations/{public_id}/messages?after_seq=0", headers=ops).json()
    assert polled["status"] == "queued"
    assert [m["payload"].get("event") for m in polled["messages"] if m["sender"] == "system"][-1] == "released"
    with db.transaction(write=False) as s:
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_id == public_id).order_by(AuditEntry.id)
        ).all()
    assert actions == [
        "service.conversation.accepted",
        "service.conversation.released",
        "service.conversation.accepted",
        "service.conversation.transferred",
        "service.conversation.released",
    ]


def test_polling_returns_only_the_new_messages(client: TestClient, db: Database) -> None:
    build_desk(db)
    public_id, _ = open_conversation(db)
    queue_it(db, public_id, says=("第一句", "第二句"))
    a = login(client, "xiaowang")
    everything = client.get(f"{AGENT_API}/conversations/{public_id}/messages", headers=a).json()["messages"]
    last = everything[-1]["seq"]
    with db.transaction() as s:
        conversations.customer_message(s, SYSTEM, public_id, "第三句", token=None)
    new = client.get(f"{AGENT_API}/conversations/{public_id}/messages?after_seq={last}", headers=a).json()
    assert [m["text"] for m in new["messages"]] == ["第三句"]


# ---------------------------------------------------------------- the member card beside the conversation


def test_the_conversation_shows_the_members_card_masked_without_pii(client: TestClient, db: Database) -> None:
    build_desk(db)
    with db.transaction() as s:
        points.ensure_default_tiers(s)
        member = identity.enrol(
            s,
            SYSTEM,
            phone=IdentifierIn(IdKind.PHONE, "+8613812345678"),
            channel_code="web",
            name="张伟",
            birthday=date(1990, 5, 17),
        ).member
        member_id, code = member.id, member.code
    public_id, _ = open_conversation(db, member_id=member_id)
    queue_it(db, public_id)

    # A cs_agent has pii:read: the card is unmasked (and the view is audited by the member center)
    card = client.get(f"{AGENT_API}/conversations/{public_id}", headers=login(client, "xiaowang")).json()
    assert card["member"]["code"] == code
    assert (card["member"]["name"], card["member"]["phone"], card["member"]["masked"]) == ("张伟", "13812345678", False)
    assert card["orders"] == []
    # Ops has no pii:read: masked
    card = client.get(f"{AGENT_API}/conversations/{public_id}", headers=login(client, "ops1")).json()
    assert (card["member"]["name"], card["member"]["phone"], card["member"]["masked"]) == ("张*", "138****5678", True)
    with db.transaction(write=False) as s:
        views = s.scalars(select(AuditEntry).where(AuditEntry.action == "member.pii_viewed")).all()
    assert len(views) == 1


# ---------------------------------------------------------------- suggestions


def small_kb(db: Database) -> None:
    """Three answer sub-intents; shipping has a web-shop variant and a JD one."""
    with db.transaction() as s:
        kb.create_scenario(s, SYSTEM, code="insale", name="售中")
        kb.create_intent(s, SYSTEM, scenario_code="insale", code="shipping", name="配送")
        kb.create_subintent(
            s,
            SYSTEM,
            intent_code="shipping",
            code="shipping.when",
            name="什么时候发货",
            examples=["什么时候发货", "几天能发货", "今天能发出吗", "下单后多久发货", "还没发货吗", "啥时候发货呀"],
            answers=[
                {"text": "官网订单 24 小时内发货。", "channel": "web_shop"},
                {"text": "京东订单由京东物流次日达。", "channel": "marketplace"},
                {"text": "一般 48 小时内发货。"},
            ],
        )
        kb.create_subintent(
            s,
            SYSTEM,
            intent_code="shipping",
            code="shipping.order_eta",
            name="订单预计送达",
            action="logistics",
            slots=["order_number"],
            examples=[
                "我的快递到哪了",
                "订单什么时候到",
                "物流到哪里了",
                "包裹几号能到",
                "查一下物流",
                "快递怎么还没到",
            ],
            answers=[{"text": "订单 {order_number} 预计 {eta} 送达。"}],
        )
        kb.create_scenario(s, SYSTEM, code="aftersale", name="售后")
        kb.create_intent(s, SYSTEM, scenario_code="aftersale", code="invoice", name="发票")
        kb.create_subintent(
            s,
            SYSTEM,
            intent_code="invoice",
            code="invoice.how",
            name="怎么开发票",
            examples=[
                "怎么开发票",
                "能开发票吗",
                "发票怎么开",
                "可以开专票吗",
                "电子发票在哪下载",
                "要开公司抬头的发票",
            ],
            answer_text="下单时填写发票抬头即可，电子发票在订单详情下载。",
        )
        kb.publish(s, SYSTEM, note="agent tests")


def test_suggestions_use_the_published_kb_for_the_channel_and_the_catalog_for_products(
    client: TestClient, db: Database
) -> None:
    # Given a published knowledge base and an SKU on sale
    build_desk(db)
    make_catalog_spu(db, "P1")
    make_catalog_sku(db, "X1-BLK", sale_price_fen=299_900, lifecycle="on_sale")
    small_kb(db)
    web, _ = open_conversation(db, channel="web")
    queue_it(db, web, says=("X1-BLK 这款什么时候发货啊",))
    jd, _ = open_conversation(db, channel="jd")
    queue_it(db, jd, says=("我买的东西几天能发货",))
    eta, _ = open_conversation(db)
    queue_it(db, eta, says=("订单 ZT261111ABCD2345 的快递到哪了",))
    a = login(client, "xiaowang")

    # When the agent asks for suggestions
    on_web = client.get(f"{AGENT_API}/conversations/{web}/suggestions", headers=a).json()
    on_jd = client.get(f"{AGENT_API}/conversations/{jd}/suggestions", headers=a).json()

    # Then the best sub-intent's answer is the variant of the conversation's channel kind
    assert on_web[0]["subintent_code"] == "shipping.when"
    assert on_web[0]["text"] == "官网订单 24 小时内发货。"
    assert on_jd[0]["subintent_code"] == "shipping.when"
    assert on_jd[0]["text"] == "京东订单由京东物流次日达。"
    assert len([s for s in on_web if s["kind"] == "answer"]) == 3
    # And the product the customer named comes with its card text and price
    product = [s for s in on_web if s["kind"] == "product"]
    assert [p["sku_code"] for p in product] == ["X1-BLK"]
    assert "¥2,999.00" in product[0]["text"]
    assert "长续航" in product[0]["text"]
    # And an action answer's placeholders are filled where the message tells (the order number), listed where not
    logistics = next(
        s
        for s in client.get(f"{AGENT_API}/conversations/{eta}/suggestions", headers=a).json()
        if s["subintent_code"] == "shipping.order_eta"
    )
    assert logistics["text"] == "订单 ZT261111ABCD2345 预计 {eta} 送达。"
    assert logistics["missing"] == ["eta"]


def test_no_suggestions_before_the_customer_asks_anything(client: TestClient, db: Database) -> None:
    build_desk(db)
    public_id, _ = open_conversation(db)
    queue_it(db, public_id)
    resp = client.get(f"{AGENT_API}/conversations/{public_id}/suggestions", headers=login(client, "xiaowang"))
    assert resp.status_code == 200
    assert resp.json() == []


PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def test_suggestions_answer_the_question_before_the_request_for_a_person(client: TestClient, db: Database) -> None:
    # Given the shipped knowledge packs, an agent, and a member who asked about an order, then only
    # asked for a person and greeted whoever would come
    world = build_chat_world(db)
    make_user(db, "xiaowang", "cs_agent")
    number = world.orders["routed"]
    public_id, _ = open_conversation(db, member_id=world.alice, name="王丽")
    queue_it(db, public_id, says=(f"订单{number}现在什么状态了", "转人工", "在吗"))

    # When the agent asks for suggestions
    got = client.get(f"{AGENT_API}/conversations/{public_id}/suggestions", headers=login(client, "xiaowang")).json()

    # Then nothing the bot says for itself is offered: not its hand-off, greeting or small talk
    with db.transaction() as s:
        published = kb.published(s)
        assert published is not None
        subs = [published.kb.get(g["subintent_code"]) for g in got if g["kind"] == "answer"]
    assert subs
    assert all(sub is not None and agents.for_a_person(sub) for sub in subs)
    assert all(sub is not None and sub.action not in ("handoff", "greeting") for sub in subs)
    assert not any("转接人工" in g["text"] for g in got)
    # And the first answers the order question, filled from the order center, ready to send
    first = got[0]
    assert first["subintent_code"] == "insale.order_status"
    assert first["missing"] == []
    assert number in first["text"]
    assert "已分配" in first["text"]
    assert not PLACEHOLDER.search(first["text"])
    # And complete suggestions come first; an incomplete one shows and lists what is left to fill
    flags = [bool(g["missing"]) for g in got]
    assert flags == sorted(flags)
    for g in got:
        assert {f"{{{name}}}" for name in g["missing"]} == set(PLACEHOLDER.findall(g["text"]))


def test_no_knowledge_base_suggestion_when_the_customer_only_asked_for_a_person(
    client: TestClient, db: Database
) -> None:
    # Given a customer whose only words were asking for a person
    build_chat_world(db)
    make_user(db, "xiaowang", "cs_agent")
    public_id, _ = open_conversation(db)
    queue_it(db, public_id, says=("转人工", "人工客服"))
    # When the agent asks for suggestions, then none: the bot's "transferring you" is no answer
    got = client.get(f"{AGENT_API}/conversations/{public_id}/suggestions", headers=login(client, "xiaowang")).json()
    assert got == []


def test_an_answer_whose_order_the_agent_cannot_read_stays_marked(client: TestClient, db: Database) -> None:
    # Given the small knowledge base and a question naming an order that does not exist
    build_desk(db)
    small_kb(db)
    public_id, _ = open_conversation(db)
    queue_it(db, public_id, says=("订单 ZT261111ABCD2345 的快递到哪了", "转人工"))
    got = client.get(f"{AGENT_API}/conversations/{public_id}/suggestions", headers=login(client, "xiaowang")).json()
    # Then the question before "转人工" is answered; the order number is filled, the rest is marked
    logistics = next(g for g in got if g["subintent_code"] == "shipping.order_eta")
    assert logistics["text"] == "订单 ZT261111ABCD2345 预计 {eta} 送达。"
    assert logistics["missing"] == ["eta"]
    # And ranks after the complete answers
    assert got.index(logistics) == len([g for g in got if not g["missing"]])
