"""Points and tiers over HTTP, mounted under /api/v1. Thin: parse, call one ``points`` function.

``{key}`` is a member id or code (``M0000000001``); a merged member's key answers for the survivor.
Reading needs ``members:read``; redeeming and voiding a redemption ``points:write`` (a channel's key
only for its own channel); manual adjustments and the tier table ``members:manage``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.http import DbSession, Paging, require
from zhongtai.jobs import enqueue
from zhongtai.members import points
from zhongtai.members import repository as repo
from zhongtai.members.points_tasks import RETIER_JOB
from zhongtai.members.schemas_points import (
    AdjustmentIn,
    PointsEntryOut,
    PointsSummaryOut,
    RedeemIn,
    ReversalIn,
    TierOut,
    TiersIn,
)
from zhongtai.pagination import PageOut

router = APIRouter(tags=["members"])

Read = Annotated[Principal, Depends(require(Perm.MEMBERS_READ))]
Spend = Annotated[Principal, Depends(require(Perm.POINTS_WRITE))]
Manage = Annotated[Principal, Depends(require(Perm.MEMBERS_MANAGE))]


@router.get("/members/{key}/points", response_model=PointsSummaryOut)
def get_points(key: str, session: DbSession, _: Read) -> PointsSummaryOut:
    return points.points_summary(session, key)


@router.get("/members/{key}/points/entries", response_model=PageOut[PointsEntryOut])
def list_points_entries(key: str, session: DbSession, _: Read, paging: Paging) -> PageOut[PointsEntryOut]:
    page = points.ledger(session, key, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=page.items, next_cursor=page.next_cursor)


@router.post("/members/{key}/points/redeem", response_model=PointsEntryOut, status_code=201)
def redeem_points(key: str, body: RedeemIn, session: DbSession, actor: Spend) -> PointsEntryOut:
    """Spends points. The same (channel_code, reference) again returns the first redemption; 409
    ``insufficient_points`` when the balance is short."""
    member = repo.find_or_404(session, key)
    entry = points.redeem(
        session,
        actor,
        member.id,
        points=body.points,
        channel_code=body.channel_code,
        reference=body.reference,
        note=body.note,
    )
    return PointsEntryOut.model_validate(entry)


@router.post("/members/{key}/points/reversals", response_model=PointsEntryOut, status_code=201)
def reverse_redemption(key: str, body: ReversalIn, session: DbSession, actor: Spend) -> PointsEntryOut:
    """Voids a redemption (idempotent: a second reversal returns the first)."""
    member = repo.find_or_404(session, key)
    entry = points.reverse_redemption(session, actor, body.entry_id, body.reason, member_id=member.id)
    return PointsEntryOut.model_validate(entry)


@router.post("/members/{key}/points/adjustments", response_model=PointsEntryOut, status_code=201)
def adjust_points(key: str, body: AdjustmentIn, session: DbSession, actor: Manage) -> PointsEntryOut:
    member = repo.find_or_404(session, key)
    entry = points.adjust(session, actor, member.id, points=body.points, reason=body.reason)
    return PointsEntryOut.model_validate(entry)


@router.get("/member-tiers", response_model=list[TierOut])
def list_tiers(session: DbSession, _: Read) -> list[TierOut]:
    return points.tiers(session)


@router.put("/member-tiers", response_model=list[TierOut])
def set_tiers(body: TiersIn, session: DbSession, actor: Manage, response: Response) -> list[TierOut]:
    """Replaces the tier table and starts the job that recomputes every member's tier
    (``X-Job-Id``)."""
    out = points.set_tiers(session, actor, body.tiers)
    job = enqueue(session, actor, RETIER_JOB)
    response.headers["X-Job-Id"] = str(job.id)
    return out
