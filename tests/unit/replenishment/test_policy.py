"""The pure replenishment policy: order-up-to from forecast quantiles, rounding rules, min/max. No database.

Every expected figure below is worked out by hand in the comment beside it; z(0.95) = 1.64485.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from zhongtai.replenishment.policy import (
    Z_P90,
    DemandForecast,
    InvalidPolicyInput,
    PolicyParams,
    StockPosition,
    Suggestion,
    suggest,
    suggest_min_max,
)

Z95 = 1.6448536269514722


def flat(mean: float, sd: float = 0.0, days: int = 30) -> DemandForecast:
    return DemandForecast.flat(mean, days, sd)


def steps(s: Suggestion) -> list[str]:
    return [r.code for r in s.reasons]


def numbers(s: Suggestion, code: str) -> dict[str, object]:
    reason = s.reason(code)
    assert reason is not None, f"no {code} step in {steps(s)}"
    return dict(reason.numbers)


def test_no_demand_orders_nothing() -> None:
    # given a forecast of zero demand and an empty shelf
    # when the policy runs
    s = suggest(StockPosition(on_hand=0), flat(0.0), PolicyParams())
    # then nothing is ordered and the reasoning says why
    assert (s.quantity, s.order_up_to, s.safety_stock) == (0, 0, 0)
    assert s.reason("no_order") is not None


def test_certain_demand_orders_the_gap_to_the_order_up_to_level() -> None:
    # given 10 units a day with no spread, L = 7, R = 7: S = 140; position 50 + 30 - 10 = 70
    position = StockPosition(on_hand=50, on_order=30, reserved=10)
    # when
    s = suggest(position, flat(10.0), PolicyParams(review_period_days=7, lead_time_days=7))
    # then
    assert s.protection_days == 14
    assert s.demand_over_protection == pytest.approx(140.0)
    assert (s.safety_stock, s.order_up_to, s.inventory_position, s.quantity) == (0, 140, 70, 70)


def test_daily_sd_comes_from_the_quantiles_and_adds_in_variance() -> None:
    # given a daily sd of 3 (p90 - p10 = 2 * 1.2816 * 3) over 14 days: sigma = 3 * sqrt(14) = 11.225
    forecast = DemandForecast((10.0,) * 14, (10 - Z_P90 * 3,) * 14, (10 + Z_P90 * 3,) * 14)
    # when
    s = suggest(StockPosition(on_hand=0), forecast, PolicyParams())
    # then S = ceil(140 + 1.64485 * 11.225) = ceil(158.46) = 159, safety stock 159 - 140 = 19
    assert s.sigma_protection == pytest.approx(3 * math.sqrt(14))
    assert (s.safety_stock, s.order_up_to, s.quantity) == (19, 159, 159)


def test_a_band_clipped_at_zero_is_read_from_its_upper_half() -> None:
    # given a slow mover: mean 0.5, p10 clipped to 0, p90 1.5 (the full band would say 1.5 / 2.563 = 0.585)
    forecast = DemandForecast((0.5,) * 14, (0.0,) * 14, (1.5,) * 14)
    # when
    s = suggest(StockPosition(on_hand=0), forecast, PolicyParams())
    # then the daily sd is (1.5 - 0.5) / 1.2816 = 0.780 and sigma = 0.780 * sqrt(14) = 2.919
    assert s.sigma_protection == pytest.approx(1.0 / Z_P90 * math.sqrt(14))
    # and S = ceil(7 + 1.64485 * 2.919) = ceil(11.80) = 12
    assert s.order_up_to == 12


def test_the_console_sentence_can_be_built_from_the_reasons() -> None:
    # given 93.4 units over 14 days, a daily sd of 3.3 (z * sigma = 1.64485 * 3.3 * sqrt(14) = 20.31),
    # 60 units in position and a case pack of 12: S = ceil(113.71) = 114, safety stock 114 - 94 = 20
    forecast = DemandForecast.flat(93.4 / 14, 14, 3.3)
    # when
    s = suggest(StockPosition(on_hand=60), forecast, PolicyParams(case_pack=12))
    # then 93.4 + 20 - 60 = 53.4 -> 54 -> 60 by case packs, every number in a reason
    r = {x.code: x.numbers for x in s.reasons}
    assert r["forecast"] == {"days": 14.0, "units": 93.4}
    assert r["safety_stock"]["units"] == 20
    assert r["order_up_to"]["units"] == 114
    assert r["inventory_position"]["units"] == 60
    assert r["net_requirement"]["units"] == 54
    assert r["case_pack"] == {"from": 54, "to": 60, "case_pack": 12}
    assert s.quantity == 60
    assert steps(s) == ["forecast", "safety_stock", "order_up_to", "inventory_position", "net_requirement", "case_pack"]
    # and the whole suggestion serialises for storage
    assert json.loads(json.dumps(s.to_json()))["reasons"][-1] == {
        "code": "case_pack",
        "from": 54,
        "to": 60,
        "case_pack": 12,
    }


def test_moq_raises_a_small_order() -> None:
    # given 1 unit a day: S = 14; position 11 -> 3 needed, MOQ 10
    s = suggest(StockPosition(on_hand=11), flat(1.0), PolicyParams(moq=10))
    # then
    assert s.quantity == 10
    assert numbers(s, "moq") == {"from": 3, "to": 10, "moq": 10}


def test_moq_then_case_pack() -> None:
    # given 3 needed, MOQ 20 not a multiple of the case pack 12: 3 -> 20 -> 24
    s = suggest(StockPosition(on_hand=11), flat(1.0), PolicyParams(moq=20, case_pack=12))
    # then
    assert s.quantity == 24
    assert steps(s)[-2:] == ["moq", "case_pack"]


def test_case_pack_rounds_up() -> None:
    # given 140 - 70 = 70 needed and cases of 12 -> 72
    s = suggest(StockPosition(on_hand=70), flat(10.0), PolicyParams(case_pack=12))
    assert s.quantity == 72


def test_shelf_capacity_caps_the_order_down_to_whole_cases() -> None:
    # given 140 - 70 = 70 needed -> 72 in cases of 12, but the shelf holds 100 and 50 + 20 are there:
    # room 30 -> 24 (two cases)
    position = StockPosition(on_hand=50, on_order=20)
    s = suggest(position, flat(10.0), PolicyParams(case_pack=12, shelf_capacity=100))
    # then
    assert s.quantity == 24
    assert numbers(s, "shelf_cap") == {
        "from": 72,
        "to": 24,
        "capacity": 100,
        "room": 30,
        "case_pack": 12,
    }
    # and the order-up-to level itself is still what demand asks for
    assert s.order_up_to == 140


def test_shelf_cap_below_the_moq_means_no_order() -> None:
    # given room for 30 but an MOQ of 40
    s = suggest(StockPosition(on_hand=50, on_order=20), flat(10.0), PolicyParams(moq=40, shelf_capacity=100))
    # then
    assert s.quantity == 0
    assert steps(s)[-2:] == ["shelf_cap", "no_order"]


def test_shelf_already_over_capacity_orders_nothing() -> None:
    s = suggest(StockPosition(on_hand=120, reserved=100), flat(10.0), PolicyParams(shelf_capacity=100))
    assert s.inventory_position == 20
    assert s.quantity == 0


def test_reserved_units_lower_the_position_and_raise_the_order() -> None:
    free = suggest(StockPosition(on_hand=100), flat(10.0), PolicyParams())
    held = suggest(StockPosition(on_hand=100, reserved=30), flat(10.0), PolicyParams())
    assert (free.quantity, held.quantity) == (40, 70)


def test_lead_time_variability_raises_safety_stock() -> None:
    # given certain demand of 10 a day; lead time sd 2 days: sigma = 10 * 2 = 20, z * sigma = 32.90
    # so S = ceil(140 + 32.90) = 173 and the safety stock 33
    steady = suggest(StockPosition(on_hand=0), flat(10.0), PolicyParams())
    varying = suggest(StockPosition(on_hand=0), flat(10.0), PolicyParams(lead_time_sd_days=2.0))
    # then
    assert steady.safety_stock == 0
    assert varying.sigma_protection == pytest.approx(20.0)
    assert varying.safety_stock == math.ceil(Z95 * 20) == 33
    assert varying.order_up_to == 173
    assert varying.reason("lead_time_variability") is not None


def test_lead_time_variability_adds_to_demand_variance() -> None:
    # given a daily sd of 3 over 14 days (variance 126) and lead-time sd 1 day at 10 a day (100)
    forecast = DemandForecast.flat(10.0, 20, 3.0)
    s = suggest(StockPosition(on_hand=0), forecast, PolicyParams(lead_time_sd_days=1.0))
    # then sigma = sqrt(226)
    assert s.sigma_protection == pytest.approx(math.sqrt(226))


def test_an_empirical_protection_sd_replaces_the_summed_daily_quantiles() -> None:
    # given 10 a day with a quantile sd of 2 a day (sigma 2 * sqrt(14) = 7.48 over L + R = 14 days)
    # and a backtest that measured an error sd of 20 units for the 14-day forecast sum
    quantiles = DemandForecast.flat(10.0, 20, 2.0)
    measured = replace(quantiles, protection_sd=20.0, protection_sd_days=14)
    # when
    before = suggest(StockPosition(on_hand=0), quantiles, PolicyParams())
    after = suggest(StockPosition(on_hand=0), measured, PolicyParams())
    # then sigma = 20 and S = ceil(140 + 1.64485 * 20) = ceil(172.90) = 173, safety stock 33
    assert before.sigma_protection == pytest.approx(2 * math.sqrt(14))
    assert before.reason("protection_error") is None
    assert after.sigma_protection == pytest.approx(20.0)
    assert (after.order_up_to, after.safety_stock) == (173, 33)
    assert numbers(after, "protection_error") == {
        "days": 14,
        "sigma_quantiles": 7.483,
        "sigma_empirical": 20.0,
        "measured_sd": 20.0,
        "measured_days": 14,
    }


def test_an_empirical_protection_sd_scales_with_the_root_of_the_interval() -> None:
    # given an error sd of 10 measured over 7-day sums, used for P = 14 days: 10 * sqrt(14 / 7) = 14.142
    forecast = replace(DemandForecast.flat(10.0, 20), protection_sd=10.0, protection_sd_days=7)
    # when
    s = suggest(StockPosition(on_hand=0), forecast, PolicyParams())
    # then S = ceil(140 + 1.64485 * 14.142) = ceil(163.26) = 164
    assert s.sigma_protection == pytest.approx(10 * math.sqrt(2))
    assert s.order_up_to == 164
    # and without protection_sd_days the sd is taken as measured over the policy's own interval
    same = suggest(StockPosition(on_hand=0), replace(forecast, protection_sd_days=None), PolicyParams())
    assert same.sigma_protection == pytest.approx(10.0)


def test_lead_time_variability_adds_to_an_empirical_protection_sd() -> None:
    # given a measured 14-day error sd of 20 and a lead-time sd of 1 day at 10 a day:
    # sigma^2 = 20^2 + (10 * 1)^2 = 500, sigma = 22.36, S = ceil(140 + 1.64485 * 22.36) = ceil(176.78) = 177
    forecast = replace(DemandForecast.flat(10.0, 20), protection_sd=20.0)
    # when
    s = suggest(StockPosition(on_hand=0), forecast, PolicyParams(lead_time_sd_days=1.0))
    # then
    assert s.sigma_protection == pytest.approx(math.sqrt(500))
    assert s.order_up_to == 177
    assert numbers(s, "lead_time_variability")["sigma_demand"] == 20.0


def test_a_negative_protection_sd_is_refused() -> None:
    with pytest.raises(InvalidPolicyInput) as caught:
        DemandForecast((1.0,), (0.0,), (2.0,), protection_sd=-1.0, protection_sd_days=0)
    assert set(caught.value.fields) == {"protection_sd", "protection_sd_days"}


def test_higher_service_level_gives_a_higher_order_up_to_level() -> None:
    forecast = DemandForecast.flat(10.0, 20, 3.0)
    levels = [suggest(StockPosition(on_hand=0), forecast, PolicyParams(service_level=p)) for p in (0.8, 0.95, 0.99)]
    s_values = [s.order_up_to for s in levels]
    assert s_values == sorted(s_values)
    assert len(set(s_values)) == 3


def test_service_level_below_half_holds_no_negative_safety_stock() -> None:
    s = suggest(StockPosition(on_hand=0), DemandForecast.flat(10.0, 20, 3.0), PolicyParams(service_level=0.3))
    assert s.safety_stock == 0
    assert s.order_up_to == 140


def test_fractional_protection_interval_counts_the_last_day_pro_rata() -> None:
    # given L = 2.5, R = 1: 3.5 days of 1, 2, 3, 4, 5 -> 1 + 2 + 3 + 0.5 * 4 = 8
    forecast = DemandForecast((1.0, 2.0, 3.0, 4.0, 5.0), (1.0, 2.0, 3.0, 4.0, 5.0), (1.0, 2.0, 3.0, 4.0, 5.0))
    s = suggest(StockPosition(on_hand=0), forecast, PolicyParams(review_period_days=1, lead_time_days=2.5))
    assert s.demand_over_protection == pytest.approx(8.0)
    assert s.order_up_to == 8


def test_daily_forecast_varies_and_negative_means_count_as_zero() -> None:
    # given a promotion on day 2 and a (bad) negative mean on day 3, L = 2, R = 1
    forecast = DemandForecast((2.0, 20.0, -1.0, 5.0), (2.0, 20.0, -1.0, 5.0), (2.0, 20.0, -1.0, 5.0))
    s = suggest(StockPosition(on_hand=0), forecast, PolicyParams(review_period_days=1, lead_time_days=2))
    assert s.demand_over_protection == pytest.approx(22.0)


def test_short_forecast_is_extended_with_its_last_week_and_says_so() -> None:
    # given only 3 days of forecast at 2 a day for a 14-day protection interval
    s = suggest(StockPosition(on_hand=0), DemandForecast.flat(2.0, 3), PolicyParams())
    # then the missing 11 days repeat the mean of the known days
    assert s.demand_over_protection == pytest.approx(28.0)
    assert numbers(s, "forecast_extended") == {"forecast_days": 3, "days": 14, "per_day": 2.0}


def test_bad_parameters_are_all_named_at_once() -> None:
    with pytest.raises(InvalidPolicyInput) as caught:
        PolicyParams(review_period_days=0, service_level=1.0, lead_time_days=-1, moq=0, case_pack=0, shelf_capacity=-5)
    assert set(caught.value.fields) == {
        "review_period_days",
        "service_level",
        "lead_time_days",
        "moq",
        "case_pack",
        "shelf_capacity",
    }


def test_bad_forecasts_are_refused() -> None:
    with pytest.raises(InvalidPolicyInput) as caught:
        DemandForecast((1.0, 2.0), (1.0,), (float("nan"), 2.0))
    assert set(caught.value.fields) == {"daily_p10", "daily_p90"}
    with pytest.raises(InvalidPolicyInput):
        DemandForecast((), (), ())


def test_min_max_orders_up_to_max_only_below_min() -> None:
    # given 2 a day and L = 7: s = ceil(1.5 * 14) = 21, S = 21 + 28 = 49
    params = PolicyParams(lead_time_days=7)
    below = suggest_min_max(StockPosition(on_hand=15, on_order=5), 2.0, params)
    at = suggest_min_max(StockPosition(on_hand=21), 2.0, params)
    # then
    assert (below.order_up_to, below.quantity) == (49, 29)
    assert at.quantity == 0
    assert dict(below.reasons[0].numbers)["reorder_point"] == 21


def test_min_max_span_in_periods_and_case_pack() -> None:
    # given weekly periods: 100 a week, L = 1 week, span 2 weeks: s = 150, S = 350; position 100
    s = suggest_min_max(StockPosition(on_hand=100), 100.0, PolicyParams(lead_time_days=1, case_pack=40), span_days=2)
    # then 250 -> 280 in cases of 40
    assert (s.order_up_to, s.quantity) == (350, 280)
