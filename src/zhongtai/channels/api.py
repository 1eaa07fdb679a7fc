from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.channels import service
from zhongtai.channels.schemas import ChannelIn, ChannelOut
from zhongtai.http import DbSession, require

router = APIRouter(tags=["channels"])


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(session: DbSession, _: Annotated[Principal, Depends(require(Perm.CATALOG_READ))]) -> list[ChannelOut]:
    return [ChannelOut.model_validate(c) for c in service.list_channels(session)]


@router.post("/channels", response_model=ChannelOut, status_code=201)
def create_channel(
    body: ChannelIn, session: DbSession, actor: Annotated[Principal, Depends(require(Perm.CHANNELS_WRITE))]
) -> ChannelOut:
    channel = service.create_channel(
        session,
        actor,
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        kind=body.kind.value,
        platform=body.platform,
    )
    return ChannelOut.model_validate(channel)
