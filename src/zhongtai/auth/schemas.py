from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zhongtai.auth.permissions import Role


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    display_name: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=8, max_length=128)
    role: Role
    store_ids: list[int] = Field(default_factory=list)
    locale: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, min_length=1, max_length=128)
    password: str | None = Field(default=None, min_length=8, max_length=128)
    role: Role | None = None
    store_ids: list[int] | None = None
    is_active: bool | None = None
    locale: str | None = Field(default=None, pattern=r"^(zh-CN|en)$")


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    store_ids: list[int]
    locale: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class MeOut(BaseModel):
    kind: str
    id: int | None
    name: str
    role: str
    permissions: list[str]
    store_ids: list[int] | None
    channel_code: str | None


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    role: Role = Role.INTEGRATOR
    channel_code: str | None = Field(default=None, max_length=32)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    role: str
    channel_code: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyIssued(ApiKeyOut):
    secret: str = Field(description="Shown once; store it now. Send as Authorization: Bearer <secret>.")


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    actor_type: str
    actor_id: int | None
    actor_name: str
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
