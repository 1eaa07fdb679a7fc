"""Customer service in the console: knowledge base editor, trainer and metrics."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
