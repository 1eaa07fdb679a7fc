"""Named schedules of the platform itself."""

from __future__ import annotations

from zhongtai.db import Database
from zhongtai.idempotency import purge_expired
from zhongtai.jobs import schedule
from zhongtai.settings import get_settings


@schedule("platform.idempotency-purge", every_s=3600)
def purge_idempotency_keys(db: Database) -> int:
    return purge_expired(db, get_settings().idempotency_ttl_s)
