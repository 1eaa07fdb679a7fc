"""Customer service in the console: the agent desk (queue, conversation, member card) and the widget preview.

The desk (客服工作台) is rendered here once; ``/static/service/agent.js`` then keeps it live by
polling the agent API every 3 s with the console session (new queue entries, new messages,
suggestions for the customer's latest question) and sends the agent's verbs (accept, reply,
close, release, transfer) to the same API with the session's X-CSRF-Token header. A refused verb
(another agent was quicker: 409) shows its problem and the page reloads.

The widget preview (/service/widget) is a sample shop page of a demo SKU with the chat widget
embedded exactly as a retailer embeds it, talking to the conversation API with the console
session, plus the snippet to copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from zhongtai.auth.permissions import Perm
from zhongtai.catalog import service as catalog_service
from zhongtai.catalog.schemas import SkuDetailOut
from zhongtai.channels import service as channels_service
from zhongtai.errors import DomainError, NotFound
from zhongtai.service import agents
from zhongtai.service.schemas_agent import AgentConversationOut, QueueItemOut, SuggestionOut
from zhongtai.service.widget import embed_snippet
from zhongtai.web.page import Console, PageContext, render

router = APIRouter(include_in_schema=False)

HANDOFF_REASONS = ("low_confidence", "requested", "negative", "vip", "misses", "rule")
SENDERS = ("customer", "bot", "agent", "system")
OUTCOMES = ("answered", "slot", "clarify", "fallback", "handoff", "chitchat")
EVENTS = ("handoff", "accepted", "released", "transferred", "rating")
STATUSES = ("bot", "queued", "agent", "closed")
SAMPLE_SKUS = 50


def _labels(ctx: PageContext) -> dict[str, Any]:
    """What agent.js needs to render queue entries and bubbles in the page's language."""
    t = ctx.t
    return {
        "reason": {r: t(f"agent.reason.{r}") for r in HANDOFF_REASONS},
        "sender": {s: t(f"agent.sender.{s}") for s in SENDERS},
        "outcome": {o: t(f"agent.outcome.{o}") for o in OUTCOMES},
        "event": {e: t(f"agent.event.{e}") for e in EVENTS},
        "status": {s: t(f"agent.status.{s}") for s in STATUSES},
        "vip": t("agent.vip"),
        "visitor": t("agent.visitor"),
        "waiting": t("agent.queue.waiting"),
        "mine": t("agent.queue.mine"),
        "others": t("agent.queue.others"),
        "empty_queue": t("agent.queue.empty"),
        "wait": t("agent.wait"),
        "sla_breached": t("agent.sla_breached"),
        "minutes": t("agent.unit.minutes"),
        "seconds": t("agent.unit.seconds"),
        "with": t("agent.with"),
        "use": t("agent.suggest.use"),
        "no_suggestions": t("agent.suggest.none"),
        "missing": t("agent.suggest.missing"),
        "failed": t("agent.failed"),
        "conflict": t("agent.conflict"),
        "survey": t("agent.survey"),
        "rated": t("agent.rated"),
    }


def local_iso(ctx: PageContext) -> Callable[[str], str]:
    """An ISO time written into a message payload (an order timeline) in the console's zone."""

    def show(value: str) -> str:
        try:
            return ctx.time(datetime.fromisoformat(value))
        except ValueError:
            return value[:16].replace("T", " ")

    return show


def text_parts(text: str, missing: list[str]) -> list[tuple[str, bool]]:
    """A suggestion's text in pieces, each with whether it is a ``{placeholder}`` the agent must
    still fill (the desk marks those)."""
    if not missing:
        return [(text, False)]
    slot = re.compile("(" + "|".join(re.escape("{" + name + "}") for name in missing) + ")")
    return [(piece, bool(slot.fullmatch(piece))) for piece in slot.split(text) if piece]


def channel_names(ctx: PageContext) -> dict[str, str]:
    return {c.code: ctx.name_of(c) for c in channels_service.list_channels(ctx.session)}


