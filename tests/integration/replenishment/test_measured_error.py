"""A pair whose forecast carries a measured error of 7-day sums gets its safety stock from that
error (scaled to the protection interval), a DC from the root sum of squares of its stores', and
the console says so."""

from __future__ import annotations

import math

from tests.factories import SYSTEM
from tests.integration.replenishment.conftest import World, record_flat_forecast
from zhongtai.db import Database
from zhongtai.replenishment import service
from zhongtai.replenishment.policy import DemandForecast, PolicyParams, StockPosition, suggest
from zhongtai.replenishment.schemas import SuggestionOut
from zhongtai.web.i18n import Translator
from zhongtai.web.views.replenishment import reasoning

Z90 = 1.2815515655446004


def _suggestions(db: Database, kind: str) -> dict[str, SuggestionOut]:
    with db.transaction(write=False) as s:
        return {x.location_code: x for x in service.list_suggestions(s, SYSTEM, kind=kind, limit=500).items}


def test_safety_stock_comes_from_the_measured_error_of_forecast_sums(db: Database, world: World) -> None:
    # Given CASE forecast at 3/day (p10 1, p90 5) at S-A and 2/day at S-B, whose 7-day sums were
    # measured to miss by 6 and 8 units (root mean square)
    record_flat_forecast(
        db,
        world.first_day,
        {(world.sku_case, world.store_a): (3.0, 1.0, 5.0), (world.sku_case, world.store_b): (2.0, 1.0, 3.0)},
        week_sum_errors={(world.sku_case, world.store_a): 6.0, (world.sku_case, world.store_b): 8.0},
    )
    # When the suggestion run goes
    with db.transaction() as s:
        service.run_suggestions(s, SYSTEM)
    # Then S-A's safety stock is z * sigma with sigma from the measured error over P = 2 + 7 days:
    # sigma_P = 6 * sqrt(9 / 7) = 6.803, plus lead-time variability (3/day * 0.5 days):
    # sigma = sqrt(6.803^2 + 1.5^2) = 6.967, z(95 %) * sigma = 11.46, S = ceil(27 + 11.46) = 39
    a = _suggestions(db, "transfer")["S-A"]
    assert (a.safety_stock, a.order_up_to, a.quantity) == (12, 39, 34)
    measured = next(r for r in a.reasons if r["code"] == "protection_error")
    assert measured["measured_sd"] == 6.0
    assert measured["measured_days"] == 7
    assert measured["sigma_empirical"] == round(6.0 * math.sqrt(9 / 7), 3)
    # which is the policy's own answer, and more than the daily quantiles alone give (9 units)
    params = PolicyParams(review_period_days=7, service_level=0.95, lead_time_days=2.0, lead_time_sd_days=0.5)
    sd = (5.0 - 1.0) / (2 * Z90)
    quantiles = DemandForecast.flat(3.0, 9, sd)
    with_error = DemandForecast(
        quantiles.daily_mean, quantiles.daily_p10, quantiles.daily_p90, protection_sd=6.0, protection_sd_days=7
    )
    assert suggest(StockPosition(5), with_error, params).safety_stock == 12
    assert suggest(StockPosition(5), quantiles, params).safety_stock == 9

    # And the DC, whose demand is its stores' forecasts, has sqrt(6^2 + 8^2) = 10 units per week
    purchase = _suggestions(db, "purchase")["RDC-1"]
    dc_measured = next(r for r in purchase.reasons if r["code"] == "protection_error")
    assert dc_measured["measured_sd"] == 10.0
    store_sd = math.sqrt(sd**2 + ((3.0 - 1.0) / (2 * Z90)) ** 2)
    dc_forecast = DemandForecast(
        (5.0,) * 17,
        (5.0 - Z90 * store_sd,) * 17,
        (5.0 + Z90 * store_sd,) * 17,
        protection_sd=10.0,
        protection_sd_days=7,
    )
    dc_params = PolicyParams(review_period_days=7, lead_time_days=10.0, lead_time_sd_days=2.0, moq=20, case_pack=12)
    expected_dc = suggest(StockPosition(100), dc_forecast, dc_params)
    assert (purchase.safety_stock, purchase.order_up_to, purchase.quantity) == (
        expected_dc.safety_stock,
        expected_dc.order_up_to,
        expected_dc.quantity,
    )

    # And the console's reasoning names the measured error in both languages
    assert "measured forecast error σ=6.8 over 9 days (error of 7-day sums 6" in reasoning(Translator("en"), a)
    assert "安全库存按实测误差 σ=6.8 件" in reasoning(Translator("zh-CN"), a)


def test_without_a_measured_error_the_quantiles_decide_and_no_such_reason_shows(db: Database, world: World) -> None:
    # Given the same forecast at S-A with no measured error
    record_flat_forecast(db, world.first_day, {(world.sku_case, world.store_a): (3.0, 1.0, 5.0)})
    # When the suggestion run goes
    with db.transaction() as s:
        service.run_suggestions(s, SYSTEM)
    # Then the safety stock is the quantiles' 9 units and the reasoning does not mention a measured error
    a = _suggestions(db, "transfer")["S-A"]
    assert a.safety_stock == 9
    assert all(r["code"] != "protection_error" for r in a.reasons)
    assert "measured" not in reasoning(Translator("en"), a)
