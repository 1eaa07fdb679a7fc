"""Who is acting: a console user, an API key, or the system itself (jobs, demo loader)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from zhongtai.auth.permissions import STORE_SCOPED_ROLES, Perm, Role, permissions_for
from zhongtai.errors import PermissionDenied


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["user", "api_key", "system"]
    id: int | None
    name: str
    role: Role
    # None means every location; a frozenset limits store-owned data to those locations.
    store_ids: frozenset[int] | None = None
    channel_code: str | None = None
    locale: str = "zh-CN"
    session_id: int | None = None
    csrf_token: str | None = field(default=None, repr=False)

    @property
    def permissions(self) -> frozenset[Perm]:
        return permissions_for(self.role)

    def can(self, perm: Perm) -> bool:
        return perm in self.permissions

    def require(self, perm: Perm) -> None:
        if not self.can(perm):
            raise PermissionDenied(
                f"role {self.role.value} lacks permission {perm.value}", extra={"permission": perm.value}
            )

    @property
    def is_store_scoped(self) -> bool:
        return self.role in STORE_SCOPED_ROLES

    @classmethod
    def system(cls, name: str) -> Principal:
        return cls(kind="system", id=None, name=name, role=Role.ADMIN)