def _split(
    items: list[QueueItemOut], me: int | None
) -> tuple[list[QueueItemOut], list[QueueItemOut], list[QueueItemOut]]:
    waiting = [i for i in items if i.status == "queued"]
    mine = [i for i in items if i.status == "agent" and i.assigned_user_id == me]
    others = [i for i in items if i.status == "agent" and i.assigned_user_id != me]
    return waiting, mine, others


@router.get("/service/agent", response_class=HTMLResponse)
def agent_desk(ctx: Console, c: Annotated[str | None, Query(max_length=32)] = None) -> HTMLResponse:
    ctx.require(Perm.SERVICE_AGENT)
    view = agents.queue_view(ctx.session, ctx.principal)
    me = ctx.principal.id if ctx.principal.kind == "user" else None
    waiting, mine, others = _split(view.items, me)
    selected_id = c or (mine[0].public_id if mine else (waiting[0].public_id if waiting else None))
    selected: AgentConversationOut | None = None
    suggestions: list[SuggestionOut] = []
    missing = False
    if selected_id:
        try:
            selected = agents.conversation(ctx.session, ctx.principal, selected_id)
        except NotFound:
            missing = bool(c)
        if selected is not None and selected.conversation.status != "closed":
            suggestions = agents.suggestions(ctx.session, ctx.principal, selected_id)
    transfer_targets = [a for a in agents.agents(ctx.session) if a.id != me] if selected and selected.mine else []
    last_seq = selected.conversation.messages[-1].seq if selected and selected.conversation.messages else 0
    return render(
        ctx,
        "service/agent.html",
        view=view,
        waiting=waiting,
        mine=mine,
        others=others,
        selected=selected,
        missing=missing,
        suggestions=suggestions,
        transfer_targets=transfer_targets,
        last_seq=last_seq,
        channels=channel_names(ctx),
        labels_json=json.dumps(_labels(ctx), ensure_ascii=False),
        me=me,
        local_iso=local_iso(ctx),
        text_parts=text_parts,
    )


def _sample_sku(ctx: PageContext, code: str | None) -> SkuDetailOut | None:
    """The SKU to show: the one asked for, else the on-sale SKU with the most selling points."""
    if code:
        try:
            return catalog_service.get_sku_detail(ctx.session, code)
        except DomainError:
            return None
    page = catalog_service.list_skus(ctx.session, lifecycle="on_sale", limit=SAMPLE_SKUS)
    best: SkuDetailOut | None = None
    for summary in page.items:
        detail = catalog_service.get_sku_detail(ctx.session, summary.code)
        if best is None or (len(detail.selling_points), len(detail.parameters)) > (
            len(best.selling_points),
            len(best.parameters),
        ):
            best = detail
        if len(best.selling_points) >= 3 and best.parameters:
            break
    return best


@router.get("/service/widget", response_class=HTMLResponse)
def widget_preview(
    ctx: Console,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    key: Annotated[str | None, Query(max_length=128)] = None,
) -> HTMLResponse:
    ctx.require(Perm.SERVICE_READ)
    all_channels = [c for c in channels_service.list_channels(ctx.session) if c.is_active]
    chosen = next((c for c in all_channels if c.code == channel), None)
    if chosen is None:
        chosen = next((c for c in all_channels if c.kind == "web_shop"), all_channels[0] if all_channels else None)
    product = _sample_sku(ctx, sku)
    base = str(ctx.request.base_url).rstrip("/")
    snippet = embed_snippet(base, channel_code=chosen.code if chosen else "<channel>")
    return render(
        ctx,
        "service/widget.html",
        product=product,
        sku_missing=bool(sku) and product is None,
        channel=chosen,
        channels=all_channels,
        snippet=snippet,
        key=key or "",
        can_chat=ctx.can(Perm.SERVICE_CHAT),
        can_keys=ctx.can(Perm.APIKEYS_MANAGE),
        origins=ctx.settings.service_widget_origins,
    )
