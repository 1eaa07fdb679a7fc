"""The member center in the console (会员中心): member search, the user card (会员卡), the merge
review queue (合并审核) and tag rules (标签规则).

Personal values arrive masked from ``members.cards`` for a role without ``pii:read``; a role with
it sees them in full and each view is audited there. Every verb is a CSRF-protected form that
calls one function of the member center as the logged-in person; a refused verb rolls back and
shows the page again with the problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from zhongtai.auth.permissions import Perm
from zhongtai.channels import service as channels_service
from zhongtai.errors import Conflict, DomainError, NotFound, ValidationFailed, from_pydantic
from zhongtai.members import cards, identity, stats, tags
from zhongtai.members.schemas_cards import MemberCardOut, ReviewEvidenceOut, ReviewPairOut
from zhongtai.members.schemas_engagement import TagRuleIn
from zhongtai.web import charts, formatting
from zhongtai.web.page import Console, ConsoleForm, PageContext, form_fields, render, safe_next, with_done

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 30
REVIEW_PAGE = 10
CONDITION_ROWS = 6
REVIEW_STATUSES = ("pending", "merged", "rejected", "obsolete")
MATCH_REASONS = (
    "phone",
    "phone_last4",
    "code",
    "id",
    "card",
    "email",
    "unionid",
    "openid",
    "jd_pin",
    "tmall_uid",
    "device",
    "name",
)
ID_KINDS = ("phone", "email", "unionid", "openid", "card", "jd_pin", "tmall_uid", "device")
MERGE_KINDS = ("merge", "unmerge", "quarantine", "erase")
MERGE_REASONS = ("deterministic", "probabilistic", "manual", "guard")
MEMBER_STATUSES = ("active", "merged", "erased")
EVIDENCE_LEVELS = ("exact", "similar", "different", "missing")
COMPARED = ("name", "birthday", "gender", "city", "address", "postcode")
CONSENT_CHANNELS = ("sms", "wechat", "email", "phone", "app_push")
POINTS_KINDS = ("earn", "redeem", "expire", "clawback", "adjust", "reverse")
GUIDE_REASONS = ("enrolled", "manual", "reassigned", "merged")
GENDERS = ("female", "male", "other")
DONE = (
    "tag_added",
    "tag_removed",
    "unmerged",
    "approved",
    "rejected",
    "rule_created",
    "rule_updated",
    "rule_deleted",
    "evaluated",
)
OP_SYMBOLS = {"==": "=", "!=": "≠", ">": ">", ">=": "≥", "<": "<", "<=": "≤", "in": "∈", "contains": "∋"}
OP_KEYS = {"==": "eq", "!=": "ne", ">": "gt", ">=": "ge", "<": "lt", "<=": "le", "in": "in", "contains": "contains"}
LIST_SPLIT = re.compile(r"[\s,，、;；]+")
# Tier badges by rank: the higher the tier, the warmer the colour.
TIER_COLOURS = ("#64748b", "#0ea5e9", "#f59e0b", "#8b5cf6", "#e8432e", "#0f172a")


# ================================================================ small helpers


def zh_en(ctx: PageContext, zh: str, en: str) -> str:
    return (en or zh) if ctx.locale == "en" else (zh or en)


def segment_name(ctx: PageContext, code: str) -> str:
    seg = stats.SEGMENTS.get(code)
    return zh_en(ctx, seg.name_zh, seg.name_en) if seg else code


def gender_key(value: str) -> str:
    """Genders as sources write them (F, M, 女, male …) -> female | male | other | ""."""
    v = value.strip().lower()
    if v in ("f", "female", "女", "w", "woman"):
        return "female"
    if v in ("m", "male", "男", "man"):
        return "male"
    return "other" if v else ""


def channel_names(ctx: PageContext) -> dict[str, str]:
    return {c.code: ctx.name_of(c) for c in channels_service.list_channels(ctx.session)}


def channel_colours(codes: Iterable[str]) -> dict[str, str]:
    """One colour per channel, the same on the badges and in the chart: by code, so stable."""
    known = sorted(set(codes))
    return {code: charts.PALETTE[i % len(charts.PALETTE)] for i, code in enumerate(known)}


def tier_colours(ctx: PageContext) -> dict[str, str]:
    return {
        code: TIER_COLOURS[min(i, len(TIER_COLOURS) - 1)]
        for i, (code, _, _) in enumerate(cards.tier_names(ctx.session))
    }


def _done(value: str) -> str:
    return value if value in DONE else ""


@dataclass(frozen=True, slots=True)
class Problem:
    label: str
    text: str


@dataclass
class Failure:
    """A refused verb, shown at the top of the page it came from."""

    form: str
    error: DomainError
    values: dict[str, str]
    problems: list[Problem]

    @property
    def key(self) -> str:
        return "invalid" if self.error.status == 422 else "conflict"


def _failure(ctx: PageContext, form: str, error: DomainError, values: dict[str, str]) -> Failure:
    # The refused verb may have written part of itself: none of it stays.
    ctx.session.rollback()
    problems = []
    for p in error.errors:
        parts = p.field.split(".")
        name = parts[-1]
        label = ctx.t(f"members.field.{name}") if ctx.t.has(f"members.field.{name}") else name
        if len(parts) >= 3 and parts[-2].isdigit():
            label = ctx.t("members.rules.condition_n", n=int(parts[-2]) + 1) + " · " + label
        problems.append(Problem(label, p.message))
    return Failure(form, error, values, problems)


async def _act(
    ctx: PageContext,
    form_id: str,
    done: str,
    back: str,
    verb: Callable[[dict[str, str]], object],
    on_failure: Callable[[Failure], Response],
) -> Response:
    """Runs ``verb`` with the form; success goes back with ``done``, a refusal re-renders the page."""
    values = await form_fields(ctx)
    target = safe_next(values.get("back")) if values.get("back") else back
    try:
        verb(values)
    except (ValidationFailed, Conflict, NotFound) as error:
        return on_failure(_failure(ctx, form_id, error, values))
    return RedirectResponse(with_done(target, done), status_code=303)


# ================================================================ search


def _donut(ctx: PageContext, rows: Sequence[tuple[str, int]], label: Callable[[str], str], title: str) -> str:
    return charts.donut_chart(
        [charts.Datum(label(k) if k else ctx.t("members.none_value"), v) for k, v in rows],
        title=title,
        width=460,
        height=220,
        center_label=ctx.t("members.people"),
        # The eight RFM segments all get their own slice.
        max_slices=8,
        other_label=ctx.t("members.other"),
        empty_message=ctx.t("members.chart_empty"),
    )


@router.get("/members")
def member_search(
    ctx: Console,
    q: Annotated[str, Query(max_length=64)] = "",
    cursor: str | None = None,
) -> Response:
    ctx.require(Perm.MEMBERS_READ)
    text = q.strip()
    # An empty box lists no one: personal data is shown for a person looked for, not browsed.
    page = cards.search(ctx.session, ctx.principal, text, cursor=cursor, limit=PAGE_SIZE) if text else None
    overview = cards.overview(ctx.session) if not text else None
    tiers = {code: zh_en(ctx, zh, en) for code, zh, en in cards.tier_names(ctx.session)}
    charts_html = {}
    if overview is not None:
        charts_html = {
            "tier": _donut(ctx, overview.by_tier, lambda k: tiers.get(k, k), ctx.t("members.by_tier")),
            "segment": _donut(ctx, overview.by_segment, lambda k: segment_name(ctx, k), ctx.t("members.by_segment")),
        }
    names = channel_names(ctx)
    return render(
        ctx,
        "members/search.html",
        q=text,
        members=page.items if page else [],
        next_cursor=page.next_cursor if page else None,
        overview=overview,
        charts=charts_html,
        tiers=tiers,
        tier_colours=tier_colours(ctx),
        channel_names=names,
        channel_colours=channel_colours(names),
        segment_name=lambda code: segment_name(ctx, code),
    )


# ================================================================ the merge review queue


def _review_page(
    ctx: PageContext,
    *,
    status: str,
    cursor: str | None,
    failure: Failure | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    status = status if status in REVIEW_STATUSES else "pending"
    page = cards.review_pairs(ctx.session, ctx.principal, status=status, cursor=cursor, limit=REVIEW_PAGE)
    names = channel_names(ctx)
    return render(
        ctx,
        "members/review.html",
        status_code=status_code,
        pairs=page.items,
        next_cursor=page.next_cursor,
        status=status,
        statuses=REVIEW_STATUSES,
        pending=cards.pending_reviews(ctx.session),
        channel_names=names,
        channel_colours=channel_colours(names),
        rows=_review_rows,
        compared=COMPARED,
        gender_key=gender_key,
        can_manage=ctx.can(Perm.MEMBERS_MANAGE),
        failure=failure,
        done=_done(done),
        masked=not ctx.can(Perm.PII_READ),
    )


def _review_rows(pair: ReviewPairOut) -> list[tuple[str, ReviewEvidenceOut | None]]:
    """The compared attributes in a fixed order (those either side has), then whatever else the
    matcher explained."""
    by_attr = {e.attribute: e for e in pair.evidence}
    rows: list[tuple[str, ReviewEvidenceOut | None]] = []
    for attr in COMPARED:
        ev = by_attr.pop(attr, None)
        if ev is not None or getattr(pair.a, attr) or getattr(pair.b, attr):
            rows.append((attr, ev))
    rows += sorted(by_attr.items())
    return rows


@router.get("/members/review")
def review_queue(
    ctx: Console,
    status: Annotated[str, Query(max_length=16)] = "pending",
    cursor: str | None = None,
    done: str = "",
) -> Response:
    ctx.require(Perm.MEMBERS_READ)
    return _review_page(ctx, status=status, cursor=cursor, done=done)


async def _decide(ctx: PageContext, candidate_id: int, approve: bool) -> Response:
    ctx.require(Perm.MEMBERS_MANAGE)
    return await _act(
        ctx,
        f"review:{candidate_id}",
        "approved" if approve else "rejected",
        "/members/review",
        lambda _: identity.decide_candidate(ctx.session, ctx.principal, candidate_id, approve=approve),
        lambda failure: _review_page(
            ctx, status="pending", cursor=None, failure=failure, status_code=failure.error.status
        ),
    )


@router.post("/members/review/{candidate_id}/approve")
async def approve_pair(candidate_id: int, ctx: ConsoleForm) -> Response:
    return await _decide(ctx, candidate_id, True)


@router.post("/members/review/{candidate_id}/reject")
async def reject_pair(candidate_id: int, ctx: ConsoleForm) -> Response:
    return await _decide(ctx, candidate_id, False)


# ================================================================ tag rules


@dataclass(frozen=True, slots=True)
class FieldChoice:
    field: str
    kind: str
    name: str
    ops: list[str]
    money: bool


def _fields(ctx: PageContext) -> list[FieldChoice]:
    """The rule fields in the page's language; money fields are typed in yuan here, so their
    names lose the "(fen)" the API's catalogue carries."""
    out = []
    for f in tags.field_catalogue():
        money = f.field.endswith("_fen")
        name = zh_en(ctx, f.name_zh, f.name_en)
        if money:
            name = re.sub(r"\s*[(（](分|fen)[)）]", "", name) + ctx.t("members.rules.in_yuan")
        out.append(FieldChoice(f.field, f.kind, name, f.ops, money))
    return out


