"""The replenishment simulator: a hand-played replay, timing against the policy, pooled figures."""

from __future__ import annotations

import math

import pytest

from zhongtai.replenishment.policy import DemandForecast, PolicyParams, StockPosition, suggest
from zhongtai.replenishment.simulation import (
    Decide,
    Outcome,
    lead_time_sampler,
    protection_sum_errors,
    rolling_protection_sd,
    simulate,
    summarize,
)


def up_to(level: int) -> Decide:
    def decide(t: int, p: StockPosition) -> int:
        return max(0, level - p.inventory_position)

    return decide


def test_a_tiny_replay_played_by_hand() -> None:
    # given demand 5, 8, 5, 8, 5, 8; 10 on hand; review every 2 days up to 10; lead time 1 day
    # (an order placed at the end of day t serves from day t + 2):
    #   d0 sell 5 -> 5, order 5 (day 2) | d1 want 8 sell 5 -> 0, lost 3
    #   d2 +5, sell 5 -> 0, order 10 (day 4) | d3 want 8, lost 8
    #   d4 +10, sell 5 -> 5, order 5 (day 6) | d5 want 8 sell 5 -> 0, lost 3
    demand = [5, 8, 5, 8, 5, 8]
    # when
    out = simulate(demand, initial_on_hand=10, review_every=2, decide=up_to(10), lead_time=lambda: 1)
    # then served 25 of 39, three stockout days, closing stock 5 + 0 + 0 + 0 + 5 + 0
    assert out == Outcome(
        periods=6, demanded=39, served=25, stockout_periods=3, on_hand_sum=10, orders=3, ordered_units=20
    )
    assert summarize([out]).fill_rate == pytest.approx(25 / 39)


def test_warmup_periods_are_played_but_not_measured() -> None:
    out = simulate(
        [5, 8, 5, 8, 5, 8],
        initial_on_hand=10,
        review_every=2,
        decide=up_to(10),
        lead_time=lambda: 1,
        warmup=2,
    )
    # days 2..5: wanted 26, sold 15, stockouts on days 3 and 5, closing 0 + 0 + 5 + 0
    assert (out.periods, out.demanded, out.served, out.stockout_periods, out.on_hand_sum) == (4, 26, 15, 2, 5)


def test_order_up_to_covers_exactly_lead_time_plus_review_period() -> None:
    # given certain demand of 10 a day, L = 2, R = 2: the policy's S is 40 and must just suffice
    params = PolicyParams(review_period_days=2, lead_time_days=2)
    forecast = DemandForecast.flat(10.0, 10)

    def policy(t: int, p: StockPosition) -> int:
        return suggest(p, forecast, params).quantity

    demand = [10] * 30
    # when
    out = simulate(demand, initial_on_hand=40, review_every=2, decide=policy, lead_time=lambda: 2)
    # then nothing is lost, and the shelf runs empty at times: one unit less would not do
    assert out.served == out.demanded == 300
    assert out.stockout_periods == 0

    def one_short(t: int, p: StockPosition) -> int:
        return max(0, 39 - p.inventory_position)

    short = simulate(demand, initial_on_hand=40, review_every=2, decide=one_short, lead_time=lambda: 2)
    assert short.stockout_periods > 0


def test_lost_sales_are_not_backordered() -> None:
    # given nothing on hand and no orders, ten days of demand are simply lost
    out = simulate([3] * 10, initial_on_hand=0, review_every=1, decide=lambda t, p: 0, lead_time=lambda: 1)
    assert (out.demanded, out.served, out.stockout_periods) == (30, 0, 10)


def test_negative_demand_is_not_demand() -> None:
    out = simulate([-4, 2], initial_on_hand=5, review_every=1, decide=lambda t, p: 0, lead_time=lambda: 1)
    assert (out.demanded, out.served, out.on_hand_sum) == (2, 2, 5 + 3)


def test_summary_pools_series_before_taking_ratios() -> None:
    # given a big seller served 90 of 100 holding 10 on average, and a slow one 1 of 2 holding 1
    big = Outcome(periods=10, demanded=100, served=90, stockout_periods=2, on_hand_sum=100, orders=3, ordered_units=90)
    slow = Outcome(periods=10, demanded=2, served=1, stockout_periods=1, on_hand_sum=10, orders=1, ordered_units=1)
    s = summarize([big, slow])
    # then fill 91 / 102; on hand 110 over 20 series-days; cover 110 / 102 days
    assert s.fill_rate == pytest.approx(91 / 102)
    assert s.stockout_days == 3
    assert s.stockout_share == pytest.approx(3 / 20)
    assert s.average_inventory == pytest.approx(5.5)
    assert s.inventory_days == pytest.approx(110 / 102)
    assert s.to_json(period_days=7)["inventory_days"] == round(110 / 102 * 7, 2)


def test_lead_time_draws_are_seeded_and_never_negative() -> None:
    a = lead_time_sampler(2.0, 3.0, "s1")
    b = lead_time_sampler(2.0, 3.0, "s1")
    draws = [a() for _ in range(200)]
    assert draws == [b() for _ in range(200)]
    assert min(draws) == 0
    assert max(draws) > 4
    assert {lead_time_sampler(7.0, 0.0, 1)() for _ in range(3)} == {7}


def test_protection_errors_compare_the_forecast_sum_with_actual_demand() -> None:
    # given demand 1..6 and forecasts of the next 2 periods' sum at each period's end
    demand = [1, 2, 3, 4, 5, 6]
    sums: list[float | None] = [4.0, None, 10.0, 8.0, 11.0, 11.0]
    # when
    errors = protection_sum_errors(demand, sums, days=2)
    # then t0: 2 + 3 - 4 = 1; t1 no forecast; t2: 4 + 5 - 10 = -1; t3: 5 + 6 - 8 = 3; t4, t5 lack actuals
    assert errors == [1.0, None, -1.0, 3.0, None, None]


def test_the_protection_sd_uses_only_errors_already_realised() -> None:
    # given the errors above (error t is known at the end of period t + 2)
    errors: list[float | None] = [1.0, None, -1.0, 3.0, None, None]
    # when
    sd = rolling_protection_sd(errors, days=2, min_count=2)
    # then tau 2 knows e0 only (1 error < min 2); tau 4 knows e0, e2: sqrt((1 + 1) / 2) = 1;
    # tau 5 adds e3: sqrt((1 + 1 + 9) / 3)
    assert sd[:4] == [None, None, None, None]
    assert sd[4] == pytest.approx(1.0)
    assert sd[5] == pytest.approx(math.sqrt(11 / 3))
