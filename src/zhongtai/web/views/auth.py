"""Log in, log out, and the 中文/EN switch."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from zhongtai.auth import service as auth_service
from zhongtai.errors import NotFound, PermissionDenied
from zhongtai.http import DbSession, get_settings_dep
from zhongtai.settings import Settings
from zhongtai.web.i18n import LANG_COOKIE, SUPPORTED_LOCALES, Translator
from zhongtai.web.page import ConsoleForm, locale_of, render, safe_next

router = APIRouter(include_in_schema=False)
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


def _login_page(
    request: Request, settings: Settings, *, next_url: str, error: str = "", username: str = "", status_code: int = 200
) -> Response:
    t = Translator(locale_of(request, settings))
    return render(
        None,
        "auth/login.html",
        request=request,
        t=t,
        status_code=status_code,
        next_url=next_url,
        error=error,
        username=username,
        demo=settings.env == "demo",
    )


@router.get("/login")
def login_form(request: Request, session: DbSession, settings: SettingsDep, next: str = "/") -> Response:
    token = request.cookies.get(settings.session_cookie)
    if token and auth_service.principal_from_session_token(session, token) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, settings, next_url=safe_next(next))


def _same_origin(request: Request) -> bool:
    """A login posted from another site (login CSRF) is refused; browsers send Origin on POST."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not _same_origin(request):
        raise PermissionDenied("login form posted from another site", extra={"reason": "origin"})
    started = auth_service.login(session, username.strip(), password, max_age_s=settings.session_max_age_s)
    if started is None:
        t = Translator(locale_of(request, settings))
        return _login_page(
            request,
            settings,
            next_url=safe_next(next),
            error=t("login.failed"),
            username=username,
            status_code=401,
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        settings.session_cookie,
        started.token,
        max_age=settings.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/logout")
def logout(ctx: ConsoleForm) -> Response:
    auth_service.logout(ctx.session, ctx.principal)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        ctx.settings.session_cookie, path="/", httponly=True, samesite="lax", secure=ctx.settings.cookie_secure
    )
    return response


@router.get("/lang/{locale}")
def switch_language(locale: str, settings: SettingsDep, next: str = "/") -> Response:
    if locale not in SUPPORTED_LOCALES:
        raise NotFound(f"no locale {locale}")
    response = RedirectResponse(safe_next(next), status_code=303)
    # Not HttpOnly on purpose: it holds a preference, not a credential.
    response.set_cookie(
        LANG_COOKIE, locale, max_age=LANG_COOKIE_MAX_AGE, samesite="lax", secure=settings.cookie_secure, path="/"
    )
    return response
