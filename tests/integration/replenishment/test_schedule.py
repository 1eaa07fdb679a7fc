"""The closed loop's trigger: suggestions follow every new forecast, and nothing else piles up."""

from __future__ import annotations

from zhongtai.db import Database
from zhongtai.jobs import Job
from zhongtai.replenishment import service, tasks

from .conftest import World, record_flat_forecast


def _suggest_jobs(db: Database) -> int:
    with db.transaction(write=False) as s:
        return s.query(Job).filter(Job.kind == tasks.SUGGEST).count()


def test_a_new_forecast_triggers_one_suggestion_run_and_nothing_more(db: Database, world: World) -> None:
    # given a suggestion run that already read the latest forecast
    record_flat_forecast(db, world.first_day, {(world.sku_case, world.store_a): (2.0, 1.0, 3.0)})
    with db.transaction() as s:
        service.run_suggestions(s, tasks.SYSTEM)
    # when the schedule looks, nothing is due
    assert tasks.enqueue_after_forecast(db) is None
    assert _suggest_jobs(db) == 0

    # when a newer forecast succeeds
    record_flat_forecast(db, world.first_day, {(world.sku_case, world.store_a): (4.0, 2.0, 6.0)})
    # then exactly one suggestion job is queued, and a second look adds none while it is queued
    assert tasks.enqueue_after_forecast(db) is not None
    assert tasks.enqueue_after_forecast(db) is None
    assert _suggest_jobs(db) == 1


def test_a_running_suggestion_run_is_left_alone(db: Database, world: World) -> None:
    # given a run in progress and a fresh forecast
    with db.transaction() as s:
        service.start_run(s, tasks.SYSTEM, kind="suggest", job_id=None)
    record_flat_forecast(db, world.first_day, {(world.sku_case, world.store_a): (2.0, 1.0, 3.0)})
    # then the schedule waits for it
    assert tasks.enqueue_after_forecast(db) is None
