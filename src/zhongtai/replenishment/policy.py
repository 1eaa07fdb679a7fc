"""Replenishment policy: how many units one SKU at one location should order now.

Pure: plain dataclasses in, a :class:`Suggestion` out. No database; the replenishment service
loads the position and the forecast, calls :func:`suggest` and stores ``Suggestion.to_json()``
beside the suggestion so the console can print its reasoning step by step.

The policy is periodic review, order-up-to (R, S), see ``docs/replenishment.md``:

1. Protection interval ``P = L + R`` days (lead time plus review period): what is ordered now
   arrives after ``L`` days and must last until the next order arrives, ``R`` days later.
2. Expected demand over ``P`` is the sum of the daily forecast means from tomorrow (a fractional
   last day counts pro rata).
3. The daily demand sd comes from the forecast quantiles, ``(p90 - p10) / (2 * 1.2816)`` (or the
   upper half of the band, ``(p90 - mean) / 1.2816``, when that is wider: p10 is clipped at 0
   for slow movers), summed in variance over ``P`` (days treated as independent), plus lead-time
   variability:
   ``sigma^2 = sum(sigma_d^2) + mean_d^2 * sigma_L^2``.
   When the forecast carries an empirical ``protection_sd`` (the measured error of the forecast
   sum over ``protection_sd_days``), ``sigma_P = protection_sd * sqrt(P / protection_sd_days)``
   replaces the summed daily variances: ``sigma^2 = sigma_P^2 + mean_d^2 * sigma_L^2``.
4. ``S = ceil(demand over P + z * sigma)`` with ``z`` from the target cycle service level; the
   safety stock reported is the whole units above the demand, ``S - ceil(demand over P)``.
5. Order ``S - inventory position`` when positive, raised to the MOQ, rounded up to case packs,
   then capped so ``on_hand + on_order + order <= shelf_capacity`` (rounded down to a case pack;
   an order the cap pushes below the MOQ is not placed).

The baseline the simulator compares against, :func:`suggest_min_max`, lives here too so that both
go through the same rounding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from types import MappingProxyType
from typing import Any

# Standard normal quantile of 0.9: (p90 - p10) spans 2 * 1.2816 standard deviations.
Z_P90 = NormalDist().inv_cdf(0.9)
# Float sums such as 0.1 * 3 must not round a whole unit up (ceil(30.000000000000004) = 31).
_EPS = 1e-9

Number = int | float


def _ceil(value: float) -> int:
    return math.ceil(value - _EPS)


def _round_num(value: float, digits: int = 3) -> float:
    return round(value, digits)


class InvalidPolicyInput(ValueError):
    """Bad parameters or forecast; ``fields`` names every offending field with its problem."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in self.fields.items()))


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemandForecast:
    """Daily demand forecast from tomorrow: mean and the 10 % / 90 % quantiles per day."""

    daily_mean: tuple[float, ...]
    daily_p10: tuple[float, ...]
    daily_p90: tuple[float, ...]
    # Optional empirical spread: the sd (root mean square) of the error of the forecast SUM over
    # ``protection_sd_days`` days, measured on rolling-origin backtests of this series. Daily
    # quantiles summed in variance assume independent days; real forecast errors run together
    # (a missed trend is missed every day), so the measured error of the sum is the honest one.
    # When set it replaces the quantile-derived demand variance (lead-time variability still adds).
    protection_sd: float | None = None
    # The interval it was measured over; None means "the policy's protection interval". For any
    # other interval it is scaled by sqrt(P / protection_sd_days).
    protection_sd_days: float | None = None

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        if self.protection_sd is not None and not (math.isfinite(self.protection_sd) and self.protection_sd >= 0):
            problems["protection_sd"] = "must be zero or more"
        if self.protection_sd_days is not None and not (
            math.isfinite(self.protection_sd_days) and self.protection_sd_days > 0
        ):
            problems["protection_sd_days"] = "must be more than zero"
        n = len(self.daily_mean)
        if n == 0:
            problems["daily_mean"] = "empty forecast"
        for name in ("daily_p10", "daily_p90"):
            if len(getattr(self, name)) != n:
                problems[name] = f"length {len(getattr(self, name))} differs from daily_mean ({n})"
        for name in ("daily_mean", "daily_p10", "daily_p90"):
            values: tuple[float, ...] = getattr(self, name)
            if any(not math.isfinite(v) for v in values):
                problems.setdefault(name, "contains NaN or infinity")
        if problems:
            raise InvalidPolicyInput(problems)

    @classmethod
    def flat(cls, mean: float, days: int, sd: float = 0.0) -> DemandForecast:
        """A constant forecast (a normal demand with this daily mean and sd)."""
        half = Z_P90 * sd
        return cls(
            daily_mean=(mean,) * days,
            daily_p10=(max(0.0, mean - half),) * days,
            daily_p90=(mean + half,) * days,
        )


