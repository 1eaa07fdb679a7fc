"""The server-rendered console (zh-CN first, English switch): wiring and the error page."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from zhongtai.db import Database
from zhongtai.errors import DomainError, Unauthenticated
from zhongtai.settings import Settings
from zhongtai.web.i18n import Translator
from zhongtai.web.page import STATIC_DIR, PageContext, context_for_error, locale_of, render

log = logging.getLogger("zhongtai.web")


def _error_key(error: DomainError) -> str:
    if error.status == 404:
        return "not_found"
    if error.status == 403:
        return "csrf" if error.extra.get("reason") == "csrf" else "forbidden"
    if error.status == 422:
        return "invalid"
    if error.status == 409:
        return "conflict"
    if error.status >= 500:
        return "internal"
    return "generic"


def error_page(request: Request, error: DomainError) -> Response:
    """A domain error as a page: status, a plain-language message, the detail and the request id."""
    if isinstance(error, Unauthenticated):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = "/login" if here in ("/", "") or request.method != "GET" else f"/login?next={quote(here, safe='')}"
        return RedirectResponse(target, status_code=303)
    ctx = getattr(request.state, "console", None)
    if isinstance(ctx, PageContext):
        return _render_error(request, ctx, error)
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    if request.url.path.startswith("/static/") or not request.cookies.get(settings.session_cookie):
        return _render_error(request, None, error)
    try:
        # A path no console route matched: still show the frame to a logged-in person.
        with db.transaction(write=False) as session:
            return _render_error(request, context_for_error(request, session, settings), error)
    except Exception:
        log.exception("error page could not load its frame")
        return _render_error(request, None, error)


def _render_error(request: Request, page_ctx: PageContext | None, error: DomainError) -> Response:
    settings: Settings = request.app.state.settings
    t = page_ctx.t if page_ctx else Translator(locale_of(request, settings))
    key = _error_key(error)
    # The failed request's session may hold half a change: the page reads nothing from it.
    return render(
        page_ctx,
        "errors/error.html",
        request=request,
        t=t,
        status_code=error.status,
        error=error,
        error_key=key,
        # An internal error's text is for the log, not for the page.
        detail="" if error.status >= 500 else error.detail,
    )


def mount(app: FastAPI) -> None:
    from zhongtai.web.views import (
        admin,
        analytics_members,
        analytics_sales,
        analytics_touchpoints,
        auth,
        catalog,
        forecasting,
        home,
        imports,
        locations,
        members,
        orders,
        replenishment,
        service_agent,
        service_kb,
        stock,
        touchpoints,
    )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (
        auth,
        home,
        catalog,
        locations,
        stock,
        imports,
        orders,
        members,
        forecasting,
        replenishment,
        service_agent,
        service_kb,
        touchpoints,
        analytics_sales,
        analytics_members,
        analytics_touchpoints,
        admin,
    ):
        app.include_router(module.router)
