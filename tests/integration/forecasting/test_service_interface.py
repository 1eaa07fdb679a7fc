"""The interface replenishment codes against: record_forecast stores a run, demand_forecasts reads
the latest succeeded one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.factories import SYSTEM, make_catalog_basics, make_catalog_sku, make_catalog_spu, make_location
from zhongtai.db import Database
from zhongtai.errors import ValidationFailed
from zhongtai.forecasting import service

D0 = date(2026, 12, 1)


def _world(db: Database) -> tuple[int, int, int]:
    make_catalog_basics(db)
    make_catalog_spu(db, "P1")
    make_catalog_sku(db, "A", lifecycle="on_sale")
    make_catalog_sku(db, "B", lifecycle="on_sale")
    loc = make_location(db, "S1")
    from zhongtai.catalog import service as catalog

    with db.transaction(write=False) as s:
        refs = catalog.sku_refs_by_codes(s, ["A", "B"])
    return refs["A"].id, refs["B"].id, loc


def _rows(sku: int, loc: int, level: float, days: int = 3) -> list[service.ForecastRow]:
    return [
        service.ForecastRow(sku, loc, D0 + timedelta(days=i), level + i, level + i - 1, level + i, level + i + 2)
        for i in range(days)
    ]


def test_demand_forecasts_reads_the_latest_succeeded_run_and_fills_missing_days_with_zero(db: Database) -> None:
    # given two recorded runs, the second one newer
    a, b, loc = _world(db)
    with db.transaction() as s:
        service.record_forecast(s, SYSTEM, _rows(a, loc, 5.0) + _rows(b, loc, 1.0))
        newest = service.record_forecast(s, SYSTEM, _rows(a, loc, 10.0), params={"source": "test"})
    # when replenishment asks for A, B (absent from the newest run) and one day past the horizon
    with db.transaction(write=False) as s:
        got = service.demand_forecasts(s, [(a, loc), (b, loc)], D0 + timedelta(days=1), 3)
        every = service.demand_forecasts(s, None, D0, 2)
    # then A comes from the newest run, the day past its horizon is 0, B is all zeros
    fa = got[(a, loc)]
    assert fa.days == (D0 + timedelta(days=1), D0 + timedelta(days=2), D0 + timedelta(days=3))
    assert fa.mean == (11.0, 12.0, 0.0)
    assert fa.p10 == (10.0, 11.0, 0.0)
    assert fa.p90 == (13.0, 14.0, 0.0)
    assert got[(b, loc)].mean == (0.0, 0.0, 0.0)
    assert set(every) == {(a, loc)}
    assert newest > 0


def test_record_forecast_rejects_non_monotone_and_negative_rows_naming_each(db: Database) -> None:
    # given a pair
    a, _, loc = _world(db)
    bad = [
        service.ForecastRow(a, loc, D0, 1.0, 2.0, 1.0, 3.0),
        service.ForecastRow(a, loc, D0 + timedelta(days=1), -1.0, -1.0, 0.0, 1.0),
    ]
    # when it is recorded, then both rows are reported and nothing is stored
    with db.transaction() as s, pytest.raises(ValidationFailed) as err:
        service.record_forecast(s, SYSTEM, bad)
    assert [(e.field, e.code) for e in err.value.errors] == [
        ("rows.0", "quantiles_not_monotone"),
        ("rows.1", "negative"),
    ]
    with db.transaction(write=False) as s:
        assert service.demand_forecasts(s, None, D0, 2) == {}
