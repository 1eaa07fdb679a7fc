"""The append-only audit log. Every verb function that changes state calls ``record``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from zhongtai.auth.models import AuditEntry
from zhongtai.auth.principal import Principal
from zhongtai.observability import request_id_var


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def record(
    session: Session,
    actor: Principal,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            actor_type=actor.kind,
            actor_id=actor.id,
            actor_name=actor.name,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            before=_jsonable(before) if before is not None else None,
            after=_jsonable(after) if after is not None else None,
            request_id=request_id_var.get(),
        )
    )
