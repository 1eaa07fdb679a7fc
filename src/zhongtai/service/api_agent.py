"""Customer service HTTP API: the agents' hand-off queue under /api/v1/service/agent."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["service"])
