"""Replaying demand through a replenishment rule, one location and SKU at a time.

Pure and deterministic for a given lead-time draw: ``bench/replenishment_sim.py`` feeds it
held-back demand and two rules (the forecast-driven :func:`~zhongtai.replenishment.policy.suggest`
and the min/max baseline) and aggregates the outcomes.

One period (a day for the demo, a week for Walmart) runs in this order:

1. receive every order whose arrival period is this one;
2. serve demand from on hand; what cannot be served is lost (no backorders: a customer who
   finds the shelf empty buys elsewhere), and the period counts as a stockout period;
3. record the closing on hand (the inventory figures average it);
4. on a review period, ask the rule for an order given the closing position; with a lead time
   of ``L`` periods it is received at the end of period ``t + L`` and serves demand from period
   ``t + L + 1`` on (``L`` periods of demand pass while it travels).

A rule sees the position at the end of period ``t`` and forecasts from ``t + 1``; the next order,
placed at ``t + R``, serves from ``t + R + L + 1``, so this position must last through periods
``t + 1 .. t + L + R``: exactly the policy's protection interval, no day more or less (a unit
test pins that down).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from zhongtai.replenishment.policy import StockPosition

# decide(period, position) -> units to order now (0 for none).
Decide = Callable[[int, StockPosition], int]


@dataclass(frozen=True)
class Outcome:
    """What one series did over the measured periods."""

    periods: int
    demanded: int
    served: int
    stockout_periods: int  # periods with unmet demand
    on_hand_sum: int  # sum of closing on hand over the periods (average = sum / periods)
    orders: int  # orders placed
    ordered_units: int

    @property
    def lost(self) -> int:
        return self.demanded - self.served


def lead_time_sampler(mean: float, sd: float, seed: int | str) -> Callable[[], int]:
    """Lead times in whole periods from a normal distribution, rounded, never negative (seeded)."""
    rng = random.Random(seed)

    def draw() -> int:
        value = rng.gauss(mean, sd) if sd > 0 else mean
        return max(0, round(value))

    return draw


def simulate(
    demand: Sequence[int],
    *,
    initial_on_hand: int,
    review_every: int,
    decide: Decide,
    lead_time: Callable[[], int],
    warmup: int = 0,
    first_review: int = 0,
) -> Outcome:
    """Run ``demand`` (units per period) through ``decide``; periods before ``warmup`` are played
    but not measured (they mostly show the initial stock, not the rule)."""
    if review_every < 1:
        raise ValueError("review_every must be at least 1")
    on_hand = initial_on_hand
    arrivals: dict[int, int] = {}
    on_order = 0
    demanded = served = stockouts = on_hand_sum = orders = ordered_units = 0
    for t, wanted in enumerate(demand):
        arriving = arrivals.pop(t, 0)
        on_hand += arriving
        on_order -= arriving
        wanted = max(0, wanted)  # returns are not demand
        sold = min(on_hand, wanted)
        on_hand -= sold
        if t >= warmup:
            demanded += wanted
            served += sold
            stockouts += sold < wanted
            on_hand_sum += on_hand
        if t >= first_review and (t - first_review) % review_every == 0:
            quantity = decide(t, StockPosition(on_hand=on_hand, on_order=on_order))
            if quantity > 0:
                due = t + max(0, lead_time()) + 1
                arrivals[due] = arrivals.get(due, 0) + quantity
                on_order += quantity
                orders += 1
                ordered_units += quantity
    return Outcome(
        periods=max(0, len(demand) - warmup),
        demanded=demanded,
        served=served,
        stockout_periods=stockouts,
        on_hand_sum=on_hand_sum,
        orders=orders,
        ordered_units=ordered_units,
    )


@dataclass(frozen=True)
class Summary:
    series: int
    fill_rate: float  # units served / units demanded, over all series
    stockout_days: int  # series-periods with unmet demand
    stockout_share: float  # of all series-periods
    average_inventory: float  # mean closing on hand per series and period
    inventory_days: float  # average on hand / average demand per period, over all series
    orders: int

    def to_json(self, period_days: int = 1) -> dict[str, float | int]:
        """Figures; ``period_days`` converts per-period cover into days (7 for weekly data)."""
        return {
            "series": self.series,
            "fill_rate": round(self.fill_rate, 4),
            "stockout_days": self.stockout_days,
            "stockout_share": round(self.stockout_share, 4),
            "average_inventory": round(self.average_inventory, 2),
            "inventory_days": round(self.inventory_days * period_days, 2),
            "orders": self.orders,
        }


def summarize(outcomes: Iterable[Outcome]) -> Summary:
    """Pooled figures: totals over all series first, then the ratios (big sellers weigh more)."""
    items = list(outcomes)
    demanded = sum(o.demanded for o in items)
    served = sum(o.served for o in items)
    periods = sum(o.periods for o in items)
    on_hand = sum(o.on_hand_sum for o in items)
    # Average on hand and average demand per period over the same series-periods.
    inventory_days = on_hand / demanded if demanded else (math.inf if on_hand else 0.0)
    return Summary(
        series=len(items),
        fill_rate=served / demanded if demanded else 1.0,
        stockout_days=sum(o.stockout_periods for o in items),
        stockout_share=sum(o.stockout_periods for o in items) / periods if periods else 0.0,
        average_inventory=on_hand / periods if periods else 0.0,
        inventory_days=inventory_days,
        orders=sum(o.orders for o in items),
    )


def protection_sum_errors(
    demand: Sequence[float], forecast_sums: Sequence[float | None], days: int
) -> list[float | None]:
    """Rolling-origin errors of the forecast SUM over the next ``days`` periods.

    ``forecast_sums[t]`` is what the forecast in force at the end of period ``t`` expected for
    periods ``t + 1 .. t + days`` (None when there was none); the error is the actual demand over
    those periods minus it. Periods too close to the end to have ``days`` of actuals get None.
    """
    errors: list[float | None] = []
    for t, expected in enumerate(forecast_sums):
        window = demand[t + 1 : t + 1 + days]
        if expected is None or len(window) < days:
            errors.append(None)
        else:
            errors.append(float(sum(window)) - expected)
    return errors


def rolling_protection_sd(errors: Sequence[float | None], days: int, min_count: int = 1) -> list[float | None]:
    """For each period ``tau``: the root mean square of every error already realised by its end.

    ``errors[t]`` covers periods ``t + 1 .. t + days``, so it is known at the end of period
    ``t + days``; the decision at ``tau`` may use ``errors[0 .. tau - days]`` (never a future
    one). Root mean square, not the sd around the mean error: a biased forecast is exactly the
    risk the safety stock must cover. None until ``min_count`` errors are known.
    """
    out: list[float | None] = []
    squares = 0.0
    count = 0
    for tau in range(len(errors)):
        known = errors[tau - days] if tau >= days else None
        if known is not None:
            squares += known * known
            count += 1
        out.append(math.sqrt(squares / count) if count >= min_count else None)
    return out