def _show_value(ctx: PageContext, field: str, kind: str, value: Any, names: dict[str, str]) -> str:
    if isinstance(value, list):
        return ctx.t("members.rules.list_sep").join(_show_value(ctx, field, kind, v, names) for v in value)
    if isinstance(value, bool):
        return ctx.t("common.yes") if value else ctx.t("common.no")
    if field.endswith("_fen") and isinstance(value, int):
        return formatting.money(value)
    if kind == "segment":
        return segment_name(ctx, str(value))
    if kind == "channel":
        return names.get(str(value), str(value))
    if kind == "month" and value == tags.CURRENT_MONTH:
        return ctx.t("members.rules.current_month")
    return str(value)


def describe(ctx: PageContext, conditions: Sequence[dict[str, Any]], names: dict[str, str]) -> list[str]:
    """Each condition as a short sentence: 近12个月消费(分) ≥ ¥5,000.00."""
    fields = {f.field: f for f in _fields(ctx)}
    out = []
    for c in conditions:
        f = fields.get(str(c.get("field")))
        label = f.name.removesuffix(ctx.t("members.rules.in_yuan")) if f else str(c.get("field"))
        value = _show_value(ctx, str(c.get("field")), f.kind if f else "", c.get("value"), names)
        out.append(f"{label} {OP_SYMBOLS.get(str(c.get('op')), c.get('op'))} {value}")
    return out


