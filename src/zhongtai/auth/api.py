from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from zhongtai.auth import service
from zhongtai.auth.models import User
from zhongtai.auth.permissions import Perm
from zhongtai.auth.principal import Principal
from zhongtai.auth.schemas import (
    ApiKeyIn,
    ApiKeyIssued,
    ApiKeyOut,
    AuditOut,
    MeOut,
    UserIn,
    UserOut,
    UserPatch,
)
from zhongtai.http import CurrentPrincipal, DbSession, Paging, require
from zhongtai.pagination import PageOut

router = APIRouter(tags=["auth"])

ManageUsers = Annotated[Principal, Depends(require(Perm.USERS_MANAGE))]
ManageKeys = Annotated[Principal, Depends(require(Perm.APIKEYS_MANAGE))]
ReadAudit = Annotated[Principal, Depends(require(Perm.AUDIT_READ))]


def _user_out(user: User, store_ids: list[int]) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        store_ids=store_ids,
        locale=user.locale,
        is_active=user.is_active,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


@router.get("/me", response_model=MeOut)
def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        role=principal.role.value,
        permissions=sorted(p.value for p in principal.permissions),
        store_ids=sorted(principal.store_ids) if principal.store_ids is not None else None,
        channel_code=principal.channel_code,
    )


@router.get("/users", response_model=PageOut[UserOut])
def list_users(session: DbSession, _: ManageUsers, paging: Paging) -> PageOut[UserOut]:
    page = service.list_users(session, cursor=paging.cursor, limit=paging.limit)
    stores = service.store_ids_of_users(session, [u.id for u in page.items])
    return PageOut(items=[_user_out(u, stores[u.id]) for u in page.items], next_cursor=page.next_cursor)


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, session: DbSession, actor: ManageUsers) -> UserOut:
    user = service.create_user(
        session,
        actor,
        username=body.username,
        display_name=body.display_name,
        password=body.password,
        role=body.role.value,
        store_ids=body.store_ids,
        locale=body.locale,
    )
    return _user_out(user, sorted(set(body.store_ids)))


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: int, session: DbSession, _: ManageUsers) -> UserOut:
    user = service.get_user(session, user_id)
    return _user_out(user, service.store_ids_of_users(session, [user_id])[user_id])


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: int, body: UserPatch, session: DbSession, actor: ManageUsers) -> UserOut:
    user = service.update_user(
        session,
        actor,
        user_id,
        display_name=body.display_name,
        role=body.role.value if body.role else None,
        store_ids=body.store_ids,
        is_active=body.is_active,
        password=body.password,
        locale=body.locale,
    )
    return _user_out(user, service.store_ids_of_users(session, [user_id])[user_id])


@router.get("/api-keys", response_model=PageOut[ApiKeyOut])
def list_api_keys(session: DbSession, _: ManageKeys, paging: Paging) -> PageOut[ApiKeyOut]:
    page = service.list_api_keys(session, cursor=paging.cursor, limit=paging.limit)
    return PageOut(items=[ApiKeyOut.model_validate(k) for k in page.items], next_cursor=page.next_cursor)


@router.post("/api-keys", response_model=ApiKeyIssued, status_code=201)
def create_api_key(body: ApiKeyIn, session: DbSession, actor: ManageKeys) -> ApiKeyIssued:
    issued = service.create_api_key(
        session, actor, name=body.name, role=body.role.value, channel_code=body.channel_code
    )
    return ApiKeyIssued(**ApiKeyOut.model_validate(issued.key).model_dump(), secret=issued.secret)


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyOut)
def revoke_api_key(key_id: int, session: DbSession, actor: ManageKeys) -> ApiKeyOut:
    return ApiKeyOut.model_validate(service.revoke_api_key(session, actor, key_id))


@router.get("/audit", response_model=PageOut[AuditOut])
def list_audit(
    session: DbSession,
    _: ReadAudit,
    paging: Paging,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOut[AuditOut]:
    page = service.list_audit(
        session,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        cursor=paging.cursor,
        limit=paging.limit,
    )
    return PageOut(items=[AuditOut.model_validate(a) for a in page.items], next_cursor=page.next_cursor)
