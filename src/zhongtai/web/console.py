"""The server-rendered console (zh-CN first, English switch)."""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zhongtai.errors import DomainError, Unauthenticated


def error_page(request: Request, error: DomainError) -> Response:
    if isinstance(error, Unauthenticated):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return HTMLResponse(f"<h1>{error.status}</h1><p>{escape(error.detail)}</p>", status_code=error.status)


def mount(app: FastAPI) -> None:
    return None
