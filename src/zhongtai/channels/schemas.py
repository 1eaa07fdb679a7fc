from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ChannelKind(StrEnum):
    WEB_SHOP = "web_shop"
    MARKETPLACE = "marketplace"
    POS = "pos"
    MINI_PROGRAM = "mini_program"
    INSTANT_RETAIL = "instant_retail"


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=2, max_length=32, pattern=r"^[a-z0-9_\-]+$")
    name: str = Field(min_length=1, max_length=128)
    name_en: str = Field(default="", max_length=128)
    kind: ChannelKind
    platform: str = Field(default="own", max_length=32)


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
