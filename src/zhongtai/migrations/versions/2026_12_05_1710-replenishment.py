"""Replenishment: supplier terms, policies, suggestions with reasoning, purchase orders and receipts, allocation and rebalancing.

Revision ID: b2e1d3f6a8c2
Revises: a1f0c2e5d7b1
Create Date: 2026-12-05 17:10:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "b2e1d3f6a8c2"
down_revision: str | None = "a1f0c2e5d7b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
