"""Admin pages: users and their store scopes, API keys (secret shown once), the audit log."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response

from zhongtai.auth import service as auth_service
from zhongtai.auth.permissions import STORE_SCOPED_ROLES, Perm, Role
from zhongtai.channels import service as channels_service
from zhongtai.errors import Conflict, FieldProblem, ValidationFailed
from zhongtai.web.page import Console, ConsoleForm, PageContext, render
from zhongtai.web.views import lookups

router = APIRouter(include_in_schema=False)

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")
KEY_ROLES = [r for r in Role if r not in STORE_SCOPED_ROLES]
AUDIT_ENTITIES = (
    "user",
    "api_key",
    "channel",
    "sku",
    "spu",
    "category",
    "brand",
    "attribute_def",
    "location",
    "stock_balance",
    "channel_safety_stock",
    "transfer",
    "stock_count",
    "reservation",
    "job",
)


async def _read_form(ctx: PageContext) -> dict[str, Any]:
    form = await ctx.request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        out[key] = values if key == "store_ids" else values[-1]
    return out


def _problems_by_field(error: ValidationFailed) -> dict[str, str]:
    return {p.field.split(".")[-1]: p.message for p in error.errors}


def _int_list(values: Any) -> list[int]:
    if not isinstance(values, list):
        values = [values] if values else []
    return [int(v) for v in values if str(v).isdigit()]


# ---------------------------------------------------------------- users


def _users_page(
    ctx: PageContext,
    *,
    cursor: str | None,
    form: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    page = auth_service.list_users(ctx.session, cursor=cursor, limit=50)
    scopes = auth_service.store_ids_of_users(ctx.session, [u.id for u in page.items])
    stores = lookups.store_choices(ctx)
    store_names = {sid: name for sid, name in stores}
    return render(
        ctx,
        "admin/users.html",
        status_code=status_code,
        users=page.items,
        scopes={uid: [store_names.get(i, f"#{i}") for i in ids] for uid, ids in scopes.items()},
        next_cursor=page.next_cursor,
        roles=[(r.value, ctx.t(f"role.{r.value}")) for r in Role],
        stores=stores,
        form=form or {"role": Role.STORE_MANAGER.value, "locale": "zh-CN", "store_ids": []},
        problems=problems or {},
        done=done,
    )


@router.get("/admin/users")
def users(ctx: Console, cursor: str | None = None, done: str = "") -> Response:
    ctx.require(Perm.USERS_MANAGE)
    return _users_page(ctx, cursor=cursor, done=done)


@router.post("/admin/users")
async def create_user(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.USERS_MANAGE)
    form = await _read_form(ctx)
    username = str(form.get("username", "")).strip()
    display_name = str(form.get("display_name", "")).strip()
    store_ids = _int_list(form.get("store_ids"))
    problems: list[FieldProblem] = []
    if not USERNAME_RE.match(username):
        problems.append(FieldProblem("body.username", "invalid", ctx.t("users.username_rule")))
    if not display_name:
        problems.append(FieldProblem("body.display_name", "required", ctx.t("form.required")))
    try:
        if problems:
            raise ValidationFailed("invalid user", errors=problems)
        auth_service.create_user(
            ctx.session,
            ctx.principal,
            username=username,
            display_name=display_name,
            password=str(form.get("password", "")),
            role=str(form.get("role", "")),
            store_ids=store_ids,
            locale=str(form.get("locale", "zh-CN")) if form.get("locale") in ("zh-CN", "en") else "zh-CN",
        )
    except ValidationFailed as error:
        form["store_ids"] = store_ids
        form.pop("password", None)
        return _users_page(ctx, cursor=None, form=form, problems=_problems_by_field(error), status_code=422)
    return RedirectResponse("/admin/users?done=created", status_code=303)


@router.post("/admin/users/{user_id}/active")
async def set_user_active(user_id: int, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.USERS_MANAGE)
    form = await _read_form(ctx)
    active = form.get("active") == "1"
    if user_id == ctx.principal.id and not active:
        raise Conflict("you cannot deactivate yourself", extra={"reason": "self"})
    auth_service.update_user(ctx.session, ctx.principal, user_id, is_active=active)
    return RedirectResponse(f"/admin/users?done={'activated' if active else 'deactivated'}", status_code=303)


@router.get("/admin/users/{user_id}")
def edit_user_form(user_id: int, ctx: Console) -> Response:
    ctx.require(Perm.USERS_MANAGE)
    user = auth_service.get_user(ctx.session, user_id)
    store_ids = auth_service.store_ids_of_users(ctx.session, [user_id])[user_id]
    return _edit_page(
        ctx, user, {"display_name": user.display_name, "role": user.role, "locale": user.locale, "store_ids": store_ids}
    )


def _edit_page(
    ctx: PageContext, user: Any, form: dict[str, Any], problems: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    return render(
        ctx,
        "admin/user_edit.html",
        status_code=status_code,
        user=user,
        form=form,
        problems=problems or {},
        roles=[(r.value, ctx.t(f"role.{r.value}")) for r in Role],
        stores=lookups.store_choices(ctx),
    )


@router.post("/admin/users/{user_id}")
async def edit_user(user_id: int, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.USERS_MANAGE)
    user = auth_service.get_user(ctx.session, user_id)
    form = await _read_form(ctx)
    store_ids = _int_list(form.get("store_ids"))
    current_stores = auth_service.store_ids_of_users(ctx.session, [user_id])[user_id]
    role = str(form.get("role", user.role))
    password = str(form.get("password", "")) or None
    display_name = str(form.get("display_name", "")).strip()
    try:
        if not display_name:
            raise ValidationFailed(
                "invalid user", errors=[FieldProblem("body.display_name", "required", ctx.t("form.required"))]
            )
        auth_service.update_user(
            ctx.session,
            ctx.principal,
            user_id,
            display_name=display_name,
            # Only what changed: a changed role or scope closes the user's open sessions.
            role=role if role != user.role else None,
            store_ids=store_ids if sorted(set(store_ids)) != sorted(current_stores) else None,
            password=password,
            locale=str(form.get("locale")) if form.get("locale") in ("zh-CN", "en") else None,
        )
    except ValidationFailed as error:
        ctx.session.rollback()
        form["store_ids"] = store_ids
        form.pop("password", None)
        user = auth_service.get_user(ctx.session, user_id)
        return _edit_page(ctx, user, form, _problems_by_field(error), status_code=422)
    return RedirectResponse("/admin/users?done=updated", status_code=303)


# ---------------------------------------------------------------- API keys


def _keys_page(
    ctx: PageContext,
    *,
    cursor: str | None,
    issued: Any = None,
    form: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    page = auth_service.list_api_keys(ctx.session, cursor=cursor, limit=50)
    channels = channels_service.list_channels(ctx.session)
    return render(
        ctx,
        "admin/api_keys.html",
        status_code=status_code,
        keys=page.items,
        next_cursor=page.next_cursor,
        roles=[(r.value, ctx.t(f"role.{r.value}")) for r in KEY_ROLES],
        channels=[(c.code, ctx.name_of(c)) for c in channels],
        issued=issued,
        form=form or {"role": Role.INTEGRATOR.value},
        problems=problems or {},
        done=done,
        # The page that shows a secret must never be kept by the browser or a proxy.
        headers={"Cache-Control": "no-store"},
    )


@router.get("/admin/api-keys")
def api_keys(ctx: Console, cursor: str | None = None, done: str = "") -> Response:
    ctx.require(Perm.APIKEYS_MANAGE)
    return _keys_page(ctx, cursor=cursor, done=done)


@router.post("/admin/api-keys")
async def create_api_key(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.APIKEYS_MANAGE)
    form = await _read_form(ctx)
    channel = str(form.get("channel_code", "")).strip() or None
    try:
        if channel and channels_service.unknown_codes(ctx.session, [channel]):
            raise ValidationFailed(
                "invalid API key",
                errors=[FieldProblem("body.channel_code", "unknown", ctx.t("keys.unknown_channel"))],
            )
        issued = auth_service.create_api_key(
            ctx.session,
            ctx.principal,
            name=str(form.get("name", "")),
            role=str(form.get("role", "")),
            channel_code=channel,
        )
    except ValidationFailed as error:
        return _keys_page(ctx, cursor=None, form=form, problems=_problems_by_field(error), status_code=422)
    # The secret is in this one response and nowhere else: no redirect, no flash storage.
    return _keys_page(ctx, cursor=None, issued=issued)


@router.post("/admin/api-keys/{key_id}/revoke")
def revoke_api_key(key_id: int, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.APIKEYS_MANAGE)
    auth_service.revoke_api_key(ctx.session, ctx.principal, key_id)
    return RedirectResponse("/admin/api-keys?done=revoked", status_code=303)


# ---------------------------------------------------------------- audit


MAX_AUDIT_JSON = 1200


def _compact_json(value: Any) -> str:
    """The raw record, cut short: a receipt of 10,000 serials is for the API, not for one table cell."""
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= MAX_AUDIT_JSON else text[: MAX_AUDIT_JSON - 1] + "…"


@router.get("/admin/audit")
def audit(
    ctx: Console,
    entity_type: Annotated[str, Query(max_length=64)] = "",
    entity_id: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    cursor: str | None = None,
) -> Response:
    ctx.require(Perm.AUDIT_READ)
    page = auth_service.list_audit(
        ctx.session,
        entity_type=entity_type.strip() or None,
        entity_id=entity_id.strip() or None,
        action=action.strip() or None,
        cursor=cursor,
        limit=50,
    )
    rows = [
        {
            "entry": e,
            "before": _compact_json(e.before),
            "after": _compact_json(e.after),
            "changes": _changes(e.before, e.after),
        }
        for e in page.items
    ]
    return render(
        ctx,
        "admin/audit.html",
        rows=rows,
        next_cursor=page.next_cursor,
        entity_types=AUDIT_ENTITIES,
        filters={"entity_type": entity_type, "entity_id": entity_id, "action": action},
    )


def _changes(before: Any, after: Any) -> list[tuple[str, str, str]]:
    """Field, old, new: what the entry changed, for the table (the raw JSON is one click away)."""
    b = before if isinstance(before, dict) else {}
    a = after if isinstance(after, dict) else {}
    out = []
    for key in sorted(set(b) | set(a)):
        if b.get(key) != a.get(key):
            out.append((key, _short(b.get(key)) if key in b else "", _short(a.get(key)) if key in a else ""))
    return out[:6]


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:39] + "…"
