from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ChannelKind(StrEnum):
    WEB_SHOP = "web_shop"
    MARKETPLACE = "marketplace"
    POS = "pos"
    MINI_PROGRAM = "mini_program"
    INSTANT_RETAIL = "instant_retail"


class ChannelAdapter(StrEnum):
    """How the channel's order payloads are read (see docs/orders.md)."""

    ZHONGTAI = "zhongtai"
    MARKETPLACE = "marketplace"


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=2, max_length=32, pattern=r"^[a-z0-9_\-]+$")
    name: str = Field(min_length=1, max_length=128)
    name_en: str = Field(default="", max_length=128)
    kind: ChannelKind
    platform: str = Field(default="own", max_length=32)
    adapter: ChannelAdapter = ChannelAdapter.ZHONGTAI
    webhook_url: str = Field(default="", max_length=512, description="http(s) URL for signed order events; empty: none")
    unpaid_hold_s: int = Field(default=1800, ge=60, le=7 * 24 * 3600, description="how long unpaid orders hold stock")
    ship_from_store: bool = True


class ChannelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    name_en: str
    kind: str
    platform: str
    is_active: bool
    created_at: datetime
    adapter: str
    webhook_url: str
    unpaid_hold_s: int
    ship_from_store: bool


class ChannelCreatedOut(ChannelOut):
    """The new channel with its credentials: shown this once, never again."""

    api_key: str = Field(description="an integrator API key bound to this channel")
    webhook_secret: str = Field(description="the HMAC-SHA256 key of X-Zhongtai-Signature")


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=512, description="http(s) URL; empty removes the webhook")


class WebhookSecretOut(BaseModel):
    webhook_secret: str = Field(description="the new signing secret, shown this once")


DeliveryStatus = Literal["pending", "delivered", "dead"]


class WebhookDeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    outbox_id: int
    channel_code: str
    topic: str
    url: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
