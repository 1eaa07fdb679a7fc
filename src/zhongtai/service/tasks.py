"""Customer service's scheduled jobs."""

from __future__ import annotations
