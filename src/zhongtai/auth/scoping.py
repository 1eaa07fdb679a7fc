"""The one place where store scopes are applied.

Every query over store-owned rows (stock balances, movements, serials, reservations, later
orders and members of a store) passes its statement through ``scope_to_locations``; every
write to a location's data calls ``ensure_location_access`` first. A store-scoped principal
asking for another store's row gets the same answer as for a row that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import Select, false
from sqlalchemy.orm import InstrumentedAttribute

from zhongtai.auth.principal import Principal
from zhongtai.errors import PermissionDenied

S = TypeVar("S", bound=Select[Any])


def allowed_location_ids(principal: Principal) -> frozenset[int] | None:
    """None: every location. Otherwise the exact set (possibly empty)."""
    if not principal.is_store_scoped:
        return None
    return principal.store_ids or frozenset()


def scope_to_locations(principal: Principal, stmt: S, location_column: InstrumentedAttribute[Any]) -> S:
    allowed = allowed_location_ids(principal)
    if allowed is None:
        return stmt
    if not allowed:
        return stmt.where(false())
    return stmt.where(location_column.in_(sorted(allowed)))


def can_access_location(principal: Principal, location_id: int) -> bool:
    allowed = allowed_location_ids(principal)
    return allowed is None or location_id in allowed


def ensure_location_access(principal: Principal, location_ids: int | Iterable[int]) -> None:
    ids = [location_ids] if isinstance(location_ids, int) else list(location_ids)
    outside = sorted({i for i in ids if not can_access_location(principal, i)})
    if outside:
        raise PermissionDenied("outside your store scope", extra={"code": "out_of_scope", "location_ids": outside})
