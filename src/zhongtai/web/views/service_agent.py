"""Customer service in the console: the agent desk (queue, conversation, member card) and the widget preview."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
