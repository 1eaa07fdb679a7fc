"""Member engagement over HTTP: statistics, tags and tag rules, guide binding, consents.

``{key}`` is a member id or code (a merged member's id redirects to the survivor). Reads need
``members:read``; manual tags, guide binding and consents ``members:write``; tag rules and moving a
guide's members ``members:manage``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import ensure_location_access
from zhongtai.db import utcnow
from zhongtai.errors import FieldProblem, ValidationFailed
from zhongtai.http import DbSession, Paging, require
from zhongtai.inventory import service as inventory
from zhongtai.members import consents, guides, stats, tags
from zhongtai.members import repository as repo
from zhongtai.members.schemas_engagement import (
    ConsentOut,
    ConsentsIn,
    EvaluationOut,
    FieldOut,
    GuideBindingOut,
    GuideIn,
    GuideLoadOut,
    GuideMemberOut,
    MemberGuideOut,
    ReassignIn,
    ReassignOut,
    StatsOut,
    TagIn,
    TagOut,
    TagRuleIn,
    TagRuleOut,
    TagRulePatch,
)
from zhongtai.pagination import PageOut

router = APIRouter(tags=["members"])

Read = Annotated[Principal, Depends(require(Perm.MEMBERS_READ))]
Write = Annotated[Principal, Depends(require(Perm.MEMBERS_WRITE))]
Manage = Annotated[Principal, Depends(require(Perm.MEMBERS_MANAGE))]


# ---------------------------------------------------------------- statistics


@router.get("/members/{key}/stats", response_model=StatsOut)
def get_stats(key: str, session: DbSession, _: Read) -> StatsOut:
    return stats.member_stats(session, repo.find_or_404(session, key).id)


# ---------------------------------------------------------------- tags


@router.get("/members/{key}/tags", response_model=list[TagOut])
def get_tags(key: str, session: DbSession, _: Read) -> list[TagOut]:
    return tags.member_tags(session, repo.find_or_404(session, key).id)


@router.post("/members/{key}/tags", response_model=list[TagOut], status_code=201)
def add_tag(key: str, body: TagIn, session: DbSession, actor: Write) -> list[TagOut]:
    return tags.add_tag(session, actor, repo.find_or_404(session, key).id, body.tag)


@router.delete("/members/{key}/tags/{tag}", response_model=list[TagOut])
def remove_tag(key: str, tag: str, session: DbSession, actor: Write) -> list[TagOut]:
    return tags.remove_tag(session, actor, repo.find_or_404(session, key).id, tag)


@router.get("/member-tag-rules", response_model=list[TagRuleOut])
def list_rules(session: DbSession, _: Read) -> list[TagRuleOut]:
    return tags.list_rules(session)


@router.get("/member-tag-rules/fields", response_model=list[FieldOut])
def rule_fields(_: Read) -> list[FieldOut]:
    """The fields a rule's conditions may use and the ops each takes."""
    return tags.field_catalogue()


@router.post("/member-tag-rules", response_model=TagRuleOut, status_code=201)
def create_rule(body: TagRuleIn, session: DbSession, actor: Manage) -> TagRuleOut:
    return tags.create_rule(
        session,
        actor,
        code=body.code,
        name_zh=body.name_zh,
        name_en=body.name_en,
        conditions=body.conditions,
        active=body.active,
    )


@router.post("/member-tag-rules/evaluate", response_model=EvaluationOut)
def evaluate_rules(session: DbSession, _: Manage) -> EvaluationOut:
    """Evaluates every rule over every member now (the daily ``members.rfm`` schedule does it too)."""
    return tags.evaluate_rules(session, utcnow())


@router.put("/member-tag-rules/{code}", response_model=TagRuleOut)
def update_rule(code: str, body: TagRulePatch, session: DbSession, actor: Manage) -> TagRuleOut:
    return tags.update_rule(
        session,
        actor,
        code,
        name_zh=body.name_zh,
        name_en=body.name_en,
        conditions=body.conditions,
        active=body.active,
    )


