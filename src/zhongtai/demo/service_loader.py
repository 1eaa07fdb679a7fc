"""Loads the demo's customer service: the knowledge base, the channels' settings, and six weeks of
conversations played through the real bot.

1. The general knowledge packs shipped in ``zhongtai/service/packs`` go into the draft and are
   published (the intent model is trained on them and on the catalog).
2. Settings: the default row (gold members are VIPs who reach a person first, a one-minute SLA),
   a webhook token for the mini-program and a ``chat_widget`` key for the web shop (neither is
   printed: the console shows and creates them).
3. ``gather_facts`` reads what customers ask about through the services: the SKUs with their
   parameters and accessories, the orders of the last eight weeks with their lines, serial
   numbers, returns and return eligibility, and the members who placed them with the phone the
   member center finds them by.
4. ``service_data.plan_history`` plans the conversations; each is played with backdated times:
   ``conversations.start`` and ``customer_message`` (the bot answers, asks, clarifies or hands
   off, exactly as live), then either the customer closes it (resolved by the bot, sometimes
   rated) or walks away, or an agent of the demo (``cs``, now and then ``ops``) accepts it from
   the queue, answers and closes it, and the customer rates. The agent writes what a person
   would: the plan's reply about the order, unit or product the customer named (a customer who
   only asked for a person is asked what they need, and tells), else the agent desk's best
   suggestion that is complete; never a knowledge-base text with a ``{placeholder}`` left in it.
   A few of today's conversations are left waiting in the queue for the agent desk.

Every write goes through the service verbs (the audit log and the messages are what a live load
would write); the demo never touches ``service.models``.
"""

from __future__ import annotations

import random
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from zhongtai.auth import service as auth_service
from zhongtai.auth.permissions import Role
from zhongtai.auth.principal import Principal
from zhongtai.catalog import service as catalog_service
from zhongtai.demo.service_data import (
    Facts,
    MemberFact,
    OrderFact,
    PlannedConversation,
    ReturnFact,
    SkuFact,
    param_text,
    plan_history,
)
from zhongtai.errors import DomainError
from zhongtai.members import identity
from zhongtai.members.identifiers import parse_identifiers
from zhongtai.orders import service as orders_service
from zhongtai.service import agents, conversations, kb

# Orders of the last eight weeks the facts keep: every one still open, a sample of the others.
FACT_DAYS = 56
MAX_FACT_ORDERS = {"small": 500, "full": 900}
VIP_TIERS = ["gold"]
SLA_WAIT_S = 60
WIDGET_KEY_NAME = "官网在线客服挂件 web shop chat widget"
# Who answers the queue in the demo: the customer-service agent mostly, operations at peaks.
AGENT_USERS = (("cs", 0.8), ("ops", 0.2))
# A demo agent sends the desk's suggestion when the model is at least this sure of it; otherwise
# one of the holding replies (the agent goes to find out).
DESK_CONFIDENCE = 0.3
HOLDING_REPLIES = (
    "您好，让您久等了，这个问题我需要跟相关同事确认一下，稍后给您回复。",
    "您好，您的问题我记下了，核实清楚后马上回复您，请稍等。",
)
# A knowledge-base placeholder: never in what a person sends.
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")

Progress = Callable[[int], None]


@dataclass(slots=True)
class ServiceLoad:
    kb_version: int = 0
    subintents: int = 0
    conversations: int = 0
    messages: int = 0
    self_resolved: int = 0
    handed_off: int = 0
    agent_closed: int = 0
    abandoned: int = 0
    queued_open: int = 0
    rated: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "service_kb_version": self.kb_version,
            "service_subintents": self.subintents,
            "service_conversations": self.conversations,
            "service_messages": self.messages,
            "service_self_resolved": self.self_resolved,
            "service_handed_off": self.handed_off,
            "service_agent_closed": self.agent_closed,
            "service_abandoned": self.abandoned,
            "service_queued": self.queued_open,
            "service_rated": self.rated,
            "service_failed": len(self.failed),
        }


