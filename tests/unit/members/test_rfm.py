"""RFM scoring and segments on small frames (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from zhongtai.members.stats import (
    SEGMENTS,
    preferred_store,
    score_frame,
    segment_of,
    spend_12m,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _frame(rows: list[tuple[int, int, int, int]]) -> pl.DataFrame:
    """(member_id, days since last order, orders, net spend fen)."""
    return pl.DataFrame(
        [(m, NOW - timedelta(days=d), f, money) for m, d, f, money in rows],
        schema={
            "member_id": pl.Int64,
            "last_order_at": pl.Datetime("us", "UTC"),
            "orders_count": pl.Int64,
            "monetary_fen": pl.Int64,
        },
        orient="row",
    )


def _by_member(frame: pl.DataFrame) -> dict[int, dict[str, object]]:
    return {row["member_id"]: row for row in frame.iter_rows(named=True)}


def test_quintiles_score_five_distinct_members_one_to_five() -> None:
    # Given five members, each better than the last on every measure
    frame = _frame([(1, 400, 1, 1_000), (2, 200, 2, 5_000), (3, 90, 3, 20_000), (4, 30, 5, 80_000), (5, 2, 9, 300_000)])
    # When scored
    out = _by_member(score_frame(frame, NOW))
    # Then scores run 1..5 with the most recent, frequent and valuable on top
    assert [out[m]["r_score"] for m in range(1, 6)] == [1, 2, 3, 4, 5]
    assert [out[m]["f_score"] for m in range(1, 6)] == [1, 2, 3, 4, 5]
    assert [out[m]["m_score"] for m in range(1, 6)] == [1, 2, 3, 4, 5]
    assert out[5]["recency_days"] == 2
    # Mean of each score is 3: only 4 and 5 are "high"
    assert out[5]["segment"] == "champions"
    assert out[4]["segment"] == "champions"
    assert out[3]["segment"] == "lost"
    assert out[1]["segment"] == "lost"


def test_ties_share_a_score_and_a_uniform_population_scores_three() -> None:
    frame = _frame([(m, 10, 1, 10_000) for m in range(1, 11)])
    out = score_frame(frame, NOW)
    assert set(out["r_score"].to_list()) == {3}
    assert set(out["f_score"].to_list()) == {3}
    assert set(out["m_score"].to_list()) == {3}
    # Nobody is above the mean: all "general win-back"
    assert set(out["segment"].to_list()) == {"lost"}


def test_each_of_the_eight_segments_is_reachable() -> None:
    # Given two tiers per measure (recent/old, frequent/rare, big/small spenders), eight members
    rows = []
    for i, (r, f, m) in enumerate(
        [(a, b, c) for a in (True, False) for b in (True, False) for c in (True, False)], start=1
    ):
        rows.append((i, 5 if r else 300, 10 if f else 1, 900_000 if m else 1_000))
    out = _by_member(score_frame(_frame(rows), NOW))
    # Then each member lands in the segment of its (R, F, M) highs
    expected = {
        1: "champions",
        2: "loyal",
        3: "potential",
        4: "newcomers",
        5: "at_risk",
        6: "hibernating",
        7: "cant_lose",
        8: "lost",
    }
    assert {m: out[m]["segment"] for m in out} == expected


def test_segment_table_has_zh_and_en_names_for_all_eight() -> None:
    assert len(SEGMENTS) == 8
    assert SEGMENTS["champions"].name_zh == "重要价值客户"
    assert SEGMENTS["cant_lose"].name_zh == "重要挽留客户"
    assert SEGMENTS["lost"].name_zh == "一般挽留客户"
    assert all(s.name_zh and s.name_en for s in SEGMENTS.values())
    flags = {(s.r_high, s.f_high, s.m_high) for s in SEGMENTS.values()}
    assert len(flags) == 8
    assert segment_of(True, False, True) == "potential"


def test_empty_frame_scores_nobody() -> None:
    assert score_frame(_frame([]), NOW).is_empty()


def test_twelve_month_spend_counts_this_month_and_the_eleven_before() -> None:
    by_month = {"2025-11": 100, "2025-12": 200, "2026-06": 300, "2026-11": 400}
    # November 2026 in Shanghai: December 2025 .. November 2026
    assert spend_12m(by_month, NOW) == 900
    # A month later, December 2025 drops out
    assert spend_12m(by_month, datetime(2027, 1, 5, tzinfo=UTC)) == 700


def test_preferred_store_is_most_orders_then_most_recent() -> None:
    assert preferred_store({}) is None
    assert preferred_store({"7": 3, "9": 1}) == 7
    newer = {"7": NOW - timedelta(days=30), "9": NOW}
    assert preferred_store({"7": 2, "9": 2}, newer) == 9
    # Without dates, ties go to the lowest id (stable reruns)
    assert preferred_store({"7": 2, "9": 2}) == 7
