"""The analytics schedule: ``analytics.sync`` copies what is new into the lake every
``settings.analytics_sync_s`` seconds.

Schedules receive only the database; the lake of that database is the one the app registered at
startup (``register_lake``), else the one the environment's settings point at.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

from zhongtai.analytics import service
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.sync import SyncReport
from zhongtai.db import Database
from zhongtai.jobs import schedule
from zhongtai.settings import Settings, get_settings

SYNC = "analytics.sync"
# The worker looks every second; a run happens when the database's own interval has passed.
CHECK_S = 1.0


@dataclass
class _Target:
    lake: Lake
    every_s: float
    tz: str
    purge_staged_days: int
    # time.monotonic() of the last run; None: never ran (due at once).
    last_run: float | None = None


_TARGETS: weakref.WeakKeyDictionary[Database, _Target] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def _target_for(settings: Settings, lake: Lake) -> _Target:
    return _Target(
        lake=lake,
        every_s=settings.analytics_sync_s,
        tz=settings.default_timezone,
        purge_staged_days=settings.analytics_purge_staged_days,
    )


def register_lake(db: Database, lake: Lake, settings: Settings) -> None:
    """Tells the schedule which lake (and interval) belongs to ``db`` (called by ``create_app``)."""
    with _GUARD:
        _TARGETS[db] = _target_for(settings, lake)


def registered_lake(db: Database) -> Lake | None:
    target = _TARGETS.get(db)
    return target.lake if target is not None else None


@schedule(SYNC, every_s=CHECK_S)
def sync_due(db: Database) -> SyncReport | None:
    """Runs the sink for ``db`` when its interval has passed since the last run."""
    with _GUARD:
        target = _TARGETS.get(db)
        if target is None:
            settings = get_settings()
            target = _TARGETS[db] = _target_for(settings, Lake.for_settings(settings))
        now = time.monotonic()
        if target.last_run is not None and now - target.last_run < target.every_s:
            return None
        target.last_run = now
    return service.sync(db, target.lake, tz=target.tz, purge_staged_days=target.purge_staged_days)