@router.delete("/member-tag-rules/{code}", status_code=204)
def delete_rule(code: str, session: DbSession, actor: Manage) -> Response:
    tags.delete_rule(session, actor, code)
    return Response(status_code=204)


# ---------------------------------------------------------------- guides


@router.get("/members/{key}/guide", response_model=MemberGuideOut)
def get_guide(key: str, session: DbSession, _: Read) -> MemberGuideOut:
    return guides.current_guide(session, repo.find_or_404(session, key).id)


@router.put("/members/{key}/guide", response_model=MemberGuideOut)
def bind_guide(key: str, body: GuideIn, session: DbSession, actor: Write) -> MemberGuideOut:
    return guides.bind(session, actor, repo.find_or_404(session, key).id, body.guide_user_id)


@router.delete("/members/{key}/guide", response_model=MemberGuideOut)
def unbind_guide(key: str, session: DbSession, actor: Write) -> MemberGuideOut:
    return guides.unbind(session, actor, repo.find_or_404(session, key).id)


@router.get("/members/{key}/guide-history", response_model=list[GuideBindingOut])
def guide_history(key: str, session: DbSession, _: Read) -> list[GuideBindingOut]:
    return guides.binding_history(session, repo.find_or_404(session, key).id)


@router.get("/guides", response_model=list[GuideLoadOut])
def guide_load(
    session: DbSession, principal: Read, location: Annotated[str, Query(min_length=1, max_length=32)]
) -> list[GuideLoadOut]:
    """A store's active guides and how many members each serves, least-loaded first."""
    location_id = inventory.location_ids_by_codes(session, [location]).get(location)
    if location_id is None:
        raise ValidationFailed(
            "unknown store", errors=[FieldProblem("query.location", "unknown_location", f"no location {location!r}")]
        )
    ensure_location_access(principal, location_id)
    return guides.guide_load(session, location_id)


@router.post("/guides/{user_id}/reassign", response_model=ReassignOut)
def reassign(user_id: int, body: ReassignIn, session: DbSession, actor: Manage) -> ReassignOut:
    """Moves all of a guide's members (a guide leaving): to ``to_guide_id``, or, when null, spread
    over the store's other active guides, least-loaded first. 409 when nobody can take them."""
    return guides.reassign(session, actor, user_id, to_guide_id=body.to_guide_id)


@router.get("/guides/{user_id}/members", response_model=PageOut[GuideMemberOut])
def guide_members(user_id: int, session: DbSession, principal: Read, paging: Paging) -> PageOut[GuideMemberOut]:
    page = guides.guide_members(session, principal, user_id, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


# ---------------------------------------------------------------- consents


@router.get("/members/{key}/consents", response_model=dict[str, ConsentOut])
def get_consents(key: str, session: DbSession, _: Read) -> dict[str, ConsentOut]:
    return consents.current_consents(session, repo.find_or_404(session, key).id)


@router.put("/members/{key}/consents", response_model=dict[str, ConsentOut])
def set_consents(key: str, body: ConsentsIn, session: DbSession, actor: Write) -> dict[str, ConsentOut]:
    """Records the channels sent (``{"sms": true, "wechat": false, "source": "pos:S001"}``)."""
    member_id = repo.find_or_404(session, key).id
    answers = {c: getattr(body, c) for c in consents.CHANNELS if getattr(body, c) is not None}
    if not answers:
        raise ValidationFailed(
            "no channel", errors=[FieldProblem("body", "required", f"send one of {', '.join(consents.CHANNELS)}")]
        )
    for channel, granted in answers.items():
        consents.set_consent(
            session, actor, member_id, channel=channel, granted=granted, source=body.source, purpose=body.purpose
        )
    return consents.current_consents(session, member_id, body.purpose)


@router.get("/members/{key}/consent-history", response_model=list[ConsentOut])
def get_consent_history(key: str, session: DbSession, _: Read) -> list[ConsentOut]:
    return consents.consent_history(session, repo.find_or_404(session, key).id)
