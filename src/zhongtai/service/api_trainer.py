"""Customer service HTTP API: the trainer loop under /api/v1/service/trainer. The clusters of
questions the bot could not answer need service:read; assigning or ignoring them service:write."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.http import DbSession, require
from zhongtai.service import trainer
from zhongtai.service.schemas_trainer import AssignIn, AssignOut, ClusterOut, IgnoreIn, IgnoreOut

router = APIRouter(tags=["service"])

Read = Annotated[Principal, Depends(require(Perm.SERVICE_READ))]
Write = Annotated[Principal, Depends(require(Perm.SERVICE_WRITE))]


@router.get("/service/trainer/clusters", response_model=list[ClusterOut])
def get_clusters(
    session: DbSession,
    principal: Read,
    status: Annotated[str, Query()] = "open",
    limit: Annotated[int, Query()] = 50,
) -> list[ClusterOut]:
    """The newest questions of a status in clusters, largest first, each with the published
    knowledge base's best guess."""
    return trainer.clusters(session, principal, status=status, limit=limit)


@router.post("/service/trainer/assign", response_model=AssignOut)
def post_assign(body: AssignIn, session: DbSession, actor: Write) -> AssignOut:
    """The questions become example questions of a sub-intent (``subintent_code``) or of a new one
    (``new_subintent``); the bot learns them at the next publish."""
    return trainer.assign(
        session, actor, body.item_ids, subintent_code=body.subintent_code, new_subintent=body.new_subintent
    )


@router.post("/service/trainer/ignore", response_model=IgnoreOut)
def post_ignore(body: IgnoreIn, session: DbSession, actor: Write) -> IgnoreOut:
    return trainer.ignore(session, actor, body.item_ids)