# ================================================================ facts


def _phone_of_member(session: Session, member_id: int, phone: str) -> bool:
    """Whether the member center finds ``member_id`` by ``phone`` (a store phone typed for many
    customers is quarantined, a family's shared phone points at two people: both are useless)."""
    if not phone:
        return False
    idents, problems = parse_identifiers([("phone", phone, "")])
    if problems or not idents:
        return False
    found = identity.member_by_identifiers(session, idents)
    return found is not None and found.id == member_id


def sku_facts(session: Session) -> tuple[dict[str, SkuFact], dict[str, tuple[str, str]]]:
    """Every SKU with its product's parameters and its accessories, and the attribute labels."""
    attributes = {d.code: (d.name, d.unit or "") for d in catalog_service.list_attribute_defs(session)}
    out: dict[str, SkuFact] = {}
    cursor = None
    while True:
        page = catalog_service.list_skus(session, cursor=cursor, limit=200)
        for s in page.items:
            detail = catalog_service.get_sku_detail(session, s.code)
            params = {p.code: param_text(p.value) for p in detail.parameters if p.value not in (None, "")}
            model = params.get("model", "")
            out[s.code] = SkuFact(
                code=s.code,
                name=s.name,
                spu_code=s.spu_code,
                spu_name=s.spu_name,
                model=model,
                category=s.category_code,
                lifecycle=s.lifecycle,
                serial_tracked=s.serial_tracked,
                price_fen=s.sale_price_fen,
                params=params,
                accessories=tuple(a.code for a in detail.accessories),
                brand=s.brand_name or "",
                spu_lifecycle=detail.spu_lifecycle,
            )
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return out, attributes


def gather_facts(
    session: Session,
    actor: Principal,
    *,
    now: datetime,
    days: int = FACT_DAYS,
    max_orders: int = 1_500,
    seed: int = 0,
) -> Facts:
    """What the demo's customers can ask about, read through the services (see the module doc)."""
    skus, attributes = sku_facts(session)
    summaries = []
    cursor = None
    while True:
        page = orders_service.list_orders(
            session, actor, placed_from=now - timedelta(days=days), cursor=cursor, limit=200
        )
        summaries.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    # Open orders are few and every one is interesting; finished ones are many: a sample.
    rng = random.Random(seed)
    open_ = [s for s in summaries if s.status != "completed"]
    done = [s for s in summaries if s.status == "completed"]
    keep = max(0, max_orders - len(open_))
    chosen = open_ + (rng.sample(done, keep) if len(done) > keep else done)
    orders: list[OrderFact] = []
    members: dict[int, MemberFact] = {}
    checked: dict[int, bool] = {}
    for summary in sorted(chosen, key=lambda s: s.number):
        o = orders_service.get_order(session, actor, summary.number)
        member_id = o.buyer.member_id
        phone = o.buyer.phone or o.address.phone
        if member_id is not None and member_id not in checked:
            brief = identity.member_brief(session, member_id)
            ok = brief is not None and brief.id == member_id and _phone_of_member(session, member_id, phone)
            checked[member_id] = ok
            if ok and brief is not None:
                members[member_id] = MemberFact(id=member_id, name=brief.name, phone=phone, tier=brief.tier)
        if member_id is not None and not checked.get(member_id, False):
            member_id = None  # not findable by phone: the order stays, anonymous
        serials = tuple((fl.sku_code, serial) for f in o.fulfilments for fl in f.lines for serial in fl.serials)
        shipped = [f for f in o.fulfilments if f.tracking_no]
        returns = tuple(ReturnFact(r.number, r.status) for r in orders_service.order_returns(session, actor, o.number))
        returnable = False
        if o.status in ("shipped", "delivered", "completed", "partially_shipped"):
            returnable = orders_service.return_eligibility(session, actor, o.number).eligible
        orders.append(
            OrderFact(
                number=o.number,
                channel_code=o.channel_code,
                status=o.status,
                payment_status=o.payment_status,
                member_id=member_id,
                placed_at=o.placed_at,
                delivered_at=o.delivered_at,
                sku_codes=tuple(ln.sku_code for ln in o.lines),
                serials=serials,
                returns=returns,
                returnable=returnable,
                carrier=shipped[0].carrier if shipped else "",
                tracking=shipped[0].tracking_no if shipped else "",
            )
        )
    return Facts(skus=skus, orders=orders, members=members, attributes=attributes)


