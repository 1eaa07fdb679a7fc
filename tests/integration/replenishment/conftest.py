"""A small replenishment world: a supplier, a regional DC, two stores supplied by it, two SKUs,
supplier terms, default policies, and a flat forecast recorded through the forecasting service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.factories import SYSTEM, make_catalog_basics, make_catalog_sku, make_catalog_spu, make_location, receive
from zhongtai.db import Database
from zhongtai.forecasting import service as forecasting
from zhongtai.replenishment import service
from zhongtai.replenishment.schemas import PolicyIn, SupplierTermsIn

HORIZON = 60


@dataclass
class World:
    supplier: int
    dc: int
    store_a: int
    store_b: int
    sku_case: int
    sku_phone: int
    first_day: date


def sku_id(db: Database, code: str) -> int:
    from zhongtai.catalog.service import sku_refs_by_codes

    with db.transaction(write=False) as s:
        return sku_refs_by_codes(s, [code])[code].id


def record_flat_forecast(
    db: Database,
    first_day: date,
    per_pair: dict[tuple[int, int], tuple[float, float, float]],
    *,
    week_sum_errors: dict[tuple[int, int], float] | None = None,
) -> int:
    """A forecast run with a constant (mean, p10, p90) per day for each pair, HORIZON days, and
    optionally a measured error of 7-day forecast sums per pair."""
    rows = [
        forecasting.ForecastRow(sku, loc, first_day + timedelta(days=d), mean, p10, mean, p90)
        for (sku, loc), (mean, p10, p90) in per_pair.items()
        for d in range(HORIZON)
    ]
    errors = [
        forecasting.ForecastError(sku, loc, block_days=7, sum_rmse=sd, blocks=4)
        for (sku, loc), sd in (week_sum_errors or {}).items()
    ]
    with db.transaction() as s:
        return forecasting.record_forecast(s, SYSTEM, rows, errors=errors)


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db)


def build_world(db: Database) -> World:
    # Given SKUs CASE (plain) and PHONE (serial-tracked), a supplier, a DC and two stores it supplies
    make_catalog_basics(db)
    make_catalog_spu(db, "P1")
    make_catalog_sku(db, "CASE", lifecycle="on_sale")
    make_catalog_sku(db, "PHONE", lifecycle="on_sale", serial_tracked=True)
    sup = make_location(db, "SUP-1", "supplier", city="东莞")
    dc = make_location(db, "RDC-1", "regional_dc", city="苏州", region="华东", latitude=31.4, longitude=120.6)
    a = make_location(db, "S-A", "store", region="华东", latitude=31.23, longitude=121.47, parent_dc_code="RDC-1")
    b = make_location(db, "S-B", "store", region="华东", latitude=31.24, longitude=121.50, parent_dc_code="RDC-1")
    with db.transaction() as s:
        service.set_supplier_terms(
            s,
            SYSTEM,
            SupplierTermsIn(
                supplier_code="SUP-1",
                sku_code="CASE",
                lead_time_days=Decimal("10"),
                lead_time_sd_days=Decimal("2"),
                moq=20,
                case_pack=12,
                unit_cost_fen=1_500,
                preferred=True,
            ),
        )
        service.set_supplier_terms(
            s,
            SYSTEM,
            SupplierTermsIn(
                supplier_code="SUP-1", sku_code="PHONE", lead_time_days=Decimal("7"), unit_cost_fen=250_000
            ),
        )
        service.set_policy(s, SYSTEM, PolicyIn(location_type="store", review_period_days=7))
        service.set_policy(s, SYSTEM, PolicyIn(location_type="regional_dc", review_period_days=7))
    receive(db, "RDC-1", "CASE", 100)
    receive(db, "S-A", "CASE", 5)
    return World(sup, dc, a, b, sku_id(db, "CASE"), sku_id(db, "PHONE"), service.business_tomorrow())
