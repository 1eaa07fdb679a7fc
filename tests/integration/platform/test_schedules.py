"""A schedule runs in one process at a time: every web worker has a Worker, only one may run a
given schedule at once (PostgreSQL advisory lock); the others skip their turn."""

from __future__ import annotations

from sqlalchemy import text

from zhongtai.db import Database
from zhongtai.jobs import Schedule, run_schedule


def test_a_schedule_busy_elsewhere_is_skipped(db: Database) -> None:
    runs: list[int] = []
    sched = Schedule("tests.sample", 60, lambda _db: runs.append(1))
    if db.engine.dialect.name != "postgresql":
        assert run_schedule(db, sched) is True
        assert runs == [1]
        return
    key = {"k": "schedule:tests.sample"}
    with db.engine.connect() as other:  # another process is running it
        assert other.execute(text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), key).scalar()
        assert run_schedule(db, sched) is False
        assert runs == []
        other.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), key)
    assert run_schedule(db, sched) is True
    assert run_schedule(db, sched) is True  # the lock is released after each run
    assert runs == [1, 1]
