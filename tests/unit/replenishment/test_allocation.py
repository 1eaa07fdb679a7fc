"""DC to store allocation and rebalancing transfers (pure). No database."""

from __future__ import annotations

import random

import pytest

from zhongtai.replenishment.allocation import LocationStock, Move, StoreNeed, allocate, rebalance
from zhongtai.replenishment.policy import InvalidPolicyInput


def test_enough_stock_gives_every_store_its_need() -> None:
    needs = [StoreNeed("S1", 6), StoreNeed("S2", 3), StoreNeed("S3", 0)]
    assert allocate(20, needs) == {"S1": 6, "S2": 3, "S3": 0}


def test_scarce_stock_is_shared_in_proportion_to_need() -> None:
    # given 7 units for needs 6, 3, 1 (total 10): floors 4.2 -> 4, 2.1 -> 2, 0.7 -> 0; one unit left
    needs = [StoreNeed("S1", 6), StoreNeed("S2", 3), StoreNeed("S3", 1)]
    # when
    shares = allocate(7, needs)
    # then the left-over unit goes to the largest remainder (S3, 0.7)
    assert shares == {"S1": 4, "S2": 2, "S3": 1}


def test_priority_takes_the_left_over_units_first() -> None:
    needs = [StoreNeed("S1", 6), StoreNeed("S2", 3, priority=1), StoreNeed("S3", 1)]
    assert allocate(7, needs) == {"S1": 4, "S2": 3, "S3": 0}


def test_exact_shares_need_no_rounding() -> None:
    assert allocate(50, [StoreNeed("A", 40), StoreNeed("B", 60)]) == {"A": 20, "B": 30}


def test_nothing_available_gives_nothing() -> None:
    assert allocate(0, [StoreNeed("A", 4), StoreNeed("B", 2)]) == {"A": 0, "B": 0}
    assert allocate(-3, [StoreNeed("A", 4)]) == {"A": 0}


def test_ties_break_on_the_code_whatever_the_input_order() -> None:
    # given 1 unit for two identical needs
    a = allocate(1, [StoreNeed("B", 1), StoreNeed("A", 1)])
    b = allocate(1, [StoreNeed("A", 1), StoreNeed("B", 1)])
    assert a == b == {"A": 1, "B": 0}


def test_never_more_than_needed_or_available_on_random_cases() -> None:
    rng = random.Random(5)
    for _ in range(500):
        needs = [StoreNeed(f"S{i}", rng.randint(0, 30), rng.randint(0, 2)) for i in range(rng.randint(1, 8))]
        available = rng.randint(0, 120)
        shares = allocate(available, needs)
        assert sum(shares.values()) == min(available, sum(n.need for n in needs))
        assert all(0 <= shares[n.location] <= n.need for n in needs)


def test_bad_needs_are_named() -> None:
    with pytest.raises(InvalidPolicyInput) as caught:
        allocate(5, [StoreNeed("A", -1), StoreNeed("B", 1), StoreNeed("B", 2)])
    assert set(caught.value.fields) == {"needs.A.need", "needs.B"}


# --------------------------------------------------------------------------------- rebalancing


def test_over_covered_store_sends_to_an_under_covered_one_in_its_region() -> None:
    # given X holds 100 days of cover and Y 2 days, thresholds 42 / 10, target 26 days
    stock = [LocationStock("X", "east", 100, 1.0), LocationStock("Y", "east", 2, 1.0)]
    # when
    moves = rebalance(stock)
    # then X keeps 26, Y is filled to 26: 24 units move
    assert moves == [Move("X", "Y", 24, 0.0, 100.0, 2.0)]


def test_no_moves_across_regions() -> None:
    stock = [LocationStock("X", "east", 100, 1.0), LocationStock("Y", "west", 2, 1.0)]
    assert rebalance(stock) == []


def test_nearest_sender_goes_first() -> None:
    # given two over-stocked senders and one receiver that needs 24
    stock = [
        LocationStock("FAR", "east", 100, 1.0),
        LocationStock("NEAR", "east", 100, 1.0),
        LocationStock("Y", "east", 2, 1.0),
    ]
    distance = {("FAR", "Y"): 300.0, ("NEAR", "Y"): 12.0}
    # when
    moves = rebalance(stock, cost=distance)
    # then
    assert [(m.source, m.target, m.quantity, m.cost) for m in moves] == [("NEAR", "Y", 24, 12.0)]


def test_one_sender_spreads_over_receivers_by_cost_until_it_runs_dry() -> None:
    # given X can give 100 - 26 = 74; A needs 26 - 0 = 26, B 26, C 26 (total 78)
    stock = [
        LocationStock("X", "east", 100, 1.0),
        LocationStock("A", "east", 0, 1.0),
        LocationStock("B", "east", 0, 1.0),
        LocationStock("C", "east", 0, 1.0),
    ]
    moves = rebalance(stock, cost=lambda s, t: {"A": 3.0, "B": 1.0, "C": 2.0}[t])
    # then B, C get 26 each and A the 22 left
    assert [(m.target, m.quantity) for m in moves] == [("B", 26), ("C", 26), ("A", 22)]


def test_moves_below_the_minimum_are_not_made_and_packs_round_down() -> None:
    stock = [LocationStock("X", "east", 100, 1.0), LocationStock("Y", "east", 23, 1.0)]  # Y cover 23: fine
    assert rebalance(stock) == []
    stock = [LocationStock("X", "east", 100, 1.0), LocationStock("Y", "east", 9, 1.0)]  # Y needs 17
    assert rebalance(stock, min_move=20) == []
    assert [m.quantity for m in rebalance(stock, pack=5)] == [15]


def test_stock_where_nothing_sells_is_all_surplus() -> None:
    stock = [LocationStock("DEAD", "east", 30, 0.0), LocationStock("Y", "east", 0, 2.0)]
    # Y's target is 26 * 2 = 52; DEAD gives all 30
    assert [(m.source, m.quantity) for m in rebalance(stock)] == [("DEAD", 30)]


def test_bad_rebalancing_parameters_are_named() -> None:
    with pytest.raises(InvalidPolicyInput) as caught:
        rebalance([], high_cover_days=5, low_cover_days=10, min_move=0, pack=0)
    assert {"high_cover_days", "min_move", "pack"} <= set(caught.value.fields)