# ================================================================ knowledge base and settings


def load_knowledge(session: Session, actor: Principal) -> tuple[int, int]:
    """The general packs into the draft, then published: (version, sub-intents)."""
    kb.load_packs(session, actor)
    published = kb.publish(session, actor, note="演示数据 demo: general packs and the catalog")
    return published.version, published.subintents


def configure_channels(session: Session, actor: Principal) -> None:
    """Default hand-off rules, the mini-program's webhook token and the web shop's widget key."""
    kb.update_settings(session, actor, "", {"vip_tiers": VIP_TIERS, "sla_wait_s": SLA_WAIT_S})
    kb.update_settings(session, actor, "miniapp", {"webhook_token": secrets.token_hex(16)})
    auth_service.create_api_key(session, actor, name=WIDGET_KEY_NAME, role=Role.CHAT_WIDGET.value, channel_code="web")


# ================================================================ playing the plan


class _Player:
    def __init__(self, session: Session, actor: Principal, agent_pool: Sequence[tuple[Principal, float]], seed: int):
        self.session = session
        self.actor = actor
        self.agents = [a for a, _ in agent_pool]
        self.weights = [w for _, w in agent_pool]
        self.rng = random.Random(seed)
        self.load = ServiceLoad()

    def _status(self, public_id: str) -> str:
        return conversations.get_conversation(self.session, self.actor, public_id, token=None).status

    def _desk_reply(self, agent: Principal, public_id: str) -> str:
        """What a demo agent answers when the plan leaves it to the desk: the best suggestion
        that is complete (no placeholder left to fill) and likely enough, else a holding reply."""
        for suggestion in agents.suggestions(self.session, agent, public_id):
            if (
                suggestion.kind == "answer"
                and not suggestion.missing
                and (suggestion.confidence or 0.0) >= DESK_CONFIDENCE
                and not PLACEHOLDER.search(suggestion.text)
            ):
                return suggestion.text
        return self.rng.choice(HOLDING_REPLIES)

    def play(self, plan: PlannedConversation) -> None:
        s, actor, load = self.session, self.actor, self.load
        at = plan.started_at
        started = conversations.start(
            s,
            actor,
            channel_code=plan.channel_code,
            customer_ref=plan.customer_ref,
            customer_name=plan.customer_name,
            member_id=plan.member.id if plan.member is not None else None,
            now=at,
        )
        pid = started.public_id
        load.conversations += 1
        load.messages += len(started.messages)
        for text, gap in zip(plan.texts, plan.gaps, strict=True):
            at += timedelta(seconds=gap)
            load.messages += 1 + len(conversations.customer_message(s, actor, pid, text, token=None, now=at))
        status = self._status(pid)
        if status == "bot" and plan.leave_open:
            at += timedelta(seconds=20)
            load.messages += 1 + len(conversations.customer_message(s, actor, pid, "转人工", token=None, now=at))
            status = self._status(pid)
        if status == "queued":
            load.handed_off += 1
            if plan.leave_open:
                load.queued_open += 1
                return
            agent = self.rng.choices(self.agents, self.weights)[0]
            at += timedelta(seconds=plan.accept_after_s)
            agents.accept(s, agent, pid, now=at)
            at += timedelta(seconds=self.rng.randint(20, 90))
            agents.agent_message(s, agent, pid, plan.agent_reply or self._desk_reply(agent, pid), now=at)
            load.messages += 2
            if plan.follow_up:
                at += timedelta(seconds=self.rng.randint(10, 60))
                conversations.customer_message(s, actor, pid, plan.follow_up, token=None, now=at)
                at += timedelta(seconds=self.rng.randint(30, 120))
                agents.agent_message(s, agent, pid, plan.follow_up_reply or self._desk_reply(agent, pid), now=at)
                load.messages += 2
            at += timedelta(seconds=self.rng.randint(15, 120))
            conversations.customer_message(
                s, actor, pid, self.rng.choice(("好的，谢谢", "好", "行吧", "谢谢")), token=None, now=at
            )
            at += timedelta(seconds=self.rng.randint(10, 60))
            agents.close_by_agent(s, agent, pid, now=at)
            load.messages += 2
            load.agent_closed += 1
        elif status == "bot":
            at += timedelta(seconds=self.rng.randint(30, 300))
            if plan.abandon:
                conversations.close(s, actor, pid, token=None, resolution="abandoned", now=at + timedelta(minutes=30))
                load.abandoned += 1
                return
            conversations.close(s, actor, pid, token=None, resolution="self", now=at)
            load.self_resolved += 1
        else:  # an agent has it already (cannot happen in a fresh load): leave it
            return
        if plan.rating is not None:
            conversations.rate(
                s, actor, pid, token=None, score=plan.rating, comment=plan.comment, now=at + timedelta(seconds=20)
            )
            load.rated += 1


