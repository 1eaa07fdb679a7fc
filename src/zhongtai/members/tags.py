"""Member tags (会员标签): automatic tags defined by rules, and manual tags.

A tag rule is a list of conditions ``{"field", "op", "value"}``, all of which must hold, over the
fields in ``FIELDS`` (order statistics, RFM, profile, points and tier, guide and consents). The
rule's code is the tag. ``evaluate_rules`` evaluates every rule over every active member at once
(one frame of all members, Polars expressions per rule) and adds and removes the rule's tags to
match; ``evaluate_member`` does the same for one member (after an order, a merge). A member who
does not have a field's value (no orders: no ``last_order_days``) does not match a condition on
it.

Manual tags are free text put on by staff and kept until removed; a manual tag may not take a
rule's code, and a rule may not take a code in use as a manual tag, so one (member, tag) is
always either one or the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.channels import service as channels_service
from zhongtai.db import utcnow
from zhongtai.errors import Conflict, FieldProblem, ValidationFailed, not_found
from zhongtai.members import repository as repo
from zhongtai.members.models import Consent, Member, MemberStats, MemberTag, TagRule
from zhongtai.members.schemas_engagement import (
    EvaluationOut,
    FieldOut,
    RuleCountOut,
    TagOut,
    TagRuleOut,
)
from zhongtai.members.stats import SEGMENTS

TZ = ZoneInfo("Asia/Shanghai")
OPS = ("==", "!=", ">", ">=", "<", "<=", "in", "contains")
MAX_IN_VALUES = 100
# The birthday_month value meaning "the month the rule is evaluated in".
CURRENT_MONTH = "current"
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class FieldSpec:
    # int | str | bool | channel | month
    kind: str
    name_zh: str
    name_en: str
    description: str


_OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "int": ("==", "!=", ">", ">=", "<", "<=", "in"),
    "month": ("==", "!=", ">", ">=", "<", "<=", "in"),
    "str": ("==", "!=", "in", "contains"),
    "segment": ("==", "!=", "in"),
    "bool": ("==", "!="),
    "channel": ("==", "!=", "in", "contains"),
}

FIELDS: dict[str, FieldSpec] = {
    "orders_count": FieldSpec("int", "订单数", "Orders", "orders from every channel, cancelled ones excluded"),
    "spend_fen": FieldSpec("int", "累计消费(分)", "Spend (fen)", "paid minus refunded, lifetime, in fen"),
    "spend_12m_fen": FieldSpec(
        "int", "近12个月消费(分)", "12-month spend (fen)", "paid minus refunded this month and the 11 before, in fen"
    ),
    "last_order_days": FieldSpec("int", "距上次下单天数", "Days since last order", "none without orders"),
    "first_order_days": FieldSpec("int", "距首次下单天数", "Days since first order", "none without orders"),
    "r_score": FieldSpec("int", "R 分", "R score", "recency 1..5 (5: most recent fifth), 0 unscored"),
    "f_score": FieldSpec("int", "F 分", "F score", "frequency 1..5, 0 unscored"),
    "m_score": FieldSpec("int", "M 分", "M score", "monetary 1..5, 0 unscored"),
    "segment": FieldSpec("segment", "RFM 分层", "RFM segment", "one of the eight RFM segment codes"),
    "tier": FieldSpec("str", "会员等级", "Tier", "the tier code"),
    "points_balance": FieldSpec("int", "积分余额", "Points balance", "points"),
    "city": FieldSpec("str", "城市", "City", "the member's city as given"),
    "channel": FieldSpec("channel", "下单渠道", "Ordered in channel", "== / contains: has ordered in the channel"),
    "channels_count": FieldSpec("int", "下单渠道数", "Channels ordered in", "distinct channels with orders"),
    "birthday_month": FieldSpec(
        "month", "生日月份", "Birthday month", f'1..12, or "{CURRENT_MONTH}": the month of the evaluation'
    ),
    "enrolled": FieldSpec("bool", "已注册", "Enrolled", "registered (not only seen in orders)"),
    "has_guide": FieldSpec("bool", "已绑定导购", "Has a guide", "bound to a guide"),
    "consent_sms": FieldSpec("bool", "同意短信营销", "SMS consent", "latest marketing consent for SMS"),
    "consent_wechat": FieldSpec("bool", "同意微信营销", "WeChat consent", "latest marketing consent for WeChat"),
}


def field_catalogue() -> list[FieldOut]:
    """The fields a rule may use, with the ops each takes (the console's rule editor)."""
    return [
        FieldOut(
            field=name,
            kind=spec.kind,
            ops=list(_OPS_BY_KIND[spec.kind]),
            name_zh=spec.name_zh,
            name_en=spec.name_en,
            description=spec.description,
        )
        for name, spec in FIELDS.items()
    ]


DEFAULT_RULES: tuple[tuple[str, str, str, list[dict[str, Any]]], ...] = (
    ("high_value", "高价值", "High value", [{"field": "spend_12m_fen", "op": ">=", "value": 500_000}]),
    ("dormant", "沉睡", "Dormant", [{"field": "last_order_days", "op": ">=", "value": 180}]),
    ("omnichannel", "多渠道", "Omnichannel", [{"field": "channels_count", "op": ">=", "value": 2}]),
    (
        "birthday_this_month",
        "生日本月",
        "Birthday this month",
        [{"field": "birthday_month", "op": "==", "value": CURRENT_MONTH}],
    ),
    ("new", "新客", "New customer", [{"field": "first_order_days", "op": "<=", "value": 30}]),
)


# ---------------------------------------------------------------- validation (pure)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _value_problem(kind: str, op: str, value: Any) -> str | None:
    """Why ``value`` does not suit a field of ``kind`` under ``op``, or None."""
    if op == "in":
        if not isinstance(value, list) or not value:
            return "a non-empty list of values"
        if len(value) > MAX_IN_VALUES:
            return f"at most {MAX_IN_VALUES} values"
        problems = [_value_problem(kind, "==", v) for v in value]
        return next((p for p in problems if p), None)
    if kind == "int":
        return None if _is_int(value) else "a whole number"
    if kind == "month":
        if value == CURRENT_MONTH and op in ("==", "!="):
            return None
        return None if _is_int(value) and 1 <= value <= 12 else f'a month 1..12 (or "{CURRENT_MONTH}" with == and !=)'
    if kind == "bool":
        return None if isinstance(value, bool) else "true or false"
    if kind == "segment":
        return None if value in SEGMENTS else f"one of {', '.join(SEGMENTS)}"
    if not isinstance(value, str) or not value.strip():
        return "a non-empty text"
    return None


def condition_problems(conditions: Sequence[Mapping[str, Any]], prefix: str = "body.conditions") -> list[FieldProblem]:
    """Every problem of every condition, named ``<prefix>.<i>.field|op|value``."""
    if not conditions:
        return [FieldProblem(prefix, "required", "a rule needs at least one condition")]
    problems: list[FieldProblem] = []
    for i, cond in enumerate(conditions):
        where = f"{prefix}.{i}"
        name, op, value = cond.get("field"), cond.get("op"), cond.get("value")
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            problems.append(FieldProblem(f"{where}.field", "unknown_field", f"one of {', '.join(FIELDS)}"))
        if op not in OPS:
            problems.append(FieldProblem(f"{where}.op", "unknown_op", f"one of {' '.join(OPS)}"))
        elif spec is not None and op not in _OPS_BY_KIND[spec.kind]:
            problems.append(
                FieldProblem(f"{where}.op", "op_not_for_field", f"{name} takes {' '.join(_OPS_BY_KIND[spec.kind])}")
            )
        elif spec is not None:
            why = _value_problem(spec.kind, op, value)
            if why:
                problems.append(FieldProblem(f"{where}.value", "invalid_value", f"{name} {op} needs {why}"))
    return problems


def _channel_codes(conditions: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for i, cond in enumerate(conditions):
        if cond.get("field") == "channel":
            values = cond.get("value")
            for v in values if isinstance(values, list) else [values]:
                if isinstance(v, str) and cond.get("op") != "contains":
                    out.append((i, v))
    return out


# ---------------------------------------------------------------- evaluation (pure)


def _resolve(kind: str, value: Any, now: datetime) -> Any:
    if kind == "month" and value == CURRENT_MONTH:
        return now.astimezone(TZ).month
    return value


def condition_expr(cond: Mapping[str, Any], now: datetime) -> pl.Expr:
    """A validated condition as a Polars expression over ``member_frame``'s columns. Null (no
    value) never matches."""
    name, op = str(cond["field"]), str(cond["op"])
    kind = FIELDS[name].kind
    value = cond.get("value")
    if kind == "channel":
        wanted = value if isinstance(value, list) else [value]
        has_any = reduce(lambda a, b: a | b, [pl.col("channels").list.contains(pl.lit(str(v))) for v in wanted])
        return ~has_any if op == "!=" else has_any
    col = pl.col(name)
    if op == "in":
        resolved = [_resolve(kind, v, now) for v in (value or [])]
        return col.is_in(resolved) & col.is_not_null()
    v = _resolve(kind, value, now)
    if op == "contains":
        return col.str.contains(str(v), literal=True)
    exprs: dict[str, pl.Expr] = {
        "==": col == v,
        "!=": col != v,
        ">": col > v,
        ">=": col >= v,
        "<": col < v,
        "<=": col <= v,
    }
    return exprs[op]


def rule_expr(conditions: Sequence[Mapping[str, Any]], now: datetime) -> pl.Expr:
    return reduce(lambda a, b: a & b, [condition_expr(c, now) for c in conditions]).fill_null(False)


def matching_ids(frame: pl.DataFrame, conditions: Sequence[Mapping[str, Any]], now: datetime) -> set[int]:
    """The member ids of ``frame`` for which every condition holds."""
    if frame.is_empty() or not conditions:
        return set()
    return set(frame.filter(rule_expr(conditions, now))["member_id"].to_list())


FRAME_SCHEMA: dict[str, Any] = {
    "member_id": pl.Int64,
    "orders_count": pl.Int64,
    "spend_fen": pl.Int64,
    "spend_12m_fen": pl.Int64,
    "first_order_at": pl.Datetime("us", "UTC"),
    "last_order_at": pl.Datetime("us", "UTC"),
    "r_score": pl.Int64,
    "f_score": pl.Int64,
    "m_score": pl.Int64,
    "segment": pl.Utf8,
    "tier": pl.Utf8,
    "points_balance": pl.Int64,
    "city": pl.Utf8,
    "channels": pl.List(pl.Utf8),
    "birthday_month": pl.Int64,
    "enrolled": pl.Boolean,
    "has_guide": pl.Boolean,
    "consent_sms": pl.Boolean,
    "consent_wechat": pl.Boolean,
}


def build_frame(rows: Iterable[Mapping[str, Any]], now: datetime) -> pl.DataFrame:
    """The evaluation frame (one row per member, a column per field) from plain rows holding the
    keys of ``FRAME_SCHEMA`` (missing keys are null)."""
    frame = pl.DataFrame(
        [{k: row.get(k) for k in FRAME_SCHEMA} for row in rows], schema=FRAME_SCHEMA, orient="row"
    ).with_columns(pl.col("channels").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))
    now_lit = pl.lit(now, dtype=pl.Datetime("us", "UTC"))
    return frame.with_columns(
        last_order_days=(now_lit - pl.col("last_order_at")).dt.total_days(),
        first_order_days=(now_lit - pl.col("first_order_at")).dt.total_days(),
        channels_count=pl.col("channels").list.len().cast(pl.Int64),
    )


# ---------------------------------------------------------------- the frame from the database


def member_frame(session: Session, now: datetime, member_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Every active member (or the given ones, if active) with every field of ``FIELDS``: one
    query for members and statistics, one for the latest SMS and WeChat consents."""
    stmt = (
        select(
            Member.id,
            Member.tier,
            Member.points_balance,
            Member.city,
            Member.birthday,
            Member.enrolled_at,
            Member.guide_user_id,
            MemberStats.orders_count,
            MemberStats.spend_fen,
            MemberStats.refunded_fen,
            MemberStats.spend_12m_fen,
            MemberStats.first_order_at,
            MemberStats.last_order_at,
            MemberStats.channels,
            MemberStats.r_score,
            MemberStats.f_score,
            MemberStats.m_score,
            MemberStats.segment,
        )
        .outerjoin(MemberStats, MemberStats.member_id == Member.id)
        .where(Member.status == "active")
    )
    if member_ids is not None:
        stmt = stmt.where(Member.id.in_(list(member_ids)))
    consents = _latest_consents(session, ("sms", "wechat"), member_ids)
    rows = []
    for r in session.execute(stmt):
        rows.append(
            {
                "member_id": r.id,
                "orders_count": r.orders_count or 0,
                "spend_fen": (r.spend_fen or 0) - (r.refunded_fen or 0),
                "spend_12m_fen": r.spend_12m_fen or 0,
                "first_order_at": r.first_order_at,
                "last_order_at": r.last_order_at,
                "r_score": r.r_score or 0,
                "f_score": r.f_score or 0,
                "m_score": r.m_score or 0,
                "segment": r.segment or "",
                "tier": r.tier,
                "points_balance": r.points_balance,
                "city": r.city,
                "channels": list(r.channels or []),
                "birthday_month": r.birthday.month if r.birthday else None,
                "enrolled": r.enrolled_at is not None,
                "has_guide": r.guide_user_id is not None,
                "consent_sms": consents.get((r.id, "sms"), False),
                "consent_wechat": consents.get((r.id, "wechat"), False),
            }
        )
    return build_frame(rows, now)


def _latest_consents(
    session: Session, channels: Sequence[str], member_ids: Sequence[int] | None
) -> dict[tuple[int, str], bool]:
    latest = select(func.max(Consent.id)).where(Consent.purpose == "marketing", Consent.channel.in_(list(channels)))
    if member_ids is not None:
        latest = latest.where(Consent.member_id.in_(list(member_ids)))
    latest = latest.group_by(Consent.member_id, Consent.channel)
    rows = session.execute(
        select(Consent.member_id, Consent.channel, Consent.granted).where(Consent.id.in_(latest.scalar_subquery()))
    )
    return {(m, c): bool(g) for m, c, g in rows}


# ---------------------------------------------------------------- rules


def _rule_or_404(session: Session, code: str) -> TagRule:
    rule = session.scalar(select(TagRule).where(TagRule.code == code))
    if rule is None:
        raise not_found("tag rule", code)
    return rule


def _plain(conditions: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for c in conditions:
        item = c.model_dump() if hasattr(c, "model_dump") else dict(c)
        out.append({"field": item.get("field"), "op": item.get("op"), "value": item.get("value")})
    return out


def _check_conditions(session: Session, conditions: list[dict[str, Any]], prefix: str) -> list[FieldProblem]:
    problems = condition_problems(conditions, prefix)
    codes = _channel_codes(conditions)
    unknown = set(channels_service.unknown_codes(session, [c for _, c in codes]))
    for i, code in codes:
        if code in unknown:
            problems.append(FieldProblem(f"{prefix}.{i}.value", "unknown_channel", f"no channel {code!r}"))
    return problems


def _snapshot(rule: TagRule) -> dict[str, Any]:
    return {"name_zh": rule.name_zh, "name_en": rule.name_en, "conditions": rule.conditions, "active": rule.active}


def create_rule(
    session: Session,
    actor: Principal,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    conditions: Sequence[Any],
    active: bool = True,
) -> TagRuleOut:
    plain = _plain(conditions)
    problems = _check_conditions(session, plain, "body.conditions")
    if session.scalar(select(TagRule.id).where(TagRule.code == code)) is not None:
        problems.insert(0, FieldProblem("body.code", "taken", f"tag rule {code!r} exists"))
    elif (manual := _manual_count(session, code)) > 0:
        problems.insert(0, FieldProblem("body.code", "manual_tag", f"{manual} members carry {code!r} as a manual tag"))
    if problems:
        raise ValidationFailed("invalid tag rule", errors=problems)
    rule = TagRule(code=code, name_zh=name_zh, name_en=name_en, conditions=plain, active=active, members_count=0)
    session.add(rule)
    session.flush()
    record(session, actor, "member.tag_rule.create", "member_tag_rule", code, after=_snapshot(rule))
    return TagRuleOut.model_validate(rule)


def update_rule(
    session: Session,
    actor: Principal,
    code: str,
    *,
    name_zh: str | None = None,
    name_en: str | None = None,
    conditions: Sequence[Any] | None = None,
    active: bool | None = None,
) -> TagRuleOut:
    """Changes a rule; its tags follow at the next evaluation (or ``POST .../evaluate``)."""
    rule = _rule_or_404(session, code)
    before = _snapshot(rule)
    if conditions is not None:
        plain = _plain(conditions)
        problems = _check_conditions(session, plain, "body.conditions")
        if problems:
            raise ValidationFailed("invalid tag rule", errors=problems)
        rule.conditions = plain
    if name_zh is not None:
        rule.name_zh = name_zh
    if name_en is not None:
        rule.name_en = name_en
    if active is not None:
        rule.active = active
    session.flush()
    record(session, actor, "member.tag_rule.update", "member_tag_rule", code, before=before, after=_snapshot(rule))
    return TagRuleOut.model_validate(rule)


def delete_rule(session: Session, actor: Principal, code: str) -> int:
    """Deletes the rule and its tags; returns how many members lost the tag."""
    rule = _rule_or_404(session, code)
    before = _snapshot(rule)
    result = session.execute(delete(MemberTag).where(MemberTag.tag == code, MemberTag.source == "rule"))
    removed = int(getattr(result, "rowcount", 0) or 0)
    session.delete(rule)
    session.flush()
    record(
        session, actor, "member.tag_rule.delete", "member_tag_rule", code, before=before, after={"untagged": removed}
    )
    return removed


def list_rules(session: Session) -> list[TagRuleOut]:
    return [TagRuleOut.model_validate(r) for r in session.scalars(select(TagRule).order_by(TagRule.code))]


def ensure_default_tag_rules(session: Session, actor: Principal | None = None) -> int:
    """Creates the default rules that are missing (高价值, 沉睡, 多渠道, 生日本月, 新客); existing rules
    with those codes are left as they are. Returns how many were created."""
    actor = actor or Principal.system("members.default-tag-rules")
    have = set(session.scalars(select(TagRule.code)))
    created = 0
    for code, name_zh, name_en, conditions in DEFAULT_RULES:
        if code not in have:
            create_rule(session, actor, code=code, name_zh=name_zh, name_en=name_en, conditions=conditions)
            created += 1
    return created


def _manual_count(session: Session, tag: str) -> int:
    return int(session.scalar(select(func.count()).where(MemberTag.tag == tag, MemberTag.source == "manual")) or 0)


# ---------------------------------------------------------------- evaluation


@dataclass(slots=True)
class _Sync:
    added: int = 0
    removed: int = 0
    members_count: int = 0
    counts: dict[str, RuleCountOut] = field(default_factory=dict)


def _sync_rule(
    session: Session, code: str, wanted: set[int], scope: Sequence[int] | None, now: datetime
) -> tuple[int, int, int]:
    """Makes the rule's tags exactly ``wanted`` (within ``scope`` members, or everywhere).
    Returns (added, removed, rule-tagged members after, within the scope)."""
    stmt = select(MemberTag.member_id, MemberTag.source).where(MemberTag.tag == code)
    if scope is not None:
        stmt = stmt.where(MemberTag.member_id.in_(list(scope)))
    have_rule: set[int] = set()
    have_manual: set[int] = set()
    for member_id, source in session.execute(stmt):
        (have_rule if source == "rule" else have_manual).add(member_id)
    to_add = sorted(wanted - have_rule - have_manual)
    to_remove = sorted(have_rule - wanted)
    for i in range(0, len(to_add), _CHUNK):
        session.execute(
            insert(MemberTag),
            [
                {"member_id": m, "tag": code, "source": "rule", "actor_name": "", "at": now}
                for m in to_add[i : i + _CHUNK]
            ],
        )
    for i in range(0, len(to_remove), _CHUNK):
        session.execute(
            delete(MemberTag).where(
                MemberTag.tag == code, MemberTag.source == "rule", MemberTag.member_id.in_(to_remove[i : i + _CHUNK])
            )
        )
    return len(to_add), len(to_remove), len(have_rule) + len(to_add) - len(to_remove)


def evaluate_rules(session: Session, now: datetime) -> EvaluationOut:
    """Evaluates every rule over every active member and adds and removes rule tags to match
    (an inactive rule's tags all go). Updates each rule's members_count and evaluated_at."""
    frame = member_frame(session, now)
    total = _Sync()
    for rule in session.scalars(select(TagRule).order_by(TagRule.code)):
        wanted = matching_ids(frame, rule.conditions, now) if rule.active else set()
        added, removed, count = _sync_rule(session, rule.code, wanted, None, now)
        rule.members_count = count
        rule.evaluated_at = now
        total.added += added
        total.removed += removed
        total.counts[rule.code] = RuleCountOut(code=rule.code, added=added, removed=removed, members_count=count)
    session.flush()
    return EvaluationOut(
        evaluated_members=frame.height,
        added=total.added,
        removed=total.removed,
        evaluated_at=now,
        rules=list(total.counts.values()),
    )


def evaluate_member(session: Session, member_id: int, now: datetime) -> tuple[int, int]:
    """Brings one member's rule tags in line with the rules now (after an order, a merge, a
    profile change). A member no longer active loses them all. Returns (added, removed)."""
    frame = member_frame(session, now, [member_id])
    added = removed = 0
    for rule in session.scalars(select(TagRule).order_by(TagRule.code)):
        wanted = matching_ids(frame, rule.conditions, now) if rule.active else set()
        a, r, _ = _sync_rule(session, rule.code, wanted, [member_id], now)
        if a or r:
            rule.members_count = max(0, rule.members_count + a - r)
        added, removed = added + a, removed + r
    session.flush()
    return added, removed


# ---------------------------------------------------------------- a member's tags


def _clean_tag(tag: str) -> str:
    cleaned = " ".join(tag.split())
    if not cleaned or len(cleaned) > 32:
        raise ValidationFailed("invalid tag", errors=[FieldProblem("body.tag", "invalid_tag", "1 to 32 characters")])
    return cleaned


def add_tag(session: Session, actor: Principal, member_id: int, tag: str) -> list[TagOut]:
    """Puts a manual tag on a member (a no-op if they have it). A rule's code is refused."""
    tag = _clean_tag(tag)
    member = repo.lock_active(session, member_id)
    if session.scalar(select(TagRule.id).where(TagRule.code == tag)) is not None:
        raise ValidationFailed(
            "a rule's tag cannot be set by hand",
            errors=[FieldProblem("body.tag", "rule_tag", f"{tag!r} is kept by its tag rule")],
        )
    exists = session.scalar(select(MemberTag.id).where(MemberTag.member_id == member.id, MemberTag.tag == tag))
    if exists is None:
        session.add(MemberTag(member_id=member.id, tag=tag, source="manual", actor_name=actor.name[:128], at=utcnow()))
        session.flush()
        record(session, actor, "member.tag.add", "member", member.id, after={"tag": tag})
    return member_tags(session, member.id)


def remove_tag(session: Session, actor: Principal, member_id: int, tag: str) -> list[TagOut]:
    """Takes a manual tag off. Rule tags follow their rule and cannot be removed by hand."""
    member = repo.lock_active(session, member_id)
    row = session.scalar(select(MemberTag).where(MemberTag.member_id == member.id, MemberTag.tag == tag.strip()))
    if row is None:
        raise not_found("tag", tag)
    if row.source == "rule":
        raise Conflict(f"{tag!r} is kept by its tag rule; change the rule instead", extra={"tag": tag})
    session.delete(row)
    session.flush()
    record(session, actor, "member.tag.remove", "member", member.id, before={"tag": row.tag})
    return member_tags(session, member.id)


def member_tags(session: Session, member_id: int) -> list[TagOut]:
    """Rule tags first (with their rule's names), then manual tags, oldest first."""
    rows = session.execute(
        select(MemberTag, TagRule.name_zh, TagRule.name_en)
        .outerjoin(TagRule, TagRule.code == MemberTag.tag)
        .where(MemberTag.member_id == member_id)
        .order_by(MemberTag.source.desc(), MemberTag.at, MemberTag.id)
    ).all()
    return [
        TagOut(
            tag=t.tag,
            source=t.source,
            name_zh=(zh if t.source == "rule" and zh else t.tag),
            name_en=(en if t.source == "rule" and en else t.tag),
            at=t.at,
            actor_name=t.actor_name,
        )
        for t, zh, en in rows
    ]


def after_merge(session: Session, survivor_id: int, absorbed_id: int) -> None:
    """After a merge: tags still on the absorbed member move to the survivor unless the survivor
    has them (then they go), and the survivor's rule tags are evaluated again. Call it after the
    survivor's statistics, points and tier are recomputed, so the rules see the merged member."""
    have = set(session.scalars(select(MemberTag.tag).where(MemberTag.member_id == survivor_id)))
    for row in list(session.scalars(select(MemberTag).where(MemberTag.member_id == absorbed_id))):
        if row.tag in have:
            session.delete(row)
        else:
            row.member_id = survivor_id
            have.add(row.tag)
    session.flush()
    now = utcnow()
    evaluate_member(session, survivor_id, now)
    evaluate_member(session, absorbed_id, now)