@dataclass(frozen=True)
class PolicyParams:
    review_period_days: int = 7
    service_level: float = 0.95  # target cycle service level: P(no stockout in a cycle)
    lead_time_days: float = 7.0  # supplier (or DC) lead time mean
    lead_time_sd_days: float = 0.0  # its variability
    moq: int = 1  # minimum order quantity
    case_pack: int = 1  # order in multiples of this
    shelf_capacity: int | None = None  # max units the location can hold

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        if self.review_period_days < 1:
            problems["review_period_days"] = "must be at least 1"
        if not 0.0 < self.service_level < 1.0:
            problems["service_level"] = "must be strictly between 0 and 1"
        if not (math.isfinite(self.lead_time_days) and self.lead_time_days >= 0):
            problems["lead_time_days"] = "must be zero or more"
        if not (math.isfinite(self.lead_time_sd_days) and self.lead_time_sd_days >= 0):
            problems["lead_time_sd_days"] = "must be zero or more"
        if self.moq < 1:
            problems["moq"] = "must be at least 1"
        if self.case_pack < 1:
            problems["case_pack"] = "must be at least 1"
        if self.shelf_capacity is not None and self.shelf_capacity < 0:
            problems["shelf_capacity"] = "must be zero or more"
        if problems:
            raise InvalidPolicyInput(problems)

    @property
    def protection_days(self) -> float:
        return self.lead_time_days + self.review_period_days


