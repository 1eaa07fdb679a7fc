"""The points rules as plain functions: earn amounts by tier, lot expiry, tier choice, clawback
proportions, debt before lots, tier table validation. No database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from zhongtai.members.points import (
    DEFAULT_TIERS,
    EXPIRY_YEARS_AFTER,
    TierSpec,
    choose_tier,
    clawback_points,
    credit_to_lots,
    earn_points,
    expiry_of,
    last_valid_day,
    tier_after,
    tier_problems,
)

REGULAR, SILVER, GOLD, BLACK = DEFAULT_TIERS


@pytest.mark.parametrize(
    ("paid_fen", "rate", "points"),
    [
        (10_000, 100, 100),  # ¥100 at 1 point per yuan
        (9_999, 100, 99),  # rounded down
        (9_999, 110, 109),  # one rounding of the exact product (not 99 × 1.1 = 108)
        (10_000, 125, 125),
        (123_456, 150, 1_851),
        (99, 100, 0),  # under one yuan earns nothing
        (10_000, 0, 0),
        (-500, 100, 0),
    ],
)
def test_points_earned_are_paid_yuan_times_the_tier_rate_rounded_down(paid_fen: int, rate: int, points: int) -> None:
    assert earn_points(paid_fen, rate) == points


def test_the_default_tiers_earn_more_the_higher_they_are() -> None:
    assert [t.code for t in DEFAULT_TIERS] == ["regular", "silver", "gold", "black"]
    assert [t.name_zh for t in DEFAULT_TIERS] == ["普通会员", "银卡", "金卡", "黑金"]
    assert [earn_points(100_000, t.earn_rate) for t in DEFAULT_TIERS] == [1_000, 1_100, 1_250, 1_500]
    assert [t.min_spend_fen for t in DEFAULT_TIERS] == [0, 200_000, 1_000_000, 5_000_000]


def test_a_lot_lives_until_the_end_of_the_next_calendar_year_in_shanghai() -> None:
    # Earned on 1 March 2026 (Shanghai): valid through 31 December 2027.
    expires = expiry_of(datetime(2026, 3, 1, 4, 0, tzinfo=UTC))
    assert expires == datetime(2027, 12, 31, 16, 0, tzinfo=UTC)  # 2028-01-01 00:00 +08:00
    assert last_valid_day(expires) == date(2027, 12, 31)
    # 31 Dec 2025 20:00 UTC is already 1 January 2026 in Shanghai: a 2026 lot.
    assert expiry_of(datetime(2025, 12, 31, 20, 0, tzinfo=UTC)) == expires
    # ... while 31 Dec 2025 15:59 UTC is still 2025 there.
    assert last_valid_day(expiry_of(datetime(2025, 12, 31, 15, 59, tzinfo=UTC))) == date(2026, 12, 31)
    assert EXPIRY_YEARS_AFTER == 1


def test_the_expiry_rule_is_configurable() -> None:
    earned = datetime(2026, 6, 1, tzinfo=UTC)
    assert last_valid_day(expiry_of(earned, years_after=0)) == date(2026, 12, 31)
    assert last_valid_day(expiry_of(earned, years_after=2)) == date(2028, 12, 31)
    with pytest.raises(ValueError, match="naive"):
        expiry_of(datetime(2026, 6, 1))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    ("spend", "code"),
    [
        (0, "regular"),
        (199_999, "regular"),
        (200_000, "silver"),
        (999_999, "silver"),
        (1_000_000, "gold"),
        (10**9, "black"),
    ],
)
def test_the_tier_is_the_highest_whose_threshold_the_spend_reaches(spend: int, code: str) -> None:
    tier = choose_tier(DEFAULT_TIERS, spend)
    assert tier is not None
    assert tier.code == code


def test_tier_choice_follows_rank_not_list_order_and_the_next_tier_is_one_rank_up() -> None:
    shuffled = [BLACK, REGULAR, GOLD, SILVER]
    assert choose_tier(shuffled, 1_500_000) == GOLD
    assert tier_after(shuffled, GOLD) == BLACK
    assert tier_after(shuffled, BLACK) is None
    assert tier_after(shuffled, None) == REGULAR
    assert choose_tier([], 100) is None
    # Nobody falls below the lowest tier, whatever its threshold.
    assert choose_tier([replace(SILVER, rank=0)], 0) == replace(SILVER, rank=0)


def test_refunds_take_back_points_in_proportion_and_in_total_exactly_what_was_earned() -> None:
    # Earned 99 points on ¥99.99. Half refunded, then the rest.
    back1, counted1 = clawback_points(99, 9_999, 9_999, 5_000, 0)
    assert (back1, counted1) == (50, 5_000)
    back2, counted2 = clawback_points(99, 9_999, 4_999, 4_999, back1)
    assert (back2, counted2) == (49, 4_999)
    # A refund beyond what is still paid counts only what is left, and takes nothing more.
    assert clawback_points(99, 9_999, 0, 1_000, 99) == (0, 0)
    # Many small refunds: never more than earned in total.
    taken, net = 0, 10_000
    for _ in range(10):
        back, counted = clawback_points(110, 10_000, net, 999, taken)
        taken, net = taken + back, net - counted
    back, counted = clawback_points(110, 10_000, net, net, taken)
    assert taken + back == 110
    assert net - counted == 0
    # An order that earned nothing takes nothing back.
    assert clawback_points(0, 50, 50, 50, 0) == (0, 50)


def test_a_credit_pays_a_negative_balance_before_it_fills_a_lot() -> None:
    assert credit_to_lots(0, 100) == 100
    assert credit_to_lots(250, 100) == 100
    assert credit_to_lots(-30, 100) == 70
    assert credit_to_lots(-300, 100) == 0


def test_a_valid_tier_table_has_no_problems() -> None:
    assert tier_problems(list(DEFAULT_TIERS)) == []


def test_every_problem_of_a_tier_table_is_named_by_field() -> None:
    table = [
        TierSpec("regular", "普通会员", "Regular", 100, 100, 0),  # lowest tier must start at 0
        TierSpec("silver", "银卡", "Silver", 200_000, 1_200, 1),  # earn rate out of range
        TierSpec("silver", "", "Gold", 150_000, 125, 2),  # duplicate code, no zh name, lower threshold than rank 1
        TierSpec("black", "黑金", "Black", 5_000_000, 150, 2),  # duplicate rank
    ]
    found = {(p.field, p.code) for p in tier_problems(table)}
    assert found == {
        ("body.tiers.0.min_spend_fen", "not_zero"),
        ("body.tiers.1.earn_rate", "out_of_range"),
        ("body.tiers.2.code", "duplicate"),
        ("body.tiers.2.name_zh", "blank"),
        ("body.tiers.2.min_spend_fen", "not_increasing"),
        ("body.tiers.3.rank", "duplicate"),
    }
    assert [p.field for p in tier_problems([])] == ["body.tiers"]