def _form_value(c: dict[str, Any]) -> str:
    """A stored condition value as the form shows it (money in yuan, lists comma-separated)."""
    value = c.get("value")
    if isinstance(value, list):
        return ", ".join(_form_value({**c, "value": v}) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if str(c.get("field", "")).endswith("_fen") and isinstance(value, int):
        return str(Decimal(value) / 100).rstrip("0").rstrip(".") if value % 100 else str(value // 100)
    return "" if value is None else str(value)


def _parse_one(kind: str, money: bool, text: str) -> Any:
    text = text.strip()
    if money:
        try:
            return int((Decimal(text) * 100).to_integral_value())
        except InvalidOperation:
            return text
    if kind in ("int", "month"):
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "y", "是", "真"):
            return True
        if lowered in ("false", "0", "no", "n", "否", "假"):
            return False
    return text


def conditions_from_form(ctx: PageContext, form: dict[str, str]) -> list[dict[str, Any]]:
    """Condition rows ``field_i`` / ``op_i`` / ``value_i``; a row without a field is left out.
    Money fields are typed in yuan; ``in`` takes a comma-separated list."""
    fields = {f.field: f for f in _fields(ctx)}
    rows = sorted({int(k.removeprefix("field_")) for k in form if re.fullmatch(r"field_\d+", k)})
    out = []
    for i in rows:
        name = form.get(f"field_{i}", "").strip()
        if not name:
            continue
        op = form.get(f"op_{i}", "").strip()
        raw = form.get(f"value_{i}", "")
        spec = fields.get(name)
        kind, money = (spec.kind, spec.money) if spec else ("str", False)
        value: Any
        if op == "in":
            value = [_parse_one(kind, money, v) for v in LIST_SPLIT.split(raw.strip()) if v]
        else:
            value = _parse_one(kind, money, raw)
        out.append({"field": name, "op": op, "value": value})
    return out


def _rule_rows(conditions: Sequence[dict[str, Any]], values: dict[str, str] | None) -> list[tuple[str, str, str]]:
    """(field, op, value) for each row of the form: what was sent, else the rule's, then blanks."""
    if values is not None:
        n = max([int(k.removeprefix("field_")) + 1 for k in values if re.fullmatch(r"field_\d+", k)] + [0])
        rows = [
            (values.get(f"field_{i}", ""), values.get(f"op_{i}", ""), values.get(f"value_{i}", "")) for i in range(n)
        ]
    else:
        rows = [(str(c.get("field", "")), str(c.get("op", "")), _form_value(c)) for c in conditions]
    return rows + [("", "", "")] * max(1, CONDITION_ROWS - len(rows))


def _rules_page(
    ctx: PageContext, *, failure: Failure | None = None, done: str = "", status_code: int = 200
) -> Response:
    rules = tags.list_rules(ctx.session)
    names = channel_names(ctx)
    return render(
        ctx,
        "members/tag_rules.html",
        status_code=status_code,
        rules=rules,
        described={r.code: describe(ctx, r.conditions, names) for r in rules},
        most=max([r.members_count for r in rules] + [1]),
        can_manage=ctx.can(Perm.MEMBERS_MANAGE),
        failure=failure,
        done=_done(done),
        rule_name=lambda r: zh_en(ctx, r.name_zh, r.name_en),
    )


def _rule_form(
    ctx: PageContext,
    code: str | None,
    *,
    failure: Failure | None = None,
    status_code: int = 200,
) -> Response:
    rule = None
    if code is not None:
        rule = next((r for r in tags.list_rules(ctx.session) if r.code == code), None)
        if rule is None:
            raise NotFound(f"tag rule {code} not found", extra={"entity": "tag rule", "key": code})
    values = failure.values if failure else None
    names = channel_names(ctx)
    return render(
        ctx,
        "members/tag_rule_form.html",
        status_code=status_code,
        rule=rule,
        fields=_fields(ctx),
        ops=tags.OPS,
        op_symbols=OP_SYMBOLS,
        op_keys=OP_KEYS,
        rows=_rule_rows(rule.conditions if rule else [], values),
        values=values or {},
        described=describe(ctx, rule.conditions, names) if rule else [],
        segments=[(s.code, zh_en(ctx, s.name_zh, s.name_en)) for s in stats.SEGMENTS.values()],
        channels=sorted(names.items()),
        can_manage=ctx.can(Perm.MEMBERS_MANAGE),
        failure=failure,
    )


def _parse_rule(ctx: PageContext, form: dict[str, str], code: str) -> TagRuleIn:
    try:
        return TagRuleIn.model_validate(
            {
                "code": code,
                "name_zh": form.get("name_zh", "").strip(),
                "name_en": form.get("name_en", "").strip(),
                "conditions": conditions_from_form(ctx, form),
                "active": form.get("active") in ("1", "on", "true"),
            }
        )
    except ValidationError as exc:
        raise from_pydantic(exc) from None


@router.get("/members/tag-rules")
def tag_rules(ctx: Console, done: str = "") -> Response:
    ctx.require(Perm.MEMBERS_READ)
    return _rules_page(ctx, done=done)


@router.get("/members/tag-rules/new")
def new_tag_rule(ctx: Console) -> Response:
    ctx.require(Perm.MEMBERS_MANAGE)
    return _rule_form(ctx, None)


@router.post("/members/tag-rules/evaluate")
async def evaluate_tag_rules(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.MEMBERS_MANAGE)
    return await _act(
        ctx,
        "evaluate",
        "evaluated",
        "/members/tag-rules",
        lambda _: tags.evaluate_rules(ctx.session, datetime.now(UTC)),
        lambda failure: _rules_page(ctx, failure=failure, status_code=failure.error.status),
    )


@router.post("/members/tag-rules")
async def create_tag_rule(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.MEMBERS_MANAGE)

    def verb(form: dict[str, str]) -> None:
        body = _parse_rule(ctx, form, form.get("code", "").strip())
        tags.create_rule(
            ctx.session,
            ctx.principal,
            code=body.code,
            name_zh=body.name_zh,
            name_en=body.name_en,
            conditions=body.conditions,
            active=body.active,
        )

    return await _act(
        ctx,
        "rule",
        "rule_created",
        "/members/tag-rules",
        verb,
        lambda failure: _rule_form(ctx, None, failure=failure, status_code=failure.error.status),
    )


@router.get("/members/tag-rules/{code}")
def edit_tag_rule(code: str, ctx: Console) -> Response:
    ctx.require(Perm.MEMBERS_READ)
    return _rule_form(ctx, code)


@router.post("/members/tag-rules/{code}")
async def update_tag_rule(code: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.MEMBERS_MANAGE)

    def verb(form: dict[str, str]) -> None:
        body = _parse_rule(ctx, form, code)
        tags.update_rule(
            ctx.session,
            ctx.principal,
            code,
            name_zh=body.name_zh,
            name_en=body.name_en,
            conditions=body.conditions,
            active=body.active,
        )

    return await _act(
        ctx,
        "rule",
        "rule_updated",
        "/members/tag-rules",
        verb,
        lambda failure: _rule_form(ctx, code, failure=failure, status_code=failure.error.status),
    )


@router.post("/members/tag-rules/{code}/delete")
async def delete_tag_rule(code: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.MEMBERS_MANAGE)
    return await _act(
        ctx,
        "delete",
        "rule_deleted",
        "/members/tag-rules",
        lambda _: tags.delete_rule(ctx.session, ctx.principal, code),
        lambda failure: _rule_form(ctx, code, failure=failure, status_code=failure.error.status),
    )


# ================================================================ the user card


MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_label(ctx: PageContext, key: str) -> str:
    """2026-03 -> 3月 / Mar (the chart spans twelve months: the year is in its hint)."""
    month = int(key[5:7])
    return f"{month}月" if ctx.t.is_zh else MONTHS_EN[month - 1]


def spend_chart(ctx: PageContext, card: MemberCardOut, names: dict[str, str], colours: dict[str, str]) -> str:
    """Paid per month over the last twelve, stacked by channel."""
    months = cards.month_keys(datetime.now(UTC), ctx.settings.default_timezone)
    cells = {(m.month, m.channel_code): m.spend_fen for m in card.spend_by_month}
    used = sorted(
        {m.channel_code for m in card.spend_by_month}, key=lambda c: -sum(v for (_, ch), v in cells.items() if ch == c)
    )
    series = [charts.Series(names.get(c, c), [cells.get((m, c), 0) for m in months], colours.get(c)) for c in used]
    return charts.stacked_bar_chart(
        [month_label(ctx, m) for m in months],
        series,
        title=ctx.t("members.card.spend_chart"),
        width=640,
        height=210,
        value_format=lambda v: formatting.money_compact(int(v), "CNY", ctx.locale),
        empty_message=ctx.t("members.card.no_spend"),
    )


def _card_page(
    ctx: PageContext, key: str, *, failure: Failure | None = None, done: str = "", status_code: int = 200
) -> Response:
    card = cards.card(ctx.session, ctx.principal, key, tz=ctx.settings.default_timezone)
    names = channel_names(ctx)
    colours = channel_colours(set(names) | {c.code for c in card.channels} | {i.channel for i in card.identities})
    # The identity graph by channel: the channel the identifier was first seen on.
    groups: dict[str, list[Any]] = {}
    for ident in sorted(card.identities, key=lambda i: (ID_KINDS.index(i.kind) if i.kind in ID_KINDS else 99, i.id)):
        groups.setdefault(ident.channel, []).append(ident)
    channel_stats = {c.code: c for c in card.channels}
    order = sorted(groups, key=lambda c: (-(channel_stats[c].orders if c in channel_stats else 0), c or "~"))
    missing = [c.code for c in card.channels if c.code not in groups]
    p = card.points
    progress = 0
    if p.next_tier and p.spend_to_next_fen:
        reached = p.spend_12m_fen
        progress = max(2, min(100, round(100 * reached / (reached + p.spend_to_next_fen)))) if reached > 0 else 0
    elif p.next_tier:
        progress = 100
    return render(
        ctx,
        "members/card.html",
        status_code=status_code,
        card=card,
        channel_names=names,
        channel_colours=colours,
        groups=[(c, groups[c]) for c in order],
        order_only_channels=missing,
        channel_stats=channel_stats,
        chart=spend_chart(ctx, card, names, colours),
        tier_colours=tier_colours(ctx),
        segment=segment_name(ctx, card.rfm.segment) if card.rfm.segment else "",
        tier_progress=progress,
        can_write=ctx.can(Perm.MEMBERS_WRITE) and card.status == "active",
        can_manage=ctx.can(Perm.MEMBERS_MANAGE),
        failure=failure,
        done=_done(done),
        now=datetime.now(UTC),
        zh_en=lambda zh, en: zh_en(ctx, zh, en),
        gender_key=gender_key,
    )


@router.get("/members/{key}")
def member_card(key: str, ctx: Console, done: str = "") -> Response:
    ctx.require(Perm.MEMBERS_READ)
    return _card_page(ctx, key, done=done)


async def _card_verb(
    ctx: PageContext, key: str, form_id: str, done: str, verb: Callable[[int, dict[str, str]], object]
) -> Response:
    member_id, code = cards.member_ref(ctx.session, key)
    return await _act(
        ctx,
        form_id,
        done,
        f"/members/{code}",
        lambda form: verb(member_id, form),
        lambda failure: _card_page(ctx, code, failure=failure, status_code=failure.error.status),
    )


@router.post("/members/{key}/tags")
async def add_tag(key: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.MEMBERS_WRITE)
    return await _card_verb(
        ctx,
        key,
        "tag",
        "tag_added",
        lambda mid, form: tags.add_tag(ctx.session, ctx.principal, mid, form.get("tag", "")),
    )


@router.post("/members/{key}/tags/remove")
async def remove_tag(key: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.MEMBERS_WRITE)
    return await _card_verb(
        ctx,
        key,
        "untag",
        "tag_removed",
        lambda mid, form: tags.remove_tag(ctx.session, ctx.principal, mid, form.get("tag", "")),
    )


@router.post("/members/{key}/merges/{event_id}/unmerge")
async def unmerge(key: str, event_id: int, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.MEMBERS_MANAGE)
    return await _card_verb(
        ctx,
        key,
        f"unmerge:{event_id}",
        "unmerged",
        lambda _mid, _form: identity.unmerge(ctx.session, ctx.principal, event_id),
    )


def member_value_keys() -> dict[str, Sequence[str]]:
    """Every family of values the member pages translate by name (a test checks both catalogs)."""
    return {
        "members.match": MATCH_REASONS,
        "members.kind": ID_KINDS,
        "members.merge_kind": MERGE_KINDS,
        "members.merge_reason": MERGE_REASONS,
        "members.status": MEMBER_STATUSES,
        "members.review_status": REVIEW_STATUSES,
        "members.level": EVIDENCE_LEVELS,
        "members.field": COMPARED,
        "members.consent": CONSENT_CHANNELS,
        "members.points_kind": POINTS_KINDS,
        "members.guide_reason": GUIDE_REASONS,
        "members.gender": GENDERS,
        "members.done": DONE,
        "members.rules.op": tuple(OP_KEYS.values()),
    }
