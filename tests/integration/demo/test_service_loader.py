"""The demo's customer service, loaded with the small demo into a real database (SQLite, and
PostgreSQL when configured): a published knowledge base, six weeks of conversations played
through the bot, agents' work, ratings, today's queue; and the facts the benchmark fills its
scripts from, checked against the services."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select

from zhongtai.auth import service as auth_service
from zhongtai.db import Database, utcnow
from zhongtai.demo.loader import ACTOR, load_demo
from zhongtai.demo.service_data import AGENT_GREETINGS, fill_conversation
from zhongtai.demo.service_loader import HOLDING_REPLIES, gather_facts
from zhongtai.members import identity
from zhongtai.members.identifiers import parse_identifiers
from zhongtai.orders import service as orders_service
from zhongtai.service import agents, kb
from zhongtai.service.models import Conversation, ConversationMessage
from zhongtai.settings import Settings

SEED = 7
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
ORDER_NUMBER = re.compile(r"ZT\d{6}[0-9A-Z]{8}")


def test_the_small_demo_has_customer_service_history(db: Database, settings: Settings, tmp_path: Path) -> None:
    # given an empty database, when the small demo is loaded
    started = utcnow()
    buffer = io.StringIO()
    summary = load_demo(
        db,
        seed=SEED,
        scale="small",
        console=Console(file=buffer, width=160),
        settings=settings,
        credentials_path=tmp_path / "c.txt",
    )
    c = summary.counts
    # then the knowledge base is published from the packs and the catalog
    with db.transaction() as s:
        published = kb.published(s)
        assert published is not None
        assert published.version == c["service_kb_version"] == 1
        assert len(published.kb.subintents) == c["service_subintents"] >= 30
        assert kb.settings_for(s, "jd").vip_tiers == ["gold"]
        assert kb.settings_for(s, "miniapp").webhook_token  # set, never printed
        keys = auth_service.list_api_keys(s, cursor=None, limit=100).items
        assert any(k.role == "chat_widget" and k.channel_code == "web" for k in keys)

        # and the conversations were played through the bot over the last six weeks
        convs = list(s.scalars(select(Conversation)))
        assert len(convs) == c["service_conversations"] >= 60
        assert c["service_failed"] == 0
        assert min(x.started_at for x in convs) < started - timedelta(days=30)
        assert {x.channel_code for x in convs} >= {"web", "jd", "miniapp"}
        n_messages = s.scalar(select(func.count()).select_from(ConversationMessage))
        assert n_messages is not None
        assert n_messages >= 3 * len(convs)
        asked = list(s.scalars(select(ConversationMessage).where(ConversationMessage.sender == "customer")))
        outcomes = {m.outcome for m in asked}
        assert "answered" in outcomes
        assert any(m.intent for m in asked)
        # messages are backdated with their conversation, never after the load started
        assert all(m.created_at <= started for m in asked)

        # closed by the bot, by agents (who wrote to the customer) and abandoned; some rated
        by_resolution = {r: sum(1 for x in convs if x.resolution == r) for r in ("self", "agent", "abandoned")}
        assert by_resolution["self"] == c["service_self_resolved"] > len(convs) // 2
        assert by_resolution["agent"] == c["service_agent_closed"] >= 1
        agent_closed = [x for x in convs if x.resolution == "agent"]
        assert all(x.assigned_user_id is not None and x.accepted_at is not None for x in agent_closed)
        agent_msgs = s.scalar(
            select(func.count()).select_from(ConversationMessage).where(ConversationMessage.sender == "agent")
        )
        assert agent_msgs is not None
        assert agent_msgs >= len(agent_closed)
        # and what the bot and the agents wrote is finished text: no {placeholder} left unfilled
        written = list(s.scalars(select(ConversationMessage).where(ConversationMessage.sender.in_(("bot", "agent")))))
        assert [m.text for m in written if PLACEHOLDER.search(m.text)] == []
        # and the agents answered the customer: an order the customer named was looked up and
        # is in the reply that follows; not every reply is a greeting or a holding line
        canned = set(AGENT_GREETINGS) | set(HOLDING_REPLIES)
        replies = [m for m in written if m.sender == "agent"]
        assert any(m.text not in canned for m in replies)
        by_conv: dict[int, list[ConversationMessage]] = {}
        for m in s.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id.in_([x.id for x in agent_closed]))
            .order_by(ConversationMessage.seq)
        ):
            by_conv.setdefault(m.conversation_id, []).append(m)
        looked_up = 0
        for msgs in by_conv.values():
            named: list[str] = []
            for m in msgs:
                if m.sender == "customer":
                    named += ORDER_NUMBER.findall(m.text)
                elif m.sender == "agent" and named:
                    assert named[-1] in m.text, (named, m.text)
                    looked_up += 1
                    named = []
        assert looked_up >= 1
        rated = [x for x in convs if x.satisfaction is not None]
        assert len(rated) == c["service_rated"] >= 5
        assert all(1 <= x.satisfaction <= 5 for x in rated if x.satisfaction is not None)

        # and today's conversations wait in the agents' queue
        queued = [x for x in convs if x.status == "queued"]
        assert len(queued) == c["service_queued"] >= 1
        assert all(x.started_at > started - timedelta(hours=1) for x in queued)
        agent_user = next(u for u in auth_service.list_users(s, cursor=None, limit=50).items if u.username == "cs")
        waiting = agents.queue(s, auth_service.user_principal(s, agent_user))
        assert {q.public_id for q in waiting} >= {x.public_id for x in queued}
    assert "customer service: knowledge base v1" in buffer.getvalue()

    with db.transaction() as s:
        # when the benchmark gathers its facts from the loaded demo
        facts = gather_facts(s, ACTOR, now=utcnow(), max_orders=400, seed=1)
        # then every member is found by their phone, and owns the orders attributed to them
        assert len(facts.members) >= 20
        for known in list(facts.members.values())[:30]:
            idents, _ = parse_identifiers([("phone", known.phone, "")])
            found = identity.member_by_identifiers(s, idents)
            assert found is not None
            assert found.id == known.id
        with_serials = [o for o in facts.orders if o.serials and o.member_id is not None]
        assert with_serials, "serial-tracked units reached the demo's customers"
        o = with_serials[0]
        shipped = {
            sn for f in orders_service.get_order(s, ACTOR, o.number).fulfilments for ln in f.lines for sn in ln.serials
        }
        assert {sn for _sku, sn in o.serials} == shipped
        assert any(sku.params and sku.accessories for sku in facts.skus.values())
        # and a benchmark-style conversation can be filled from them, consistently
        texts, customer = fill_conversation(
            facts, ["{serial:received}", "{serial:received|order}", "{member_phone}"], seed="t"
        )
        assert customer is not None
        serial, order_number, phone = texts
        assert phone == customer.phone
        order = orders_service.get_order(s, ACTOR, order_number)
        assert order.buyer.member_id == customer.id
        assert serial in {sn for f in order.fulfilments for ln in f.lines for sn in ln.serials}
