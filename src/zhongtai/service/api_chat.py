"""Customer service HTTP API: conversations for widgets and mini-programs, and the WeChat/WeCom-style webhook."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["service"])
