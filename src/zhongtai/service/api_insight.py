"""Customer service HTTP API: the trainer's unanswered-question clusters and the metrics under /api/v1/service."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["service"])