@dataclass(frozen=True)
class StockPosition:
    on_hand: int
    on_order: int = 0  # open purchase orders / inbound transfers not yet received
    reserved: int = 0  # committed to customer orders / backorders

    @property
    def inventory_position(self) -> int:
        return self.on_hand + self.on_order - self.reserved


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One step of the calculation: a stable code and the numbers it used.

    Codes, in the order they appear: ``forecast`` (days, units), ``forecast_extended`` (days,
    per_day), ``protection_error`` (days, sigma_quantiles, sigma_empirical, measured_sd,
    measured_days: only when the forecast carries an empirical ``protection_sd``),
    ``lead_time_variability`` (sd_days, mean_daily, sigma), ``safety_stock`` (z,
    service_level, sigma, units), ``order_up_to`` (demand, safety_stock, units),
    ``inventory_position`` (on_hand, on_order, reserved, units), ``net_requirement`` (units),
    then for a positive requirement ``moq`` / ``case_pack`` (from, to, and the rule) and
    ``shelf_cap`` (from, to, capacity, room), or ``no_order`` (why). The console renders them.
    """

    code: str
    numbers: Mapping[str, Number | None] = field(hash=False)  # a read-only view: not hashable

    def __init__(self, code: str, numbers: Mapping[str, Number | None]) -> None:
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "numbers", MappingProxyType(dict(numbers)))

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, **self.numbers}


@dataclass(frozen=True)
class Suggestion:
    quantity: int  # 0 when nothing needs ordering
    order_up_to: int  # S
    safety_stock: int
    demand_over_protection: float  # expected demand over lead time + review period
    protection_days: float  # L + R
    inventory_position: int  # on_hand + on_order - reserved
    sigma_protection: float  # demand sd over the protection interval
    reasons: tuple[Reason, ...]

    def reason(self, code: str) -> Reason | None:
        return next((r for r in self.reasons if r.code == code), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "order_up_to": self.order_up_to,
            "safety_stock": self.safety_stock,
            "demand_over_protection": _round_num(self.demand_over_protection),
            "protection_days": self.protection_days,
            "inventory_position": self.inventory_position,
            "sigma_protection": _round_num(self.sigma_protection),
            "reasons": [r.to_json() for r in self.reasons],
        }


# ---------------------------------------------------------------------------------------------
# The policy
# ---------------------------------------------------------------------------------------------


def _daily_sd(mean: float, p10: float, p90: float) -> float:
    """The daily sd read off the 80 % band: ``(p90 - p10) / (2 * 1.2816)``.

    A demand forecast's p10 is clipped at 0, and for slow movers it sits at 0 with p90 a unit or
    two up: the full band then understates the spread (a Poisson day of 0.5 units has sd 0.71,
    its clipped band says 0.39). The upper half, ``(p90 - mean) / 1.2816``, is not clipped, so
    the larger of the two is used; for a symmetric band they agree.
    """
    # Quantile crossing (p90 < p10) would be a forecast bug; no spread is the safe reading.
    full = max(0.0, p90 - p10) / (2.0 * Z_P90)
    upper = max(0.0, p90 - max(0.0, mean)) / Z_P90
    return max(full, upper)


def _over_interval(forecast: DemandForecast, days: float) -> tuple[float, float, list[Reason]]:
    """Expected demand and demand variance over the first ``days`` days (fractional allowed).

    A forecast shorter than the interval is extended with the mean (and variance) of its last
    seven days, and says so, rather than silently under-ordering.
    """
    reasons: list[Reason] = []
    means = list(forecast.daily_mean)
    variances = [
        _daily_sd(m, lo, hi) ** 2
        for m, lo, hi in zip(forecast.daily_mean, forecast.daily_p10, forecast.daily_p90, strict=True)
    ]
    needed = math.ceil(days - _EPS)
    if needed > len(means):
        tail = min(7, len(means))
        per_day = sum(max(0.0, m) for m in means[-tail:]) / tail
        tail_var = sum(variances[-tail:]) / tail
        reasons.append(
            Reason(
                "forecast_extended",
                {"forecast_days": len(means), "days": needed, "per_day": _round_num(per_day)},
            )
        )
        means += [per_day] * (needed - len(means))
        variances += [tail_var] * (needed - len(variances))
    demand = 0.0
    variance = 0.0
    for day in range(needed):
        weight = min(1.0, days - day)
        demand += weight * max(0.0, means[day])  # demand forecasts below zero mean zero
        variance += weight * variances[day]
    return demand, variance, reasons


def _round_order(raw: int, position: StockPosition, params: PolicyParams, reasons: list[Reason]) -> int:
    """MOQ, then case pack, then shelf capacity; each change is a reason."""
    quantity = raw
    if quantity < params.moq:
        reasons.append(Reason("moq", {"from": quantity, "to": params.moq, "moq": params.moq}))
        quantity = params.moq
    if quantity % params.case_pack:
        packed = -(-quantity // params.case_pack) * params.case_pack
        reasons.append(Reason("case_pack", {"from": quantity, "to": packed, "case_pack": params.case_pack}))
        quantity = packed
    if params.shelf_capacity is not None:
        room = params.shelf_capacity - position.on_hand - position.on_order
        if quantity > room:
            capped = max(0, room) // params.case_pack * params.case_pack
            reasons.append(
                Reason(
                    "shelf_cap",
                    {
                        "from": quantity,
                        "to": capped,
                        "capacity": params.shelf_capacity,
                        "room": room,
                        "case_pack": params.case_pack,
                    },
                )
            )
            quantity = capped
            if 0 < quantity < params.moq:
                reasons.append(Reason("no_order", {"below_moq": quantity, "moq": params.moq}))
                quantity = 0
    return quantity


def suggest(position: StockPosition, forecast: DemandForecast, params: PolicyParams) -> Suggestion:
    """Periodic-review order-up-to suggestion for one SKU at one location."""
    protection = params.protection_days
    demand, variance_demand, reasons = _over_interval(forecast, protection)
    reasons.insert(0, Reason("forecast", {"days": protection, "units": _round_num(demand)}))

    if forecast.protection_sd is not None:
        measured_over = forecast.protection_sd_days or protection
        empirical = forecast.protection_sd * math.sqrt(protection / measured_over) if measured_over > 0 else 0.0
        reasons.append(
            Reason(
                "protection_error",
                {
                    "days": protection,
                    "sigma_quantiles": _round_num(math.sqrt(variance_demand)),
                    "sigma_empirical": _round_num(empirical),
                    "measured_sd": _round_num(forecast.protection_sd),
                    "measured_days": measured_over,
                },
            )
        )
        variance_demand = empirical**2
    mean_daily = demand / protection if protection > 0 else 0.0
    variance = variance_demand + (mean_daily * params.lead_time_sd_days) ** 2
    sigma = math.sqrt(variance)
    if params.lead_time_sd_days > 0:
        reasons.append(
            Reason(
                "lead_time_variability",
                {
                    "sd_days": params.lead_time_sd_days,
                    "mean_daily": _round_num(mean_daily),
                    "sigma_demand": _round_num(math.sqrt(variance_demand)),
                    "sigma": _round_num(sigma),
                },
            )
        )
    z = NormalDist().inv_cdf(params.service_level)
    # Below a 50 % service level z is negative; stock below the expected demand is not "safety".
    # One rounding only, S = ceil(demand + z * sigma): rounding the safety stock up first would
    # add up to a unit more, which is a week of stock for a slow mover. The safety stock shown is
    # then the whole units above the demand, S - ceil(demand), so "demand + safety stock" still
    # rounds up to S exactly in the sentence the console prints.
    order_up_to = max(_ceil(demand), _ceil(demand + z * sigma))
    safety_stock = order_up_to - _ceil(demand)
    reasons.append(
        Reason(
            "safety_stock",
            {
                "z": _round_num(z),
                "service_level": params.service_level,
                "sigma": _round_num(sigma),
                "z_sigma": _round_num(z * sigma),
                "units": safety_stock,
            },
        )
    )
    reasons.append(
        Reason(
            "order_up_to",
            {"demand": _round_num(demand), "safety_stock": safety_stock, "units": order_up_to},
        )
    )
    return _finish(
        position,
        params,
        order_up_to=order_up_to,
        safety_stock=safety_stock,
        demand=demand,
        protection=protection,
        sigma=sigma,
        reasons=reasons,
    )


def _finish(
    position: StockPosition,
    params: PolicyParams,
    *,
    order_up_to: int,
    safety_stock: int,
    demand: float,
    protection: float,
    sigma: float,
    reasons: list[Reason],
    reorder_point: int | None = None,
) -> Suggestion:
    ip = position.inventory_position
    reasons.append(
        Reason(
            "inventory_position",
            {
                "on_hand": position.on_hand,
                "on_order": position.on_order,
                "reserved": position.reserved,
                "units": ip,
            },
        )
    )
    raw = order_up_to - ip
    reasons.append(Reason("net_requirement", {"units": raw}))
    if reorder_point is not None and ip >= reorder_point:
        reasons.append(Reason("no_order", {"inventory_position": ip, "reorder_point": reorder_point}))
        quantity = 0
    elif raw <= 0:
        reasons.append(Reason("no_order", {"inventory_position": ip, "order_up_to": order_up_to}))
        quantity = 0
    else:
        quantity = _round_order(raw, position, params, reasons)
    return Suggestion(
        quantity=quantity,
        order_up_to=order_up_to,
        safety_stock=safety_stock,
        demand_over_protection=demand,
        protection_days=protection,
        inventory_position=ip,
        sigma_protection=sigma,
        reasons=tuple(reasons),
    )


# ---------------------------------------------------------------------------------------------
# The min/max baseline
# ---------------------------------------------------------------------------------------------

MIN_MAX_LEAD_FACTOR = 1.5  # s = 1.5 x mean demand over the lead time
MIN_MAX_SPAN_DAYS = 14  # S = s + 14 days of mean demand


def suggest_min_max(
    position: StockPosition,
    mean_daily_demand: float,
    params: PolicyParams,
    *,
    span_days: float = MIN_MAX_SPAN_DAYS,
) -> Suggestion:
    """The classic min/max rule a store runs without a forecast (the simulator's baseline).

    ``s = ceil(1.5 * mean_daily * L)``, ``S = s + ceil(14 * mean_daily)``, with ``mean_daily``
    the trailing average of actual sales (``span_days`` replaces the 14 when a period is not a
    day, e.g. 2 for weekly data). When the inventory position is below ``s``, order up to
    ``S`` (then MOQ, case pack and shelf cap as in :func:`suggest`); otherwise order nothing.
    ``review_period_days``, ``service_level`` and ``lead_time_sd_days`` are not used.
    """
    mean = max(0.0, mean_daily_demand)
    reorder_point = _ceil(MIN_MAX_LEAD_FACTOR * mean * params.lead_time_days)
    order_up_to = reorder_point + _ceil(span_days * mean)
    reasons = [
        Reason(
            "min_max",
            {
                "mean_daily": _round_num(mean),
                "lead_time_days": params.lead_time_days,
                "span_days": span_days,
                "reorder_point": reorder_point,
                "order_up_to": order_up_to,
            },
        )
    ]
    return _finish(
        position,
        params,
        order_up_to=order_up_to,
        safety_stock=max(0, reorder_point - _ceil(mean * params.lead_time_days)),
        demand=mean * params.lead_time_days,
        protection=params.lead_time_days,
        sigma=0.0,
        reasons=reasons,
        reorder_point=reorder_point,
    )
