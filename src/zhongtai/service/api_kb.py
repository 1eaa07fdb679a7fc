"""Customer service HTTP API: the knowledge base (draft, import/export, publish, versions) under /api/v1/service/kb."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["service"])
