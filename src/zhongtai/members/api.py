"""Identity endpoints: enrolment, sightings, linking, merges, the review queue, PIPL."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from zhongtai.auth.permissions import Perm
from zhongtai.auth.pii import masker_for
from zhongtai.auth.principal import Principal
from zhongtai.errors import FieldProblem, NotFound, ValidationFailed
from zhongtai.http import DbSession, Paging, require
from zhongtai.inventory import service as inventory
from zhongtai.jobs import enqueue
from zhongtai.members import cards, identity, privacy
from zhongtai.members import repository as repo
from zhongtai.members.identifiers import IdentifierIn as Ident
from zhongtai.members.identifiers import parse_identifiers
from zhongtai.members.models import Member
from zhongtai.members.schemas import (
    DecisionIn,
    EnrolIn,
    EraseIn,
    IdentifierIn,
    IdentifierOut,
    LinkIn,
    MemberOut,
    MergeEventOut,
    MergeIn,
    ObservationIn,
)
from zhongtai.members.schemas_cards import ReviewPairOut
from zhongtai.pagination import PageOut

router = APIRouter(tags=["members"])

Read = Annotated[Principal, Depends(require(Perm.MEMBERS_READ))]
Write = Annotated[Principal, Depends(require(Perm.MEMBERS_WRITE))]
Manage = Annotated[Principal, Depends(require(Perm.MEMBERS_MANAGE))]


class EnrolOut(BaseModel):
    created: bool
    card_number: str
    member: MemberOut


class JobAccepted(BaseModel):
    job_id: int
    status_url: str


def _idents(items: list[IdentifierIn], field: str) -> list[Ident]:
    parsed, problems = parse_identifiers([(i.kind.value, i.value, i.app) for i in items])
    if problems:
        raise ValidationFailed(
            f"{len(problems)} invalid identifier(s)",
            errors=[FieldProblem(f"{field}.{i}.value", "invalid_identifier", msg) for i, msg in problems],
        )
    return parsed


def _out(member: Member, key: str | None = None) -> MemberOut:
    out = MemberOut.model_validate(member)
    if key is not None and key.isdigit() and int(key) != member.id:
        out.redirected_from = int(key)
    return out


@router.post("/members/enrol", response_model=EnrolOut)
def enrol(body: EnrolIn, session: DbSession, actor: Write) -> EnrolOut:
    """Registers a member by phone at the till or in the mini-program (an existing phone enrols
    the member it already belongs to), with WeChat ids and marketing consent if given."""
    items = [IdentifierIn(kind="phone", value=body.phone)]
    if body.unionid:
        items.append(IdentifierIn(kind="unionid", value=body.unionid))
    if body.openid:
        items.append(IdentifierIn(kind="openid", value=body.openid, app=body.app or "miniapp"))
    parsed, problems = parse_identifiers([(i.kind.value, i.value, i.app) for i in items])
    names = ["body.phone"] + (["body.unionid"] if body.unionid else []) + (["body.openid"] if body.openid else [])
    errors = [FieldProblem(names[i], "invalid_identifier", msg) for i, msg in problems]
    errors += [
        FieldProblem(f"body.consents.{c}", "unknown_channel", "consent channels: sms, wechat, email, phone, app_push")
        for c in body.consents
        if c not in ("sms", "wechat", "email", "phone", "app_push")
    ]
    location_id = None
    if body.location_code:
        try:
            location_id = inventory.get_location_by_code(session, body.location_code).id
        except NotFound:
            errors.append(FieldProblem("body.location_code", "unknown_location", f"no location {body.location_code}"))
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors=errors)
    result = identity.enrol(
        session,
        actor,
        phone=parsed[0],
        channel_code=body.channel_code,
        name=body.name,
        gender=body.gender,
        birthday=body.birthday,
        city=body.city,
        location_id=location_id,
        wechat=parsed[1:],
        consents=body.consents,
        guide_user_id=body.guide_user_id,
    )
    return EnrolOut(created=result.created, card_number=result.card_number, member=_out(result.member))


@router.post("/members/observations", response_model=MemberOut)
def observe(body: ObservationIn, session: DbSession, actor: Write) -> MemberOut:
    """A touchpoint saw a person (a mini-program login, a scan at the till, a marketplace account):
    returns the member the identifiers belong to, stitching or merging as needed. Idempotent per
    (source, source_ref)."""
    idents = _idents(body.identifiers, "body.identifiers")
    member = identity.observe(
        session,
        actor,
        source=body.source,
        source_ref=body.source_ref,
        identifiers=idents,
        attributes={
            "name": body.name,
            "birthday": body.birthday,
            "city": body.city,
            "address": body.address,
            "postcode": body.postcode,
        },
        channel_code=body.channel_code,
        at=body.observed_at,
    )
    return _out(member)


@router.post("/members/{key}/identifiers", response_model=MemberOut)
def link(key: str, body: LinkIn, session: DbSession, actor: Write) -> MemberOut:
    idents = _idents(body.identifiers, "body.identifiers")
    member = identity.link_identifiers(session, actor, key, idents, channel_code=body.channel_code)
    return _out(member)


@router.get("/members/{key}/identifiers", response_model=list[IdentifierOut])
def identifiers(key: str, session: DbSession, principal: Read) -> list[IdentifierOut]:
    member = repo.find_or_404(session, key)
    mask = masker_for(principal)
    out = []
    for row in identity.identifiers_of(session, member.id):
        value = row.value
        if row.kind == "phone":
            value = mask.phone(value)
        elif row.kind == "email":
            value = mask.email(value)
        out.append(
            IdentifierOut(
                id=row.id,
                kind=row.kind,
                app=row.app,
                value=value,
                status=row.status,
                source_channel=row.source_channel,
                first_seen_at=row.first_seen_at,
                last_seen_at=row.last_seen_at,
            )
        )
    return out


@router.get("/members/{key}/history", response_model=list[MergeEventOut])
def history(key: str, session: DbSession, _: Read) -> list[MergeEventOut]:
    return identity.history(session, key)


@router.post("/members/{key}/merge", response_model=MemberOut)
def merge(key: str, body: MergeIn, session: DbSession, actor: Manage) -> MemberOut:
    """Merges another member into this one (the older id survives; the other redirects)."""
    member = identity.merge(session, actor, key, body.other, reason="manual", evidence={"note": body.reason})
    return _out(member)


@router.post("/member-merges/{event_id}/undo", response_model=list[MemberOut])
def unmerge(event_id: int, session: DbSession, actor: Manage) -> list[MemberOut]:
    survivor, restored = identity.unmerge(session, actor, event_id)
    return [_out(survivor), _out(restored)]


@router.get("/member-review", response_model=PageOut[ReviewPairOut])
def review_queue(
    session: DbSession,
    principal: Manage,
    paging: Paging,
    status: Annotated[str, Query(pattern=r"^(pending|merged|rejected|obsolete)$")] = "pending",
) -> PageOut[ReviewPairOut]:
    """Pairs the matcher could not decide, most probable first, masked without pii:read (unmasked
    views are audited)."""
    page = cards.review_pairs(session, principal, status=status, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.post("/member-review/{candidate_id}", status_code=204)
def decide(candidate_id: int, body: DecisionIn, session: DbSession, actor: Manage) -> None:
    identity.decide_candidate(session, actor, candidate_id, approve=body.approve)


@router.post("/member-identifiers/{identifier_id}/quarantine", status_code=204)
def quarantine(identifier_id: int, session: DbSession, actor: Manage) -> None:
    """Marks an identifier as shared by several people: it stops linking and its member is split."""
    identity.quarantine(session, actor, identifier_id)


@router.post("/member-matching/runs", response_model=JobAccepted, status_code=202)
def run_matching(session: DbSession, actor: Manage) -> JobAccepted:
    """Runs the probabilistic matcher now, as a background job (progress on /api/v1/jobs/{id})."""
    job = enqueue(session, actor, identity.MATCH_JOB, {})
    return JobAccepted(job_id=job.id, status_url=f"/api/v1/jobs/{job.id}")


@router.get("/members/{key}/export")
def export(key: str, session: DbSession, actor: Manage) -> dict[str, Any]:
    """Everything kept about one person, unmasked (a PIPL access request; needs pii:read too). Audited."""
    actor.require(Perm.PII_READ)
    return privacy.export_member(session, actor, key)


@router.post("/members/{key}/erase", response_model=MemberOut)
def erase(key: str, body: EraseIn, session: DbSession, actor: Manage) -> MemberOut:
    """PIPL erasure: identifiers deleted, profile blanked, orders kept under a pseudonym."""
    return _out(privacy.erase_member(session, actor, key, body.reason))
