from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.channels import service, webhooks
from zhongtai.channels.schemas import (
    ChannelCreatedOut,
    ChannelIn,
    ChannelOut,
    DeliveryStatus,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookSecretOut,
)
from zhongtai.http import DbSession, Paging, require
from zhongtai.pagination import PageOut

router = APIRouter(tags=["channels"])

Read = Annotated[Principal, Depends(require(Perm.CATALOG_READ))]
Write = Annotated[Principal, Depends(require(Perm.CHANNELS_WRITE))]


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(session: DbSession, _: Read) -> list[ChannelOut]:
    return [ChannelOut.model_validate(c) for c in service.list_channels(session)]


@router.post("/channels", response_model=ChannelCreatedOut, status_code=201)
def create_channel(body: ChannelIn, session: DbSession, actor: Write) -> ChannelCreatedOut:
    """Creates the channel with an integrator API key bound to it and a webhook signing secret,
    both returned this once."""
    created = service.create_channel_with_credentials(
        session,
        actor,
        code=body.code,
        name=body.name,
        name_en=body.name_en,
        kind=body.kind.value,
        platform=body.platform,
        adapter=body.adapter.value,
        webhook_url=body.webhook_url,
        unpaid_hold_s=body.unpaid_hold_s,
        ship_from_store=body.ship_from_store,
    )
    return ChannelCreatedOut(
        **ChannelOut.model_validate(created.channel).model_dump(),
        api_key=created.api_key,
        webhook_secret=created.webhook_secret,
    )


@router.put("/channels/{code}/webhook", response_model=ChannelOut)
def set_webhook(code: str, body: WebhookIn, session: DbSession, actor: Write) -> ChannelOut:
    return ChannelOut.model_validate(webhooks.set_webhook(session, actor, code, body.url))


@router.post("/channels/{code}/webhook-secret", response_model=WebhookSecretOut)
def rotate_webhook_secret(code: str, session: DbSession, actor: Write) -> WebhookSecretOut:
    return WebhookSecretOut(webhook_secret=webhooks.rotate_webhook_secret(session, actor, code))


@router.get("/channels/{code}/webhook-deliveries", response_model=PageOut[WebhookDeliveryOut])
def list_webhook_deliveries(
    code: str,
    session: DbSession,
    _: Write,
    paging: Paging,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> PageOut[WebhookDeliveryOut]:
    channel = service.get_channel(session, code)
    page = webhooks.list_deliveries(
        session, channel_code=channel.code, status=status, cursor=paging.cursor, limit=paging.limit
    )
    return PageOut(items=[WebhookDeliveryOut.model_validate(d) for d in page.items], next_cursor=page.next_cursor)


@router.post("/webhook-deliveries/{delivery_id}/redeliver", response_model=WebhookDeliveryOut)
def redeliver(delivery_id: int, session: DbSession, actor: Write) -> WebhookDeliveryOut:
    return WebhookDeliveryOut.model_validate(webhooks.redeliver(session, actor, delivery_id))
