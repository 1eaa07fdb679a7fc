"""DC to store allocation when the DC is short, and rebalancing transfers for unevenly placed stock.

Pure: plain dataclasses in, plain results out; the replenishment service loads needs and stock
and turns the results into transfer orders. Both functions are deterministic: the same input
always gives the same output, whatever the input order (ties break on location codes).

Allocation (:func:`allocate`): when the DC holds at least the sum of the stores' needs, every
store gets its need. Otherwise each store gets ``floor(available * need / total need)`` (a fair
share in proportion to need), and the units left over by the rounding go one at a time to the
stores with the highest priority, then the largest rounding remainder, then the lowest code.

Rebalancing (:func:`rebalance`), 偏仓: within one region, a location whose cover (on hand / mean
daily demand) is above ``high_cover_days`` may give everything above ``target_cover_days`` of
cover, and a location below ``low_cover_days`` may receive up to ``target_cover_days`` of cover.
Greedy, cheapest first: candidate (sender, receiver) pairs are taken in order of transfer cost
(distance by default), and each pair moves as much as both sides allow, rounded down to a
``pack``; a move smaller than ``min_move`` is not made. Greedy is not the min-cost optimum when
senders compete for receivers, but every move it proposes is explainable on its own ("nearest
over-stocked location"), which is what a planner approves or edits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from zhongtai.replenishment.policy import InvalidPolicyInput

_EPS = 1e-9


@dataclass(frozen=True)
class StoreNeed:
    location: str  # store code
    need: int  # units the store's suggestion asks of the DC
    priority: int = 0  # higher is served first with the units left after fair shares


def allocate(dc_available: int, needs: Sequence[StoreNeed]) -> dict[str, int]:
    """Split the DC's available units among stores; every store in ``needs`` gets a key.

    Never more than a store needs, never more than the DC has in total, integer units.
    """
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for n in needs:
        if n.location in seen:
            problems[f"needs.{n.location}"] = "location listed twice"
        seen.add(n.location)
        if n.need < 0:
            problems[f"needs.{n.location}.need"] = "must be zero or more"
    if problems:
        raise InvalidPolicyInput(problems)

    available = max(0, dc_available)
    total = sum(n.need for n in needs)
    if total <= available:
        return {n.location: n.need for n in needs}

    shares: dict[str, int] = {}
    remainders: dict[str, int] = {}
    for n in needs:
        # Integer arithmetic: floor and remainder of available * need / total, exactly.
        shares[n.location], remainders[n.location] = divmod(available * n.need, total)
    left = available - sum(shares.values())
    # left < number of stores with a positive need (the remainders sum to less than `total`
    # per store), so one extra unit each never overshoots a store's need.
    order = sorted(
        (n for n in needs if n.need > shares[n.location]),
        key=lambda n: (-n.priority, -remainders[n.location], n.location),
    )
    for n in order[:left]:
        shares[n.location] += 1
    return shares


@dataclass(frozen=True)
class LocationStock:
    location: str
    region: str
    on_hand: int
    daily_demand: float  # forecast (or trailing) mean units per day

    @property
    def cover_days(self) -> float:
        if self.daily_demand <= 0:
            return math.inf if self.on_hand > 0 else 0.0
        return self.on_hand / self.daily_demand


@dataclass(frozen=True)
class Move:
    source: str
    target: str
    quantity: int
    cost: float  # the transfer cost (distance) the greedy rule ordered by
    source_cover_days: float  # cover before any move, for the reasoning shown to the planner
    target_cover_days: float


def rebalance(
    stock: Sequence[LocationStock],
    *,
    high_cover_days: float = 42.0,
    low_cover_days: float = 10.0,
    target_cover_days: float | None = None,
    min_move: int = 1,
    pack: int = 1,
    cost: Callable[[str, str], float] | Mapping[tuple[str, str], float] | None = None,
) -> list[Move]:
    """Transfers from over-covered to under-covered locations of the same region.

    ``target_cover_days`` defaults to the midpoint of the two thresholds. ``cost(source, target)``
    (a function or a mapping; a missing pair is not allowed to move) orders the pairs; without it
    every pair costs 0 and larger surpluses go first. Moves are returned in the order chosen.
    """
    target_days = (high_cover_days + low_cover_days) / 2 if target_cover_days is None else target_cover_days
    problems: dict[str, str] = {}
    if low_cover_days < 0:
        problems["low_cover_days"] = "must be zero or more"
    if high_cover_days <= low_cover_days:
        problems["high_cover_days"] = "must be above low_cover_days"
    if not low_cover_days <= target_days <= high_cover_days:
        problems["target_cover_days"] = "must lie between low_cover_days and high_cover_days"
    if min_move < 1:
        problems["min_move"] = "must be at least 1"
    if pack < 1:
        problems["pack"] = "must be at least 1"
    codes = [s.location for s in stock]
    if len(set(codes)) != len(codes):
        problems["stock"] = "a location is listed twice"
    if problems:
        raise InvalidPolicyInput(problems)

    def pair_cost(source: str, target: str) -> float | None:
        if cost is None:
            return 0.0
        if callable(cost):
            return float(cost(source, target))
        value = cost.get((source, target))
        return None if value is None else float(value)

    surplus: dict[str, int] = {}
    deficit: dict[str, int] = {}
    for s in stock:
        cover = s.cover_days
        if cover > high_cover_days:
            surplus[s.location] = s.on_hand - math.ceil(target_days * s.daily_demand - _EPS)
        elif cover < low_cover_days and s.daily_demand > 0:
            deficit[s.location] = math.ceil(target_days * s.daily_demand - _EPS) - s.on_hand

    by_code = {s.location: s for s in stock}
    regions: dict[str, list[LocationStock]] = defaultdict(list)
    for s in stock:
        regions[s.region].append(s)

    moves: list[Move] = []
    for region in sorted(regions):
        members = regions[region]
        pairs: list[tuple[float, int, int, str, str]] = []
        for src in members:
            if surplus.get(src.location, 0) <= 0:
                continue
            for dst in members:
                if deficit.get(dst.location, 0) <= 0:
                    continue
                c = pair_cost(src.location, dst.location)
                if c is None:
                    continue
                pairs.append((c, -surplus[src.location], -deficit[dst.location], src.location, dst.location))
        for c, _, _, src_code, dst_code in sorted(pairs):
            quantity = min(surplus[src_code], deficit[dst_code]) // pack * pack
            if quantity < min_move or quantity <= 0:
                continue
            surplus[src_code] -= quantity
            deficit[dst_code] -= quantity
            moves.append(
                Move(
                    source=src_code,
                    target=dst_code,
                    quantity=quantity,
                    cost=c,
                    source_cover_days=by_code[src_code].cover_days,
                    target_cover_days=by_code[dst_code].cover_days,
                )
            )
    return moves
