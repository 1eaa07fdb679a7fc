"""The nightly forecast end to end on a small generated history: run as the job (started through
the API), values stored with monotone quantiles, read back through demand_forecasts, accuracy
scored once a week closes, old values pruned."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.factories import SYSTEM, key_headers, make_key
from tests.integration.forecasting.conftest import days_back, make_shop
from zhongtai import jobs
from zhongtai.db import Database
from zhongtai.errors import ValidationFailed
from zhongtai.forecasting import accuracy, repository, service, tasks

LAST = date(2026, 11, 29)  # a Sunday: the history ends with a closed week
FAST = {"models": ["seasonal_naive", "tsb"], "backtest_windows": 1, "horizon": 14, "reconcile": "none"}


def _history(db: Database) -> dict[str, int]:
    """Six weeks of POS sales: the phone sells every day at S-SH-01 (more at weekends), the case
    now and then at S-SH-02; the Beijing store sold once, 120 days ago (inactive)."""
    shop = make_shop(db)
    rng = random.Random(7)
    for day in days_back(LAST, 42):
        shop.sell("S-SH-01", "P1-BLK", 3 if day.weekday() >= 5 else 1, day)
        if rng.random() < 0.3:
            shop.sell("S-SH-02", "CASE-1", 1, day)
    shop.sell("S-BJ-01", "P1-BLK", 1, LAST - timedelta(days=120))
    return shop.locations | {f"sku:{k}": v for k, v in shop.skus.items()}


def test_a_forecast_run_started_through_the_api_stores_quantile_forecasts_of_active_pairs(
    client: TestClient, db: Database
) -> None:
    # given six weeks of sales and an ops key
    ids = _history(db)
    ops = key_headers(make_key(db, role="ops"))
    # when a run is started through the API and the worker runs the job
    resp = client.post("/api/v1/forecasts/runs", json=FAST | {"as_of": LAST.isoformat()}, headers=ops)
    assert resp.status_code == 202, resp.text
    jobs.run_pending(db)
    job = client.get(resp.json()["status_url"], headers=ops).json()
    # then the job succeeded with a full progress bar, and the run holds 14 days of both active pairs
    assert job["status"] == "succeeded", job
    assert job["progress"] == job["total"] == 100
    run = client.get(f"/api/v1/forecasts/runs/{job['result']['run_id']}", headers=ops).json()
    assert run["status"] == "succeeded"
    assert run["series_count"] == 2
    assert run["values_count"] == 28
    assert run["first_day"] == (LAST + timedelta(days=1)).isoformat()
    phone, case = (ids["sku:P1-BLK"], ids["S-SH-01"]), (ids["sku:CASE-1"], ids["S-SH-02"])
    with db.transaction(write=False) as s:
        got = service.demand_forecasts(
            s, [phone, case, (ids["sku:P1-BLK"], ids["S-BJ-01"])], LAST + timedelta(days=1), 14
        )
    for pair in (phone, case):
        f = got[pair]
        assert all(lo <= m <= hi or abs(m - lo) < 1e-6 for lo, m, hi in zip(f.p10, f.mean, f.p90, strict=True))
        assert all(v >= 0 for v in f.p10)
    # the phone's weekend peaks are in its forecast, well above the case's
    assert sum(got[phone].mean) > 3 * sum(got[case].mean) > 0
    # the Beijing pair, with no sale in 90 days, has no forecast: zeros
    assert sum(got[(ids["sku:P1-BLK"], ids["S-BJ-01"])].mean) == 0


def test_the_next_run_scores_the_closed_week_and_prunes_old_values(db: Database) -> None:
    # given a run made with the history up to LAST, then a week of actual sales
    _history(db)
    options = service.options_from_params(FAST)
    first = tasks.run_forecast(db, SYSTEM, service.RunOptions(**{**options.__dict__, "as_of": LAST}), trigger="manual")
    shop_week = [LAST + timedelta(days=i) for i in range(1, 8)]
    from tests.integration.forecasting.conftest import Shop

    with db.transaction(write=False) as s:
        from zhongtai.catalog import service as catalog

        refs = catalog.sku_refs_by_codes(s, ["P1-BLK"])
    shop = Shop(db, {}, {"P1-BLK": refs["P1-BLK"].id}, n=10_000)
    for day in shop_week:
        shop.sell("S-SH-01", "P1-BLK", 2, day)
    # when the next nightly runs after that week (and two more after it)
    runs = [
        tasks.run_forecast(
            db,
            SYSTEM,
            service.RunOptions(**{**options.__dict__, "as_of": shop_week[-1] + timedelta(days=k)}),
            trigger="nightly",
        )
        for k in range(3)
    ]
    # then the week was scored against the first run's forecast, overall and per location
    with db.transaction(write=False) as s:
        overall = accuracy.report(s, SYSTEM, level="overall", today=shop_week[-1] + timedelta(days=1))
        by_location = accuracy.report(s, SYSTEM, level="location", today=shop_week[-1] + timedelta(days=1))
        kept = service.demand_forecasts(s, None, shop_week[-1] + timedelta(days=3), 7)
    assert runs[0]["weeks_scored"] == [(LAST + timedelta(days=1)).isoformat()]
    assert [(r.week_start, r.run_id, r.units_actual) for r in overall] == [
        (LAST + timedelta(days=1), first["run_id"], 14)
    ]
    assert overall[0].wape_bp is not None
    assert overall[0].bias_bp is not None
    assert {r.key_code for r in by_location} == {"S-SH-01", "S-SH-02"}
    # and only the last three runs keep their values (the first one was pruned)
    assert kept  # the latest run still answers
    with db.transaction(write=False) as s:
        first_run = service.get_run(s, first["run_id"])
        assert first_run.status == "succeeded"
        from zhongtai.forecasting import repository

        assert first["run_id"] not in repository.runs_with_values(s)


def test_reconciliation_along_the_location_hierarchy_keeps_quantiles_monotone(db: Database) -> None:
    # given the small history
    ids = _history(db)
    options = service.options_from_params(FAST | {"reconcile": "locations"})
    # when the run reconciles SKU x location -> location -> region -> total
    summary = tasks.run_forecast(
        db, SYSTEM, service.RunOptions(**{**options.__dict__, "as_of": LAST}), trigger="manual"
    )
    # then MinTrace was applied and the stored values are still ordered quantiles, never negative
    assert summary["reconcile"] == "mint_ols"
    with db.transaction(write=False) as s:
        got = service.demand_forecasts(s, None, LAST + timedelta(days=1), 14)
    assert set(got) == {(ids["sku:P1-BLK"], ids["S-SH-01"]), (ids["sku:CASE-1"], ids["S-SH-02"])}
    for f in got.values():
        assert all(0 <= lo <= hi for lo, hi in zip(f.p10, f.p90, strict=True))


def test_the_backfill_scores_past_weeks_so_a_new_installation_has_accuracy_at_once(db: Database) -> None:
    # given six weeks of sales and no forecast ever made
    _history(db)
    with db.transaction() as s:
        service.start_backfill_job(s, SYSTEM, weeks=3, today=LAST + timedelta(days=1))
    # when the backfill job runs
    jobs.run_pending(db)
    # then each of the three closed weeks is scored against a forecast made before it
    with db.transaction(write=False) as s:
        rows = accuracy.report(s, SYSTEM, level="overall", today=LAST + timedelta(days=1))
        runs = service.list_runs(s, cursor=None, limit=10).items
    mondays = [LAST - timedelta(days=6 + 7 * k) for k in (2, 1, 0)]
    assert [r.week_start for r in rows] == mondays
    by_id = {r.id: r for r in runs}
    assert all(by_id[r.run_id].first_day == r.week_start for r in rows if r.run_id is not None)
    assert {r.trigger for r in runs} == {"backfill"}
    assert all(r.units_actual > 0 and r.wape_bp is not None for r in rows)


def test_the_nightly_schedule_queues_one_forecast_per_business_day(db: Database) -> None:
    # given a shop and no forecast yet: the first look queues the job, the next finds it waiting
    ids = _history(db)
    first = tasks.nightly(db)
    assert first is not None
    assert tasks.nightly(db) is None
    with db.transaction() as s:
        s.get(jobs.Job, first).status = "succeeded"  # (as if the worker had run it)
        # when a forecast run succeeds today
        row = service.ForecastRow(ids["sku:P1-BLK"], ids["S-SH-01"], LAST, 1.0, 0.0, 1.0, 2.0)
        service.record_forecast(s, SYSTEM, [row])
    # then nothing more is queued today, and tomorrow (Beijing time) it is due again
    assert tasks.nightly(db) is None
    with db.transaction(write=False) as s:
        tomorrow = jobs.utcnow() + timedelta(days=1)
        assert service.nightly_due(s, now=tomorrow)


def test_a_run_stores_the_measured_error_of_weekly_sums_and_demand_forecasts_returns_it(db: Database) -> None:
    # given six weeks of sales: the phone's week repeats exactly, the case sells at random
    ids = _history(db)
    phone, case = (ids["sku:P1-BLK"], ids["S-SH-01"]), (ids["sku:CASE-1"], ids["S-SH-02"])
    options = service.options_from_params(FAST)
    # when the nightly forecast runs with one backtest window of 14 days
    summary = tasks.run_forecast(
        db, SYSTEM, service.RunOptions(**{**options.__dict__, "as_of": LAST}), trigger="manual"
    )
    # then an error of 7-day sums was stored per active pair, measured on two weekly blocks
    assert summary["errors"] == 2
    with db.transaction(write=False) as s:
        stored = repository.errors_of(s, summary["run_id"])
        got = service.demand_forecasts(s, [phone, case], LAST + timedelta(days=1), 14)
    assert set(stored) == {phone, case}
    assert all(days == 7 and sd >= 0 for sd, days in stored.values())
    # the seasonal naive all but repeats the phone's week; the random case misses by whole units
    assert stored[phone][0] < 0.5 < stored[case][0]
    # and demand_forecasts hands the measured error to its callers
    assert (got[phone].sum_error_sd, got[phone].sum_error_days) == (stored[phone][0], 7)
    assert (got[case].sum_error_sd, got[case].sum_error_days) == (stored[case][0], 7)


def test_recorded_errors_are_read_back_checked_and_pruned_with_the_values(db: Database) -> None:
    # given a recorded forecast of two pairs, one of them with a measured sum error
    ids = _history(db)
    phone, case = (ids["sku:P1-BLK"], ids["S-SH-01"]), (ids["sku:CASE-1"], ids["S-SH-02"])
    first = LAST + timedelta(days=1)
    rows = [
        service.ForecastRow(*pair, first + timedelta(days=d), 1.0, 0.5, 1.0, 1.5)
        for pair in (phone, case)
        for d in range(7)
    ]
    measured = service.ForecastError(*phone, block_days=7, sum_rmse=4.5, blocks=3)
    with db.transaction() as s:
        run_id = service.record_forecast(s, SYSTEM, rows, errors=[measured])
    # when replenishment reads it
    with db.transaction(write=False) as s:
        got = service.demand_forecasts(s, [phone, case], first, 7)
    # then the measured pair carries its error and the other none
    assert (got[phone].sum_error_sd, got[phone].sum_error_days) == (4.5, 7)
    assert (got[case].sum_error_sd, got[case].sum_error_days) == (None, None)
    # and an invalid error is refused, naming it, with nothing written
    bad = service.ForecastError(*case, block_days=0, sum_rmse=-1.0, blocks=1)
    with pytest.raises(ValidationFailed) as refused, db.transaction() as s:
        service.record_forecast(s, SYSTEM, rows, errors=[bad])
    assert {(p.field, p.code) for p in refused.value.errors} == {
        ("errors.0", "invalid_error"),
        ("errors.0", "invalid_blocks"),
    }
    # and when newer runs push it out, its errors go with its values
    with db.transaction() as s:
        for _ in range(service.KEEP_RUNS):
            service.record_forecast(s, SYSTEM, rows, errors=[measured])
        pruned = service.prune_values(s, SYSTEM)
    with db.transaction(write=False) as s:
        assert pruned == [run_id]
        assert repository.errors_of(s, run_id) == {}