def _agent_principals(session: Session) -> list[tuple[Principal, float]]:
    wanted = dict(AGENT_USERS)
    out = []
    cursor = None
    while True:
        page = auth_service.list_users(session, cursor=cursor, limit=200)
        for user in page.items:
            if user.username in wanted and user.is_active:
                out.append((auth_service.user_principal(session, user), wanted[user.username]))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    if not out:  # the demo's users were replaced by an administrator's: any agent will do
        raise RuntimeError("the demo has no customer-service agent (user cs or ops)")
    return out


def _no_progress(n: int) -> None:
    return None


def load_service(
    session: Session,
    actor: Principal,
    *,
    seed: int,
    scale: str,
    now: datetime,
    advance: Progress | None = None,
    total: Callable[[int], None] | None = None,
) -> ServiceLoad:
    """Knowledge base, settings and conversation history (see the module doc)."""
    timer = time.perf_counter()
    step: Progress = advance if advance is not None else _no_progress
    version, subintents = load_knowledge(session, actor)
    configure_channels(session, actor)
    knowledge_s = time.perf_counter() - timer
    facts = gather_facts(session, actor, now=now, max_orders=MAX_FACT_ORDERS.get(scale, 700), seed=seed)
    plans, skipped = plan_history(facts, seed=seed, scale=scale, now=now)
    facts_s = time.perf_counter() - timer - knowledge_s
    if total is not None:
        total(len(plans))
    player = _Player(session, actor, _agent_principals(session), seed)
    player.load.kb_version = version
    player.load.subintents = subintents
    player.load.skipped = skipped
    for plan in plans:
        try:
            with session.begin_nested():
                player.play(plan)
        except DomainError as exc:  # a conversation the services refused: reported, not fatal
            player.load.failed.append(f"{plan.template} {plan.key}: {exc}")
        step(1)
    player.load.seconds = {
        "knowledge": round(knowledge_s, 2),
        "facts": round(facts_s, 2),
        "conversations": round(time.perf_counter() - timer - knowledge_s - facts_s, 2),
    }
    return player.load


def outcome_counts(plans: Sequence[PlannedConversation]) -> Counter[str]:
    """Planned conversations by category (for the loader's summary and the tests)."""
    return Counter(p.category for p in plans)
