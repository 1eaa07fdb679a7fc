"""The five maturity indicators over a hand-built lake, every component worked out by hand.

Main month: November 2026 (as of 2026-11-30, 30 days, no pro rata). Touchpoints:

* T1 WEB   online, active, connected 01-10, factors goods+marketing, ¥1,000/month, beats daily,
           registered 01-08 00:00, first event 01-10 00:00 (2 days)
* T2 CAM   offline at store 10, active, connected 11-16, retail+service, ¥500/month, beats daily,
           registered 11-01, first event 11-11 (10 days)
* T3 PAD   commercial at store 11, paused (never active), brand, ¥300/month, connected 2025-06
* T4 GRP   social, active, connected 12-02 (not yet in November), channel, ¥200/month,
           registered 11-20, first event 12-02 (12 days)

Stores: 10, 11, 12 (20 is a warehouse).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from zhongtai.analytics.lake import Lake
from zhongtai.analytics.maturity import (
    FACTORS,
    add_months,
    maturity,
    month_end,
    trend_points,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 5, tzinfo=UTC)
DAY_S = 86400


def local(month: int, day: int, hour: int = 12, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH).astimezone(UTC)


def tp(tid: int, code: str, type_: str, kind: str, status: str, **extra: object) -> dict[str, object]:
    return {
        "touchpoint_id": tid,
        "code": code,
        "name": code,
        "type": type_,
        "kind": kind,
        "status": status,
        "heartbeat_interval_s": DAY_S,
        **extra,
    }


def build(root: Path) -> Lake:
    lake = Lake(root)
    lake.replace(
        "touchpoints",
        pl.DataFrame(
            [
                tp(
                    1,
                    "WEB",
                    "online",
                    "web_shop",
                    "active",
                    connected_on=date(2026, 1, 10),
                    factors="goods,marketing",
                    cost_fen_month=100_000,
                    created_at=local(1, 8, 0),
                    first_event_at=local(1, 10, 0),
                ),
                tp(
                    2,
                    "CAM",
                    "offline",
                    "camera",
                    "active",
                    location_id=10,
                    connected_on=date(2026, 11, 16),
                    factors="retail,service",
                    cost_fen_month=50_000,
                    created_at=local(11, 1, 0),
                    first_event_at=local(11, 11, 0),
                ),
                tp(
                    3,
                    "PAD",
                    "commercial",
                    "interactive_screen",
                    "paused",
                    location_id=11,
                    connected_on=date(2025, 6, 5),
                    factors="brand",
                    cost_fen_month=30_000,
                    created_at=local(6, 1, 0, year=2025),
                    first_event_at=local(6, 5, 0, year=2025),
                ),
                tp(
                    4,
                    "GRP",
                    "social",
                    "wechat_group",
                    "active",
                    connected_on=date(2026, 12, 2),
                    factors="channel",
                    cost_fen_month=20_000,
                    created_at=local(11, 20, 0),
                    first_event_at=local(12, 2, 0),
                ),
            ]
        ),
    )
    lake.replace(
        "locations",
        pl.DataFrame(
            {
                "location_id": [10, 11, 12, 20],
                "code": ["S10", "S11", "S12", "W20"],
                "type": ["store", "store", "store", "warehouse"],
            }
        ),
    )
    beats: list[tuple[int, datetime, str, int]] = []
    # T1: November 1..24 at noon; 20 at 500 ms, the last 4 at 1500 ms; nothing 25..30
    beats += [(1, local(11, d), "ok", 500 if d <= 20 else 1500) for d in range(1, 25)]
    # T2: November 16..30 at noon, all 800 ms, but 3 of them report "down"
    beats += [(2, local(11, d), "down" if d in (20, 21, 22) else "ok", 800) for d in range(16, 31)]
    # T1 at local 12-01 00:05 (still 11-30 in UTC): December's, not November's
    beats.append((1, local(12, 1, 0, 5), "ok", 500))
    lake.append(
        "heartbeats",
        pl.DataFrame(
            [
                {"id": i, "touchpoint_id": t, "at": at, "day": at.astimezone(SH).date(), "status": s, "latency_ms": ms}
                for i, (t, at, s, ms) in enumerate(beats, start=1)
            ]
        ),
        "1",
    )
    # (touchpoint, occurred local, identified, member, delay seconds)
    events = [
        (1, local(11, 15), True, 100, 1),  # 1: O1's earlier touch
        (2, local(11, 19), True, 100, 1),  # 2: O1's last touch -> T2
        (1, local(11, 17), True, 101, 1),  # 3: 8 days before O2: too early
        (1, local(11, 24), True, 101, 1),  # 4: O2's last touch -> T1
        (2, local(11, 27), True, 102, 1),  # 5: after O3; the December order's last touch
        (1, local(11, 3), True, None, 1),  # 6: identified, no member found
        (1, local(11, 4), False, None, 301),  # 7: late (> 5 min)
        (1, local(11, 5), False, None, 3600),  # 8: late
        (2, local(11, 20), False, None, 1),  # 9
        (2, local(11, 21), False, None, 300),  # 10: exactly 5 min is in time
        (None, local(11, 20, 11), True, 100, 0),  # 11: the order center: not a touchpoint
        (1, local(10, 29), True, 101, 1),  # 12: October, O7's touch
        (2, local(12, 1, 0, 10), False, None, 1),  # 13: local 12-01 00:10: December's
    ]
    lake.append(
        "events",
        pl.DataFrame(
            [
                {
                    "event_pk": i,
                    "event_id": f"e{i}",
                    "touchpoint_id": t,
                    "type": "page_view",
                    "occurred_at": at,
                    "received_at": at + timedelta(seconds=delay),
                    "day": at.astimezone(SH).date(),
                    "identified": ident,
                    "member_id": member,
                }
                for i, (t, at, ident, member, delay) in enumerate(events, start=1)
            ]
        ),
        "1",
    )
    rejections = [(1, local(11, 6)), (2, local(11, 18)), (None, local(11, 7)), (1, local(10, 6))]
    lake.append(
        "rejections",
        pl.DataFrame(
            [
                {"id": i, "touchpoint_id": t, "received_at": at, "day": at.astimezone(SH).date(), "codes": "missing"}
                for i, (t, at) in enumerate(rejections, start=1)
            ]
        ),
        "1",
    )
    # (order, member, placed local, status, paid, net fen per line)
    orders = [
        (1, 100, local(11, 20), "completed", True, [30_000, 20_000]),
        (2, 101, local(11, 25), "completed", True, [200_000]),
        (3, 102, local(11, 26), "paid", True, [80_000]),
        (4, 100, local(11, 26), "cancelled", True, [99_999]),
        (5, None, local(11, 27), "paid", True, [40_000]),
        (6, 101, local(11, 28), "placed", False, [55_555]),
        (7, 101, local(10, 30), "completed", True, [70_000]),
        (8, 102, local(12, 1, 0, 30), "paid", True, [10_000]),
    ]
    lines: list[dict[str, object]] = []
    for oid, member, at, status, paid, nets in orders:
        for net in nets:
            lines.append(
                {
                    "line_id": len(lines) + 1,
                    "order_id": oid,
                    "order_number": f"O{oid}",
                    "member_id": member,
                    "placed_at": at,
                    "paid_at": at if paid else None,
                    "day": at.astimezone(SH).date(),
                    "month": at.astimezone(SH).strftime("%Y-%m"),
                    "status": status,
                    "net_fen": net,
                }
            )
    frame = pl.DataFrame(lines)
    for (month,), part in frame.partition_by("month", as_dict=True).items():
        lake.replace_partition("sales", str(month), part)
    return lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build(tmp_path / "lake")


def test_november_components_by_hand(lake: Lake) -> None:
    report = maturity(lake, date(2026, 11, 30), months=1, now=NOW)
    snap = report.current
    assert snap.start == date(2026, 11, 1)

    cov = snap.indicator("coverage")
    # active: T1, T2 -> factors goods, marketing, retail, service (4 of 7); store 10 of 3; online+offline
    assert snap.factors == ("goods", "marketing", "retail", "service")
    assert [(c.key, c.value, c.of) for c in cov.components] == [("factors", 4, 7), ("stores", 1, 3), ("types", 2, 4)]
    assert cov.score == pytest.approx(100 * (0.5 * 4 / 7 + 0.25 * 1 / 3 + 0.25 * 2 / 4))

    con = snap.indicator("connectivity")
    # T1 30 daily intervals, 24 up; T2 15 (from 11-16), 15 - 3 down = 12 up -> 36 / 45
    assert con.component("intervals").value == 45
    assert con.component("uptime").value == pytest.approx(36 / 45)
    # fast: T1 20/24 weighted by 30, T2 15/15 by 15 -> (25 + 15) / 45
    assert con.component("fast").value == pytest.approx(40 / 45)
    assert con.score == pytest.approx(100 * (0.7 * 36 / 45 + 0.3 * 40 / 45))

    qual = snap.indicator("quality")
    # 10 touchpoint events (11 and 13 left out), 2 rejections with a touchpoint -> 10/12;
    # identified 1-6 = 6, with a member 1-5 = 5 -> 5/6; in time: all but 7 and 8 -> 8/10
    assert qual.component("events").value == 10
    assert qual.component("rejected").value == 2
    assert qual.component("valid").value == pytest.approx(10 / 12)
    assert qual.component("matched").value == pytest.approx(5 / 6)
    assert qual.component("prompt").value == pytest.approx(8 / 10)
    assert qual.score == pytest.approx(100 * (10 / 12 + 5 / 6 + 8 / 10) / 3)

    ext = snap.indicator("extensibility")
    # connected 2025-12-01..2026-11-30: T1 (2 days), T2 (10 days); median 6; kinds 2
    assert [(c.code, c.days) for c in snap.connections] == [("WEB", 2.0), ("CAM", 10.0)]
    assert ext.component("median_days").value == pytest.approx(6)
    assert ext.component("kinds").value == 2
    assert ext.score == pytest.approx(100 * (0.7 * (1 - 5 / 29) + 0.3 * 2 / 4))

    cr = snap.indicator("cost_return")
    # O1 (50,000) -> T2 (last touch 11-19); O2 (200,000) -> T1 (11-24; 11-17 is 8 days before);
    # O3 no touch before it; O4 cancelled; O5 no member; O6 unpaid -> 250,000 of 370,000 net sales
    assert cr.component("revenue").value == 250_000
    assert cr.component("orders").value == 2
    assert cr.component("sales_share").value == pytest.approx(250_000 / 370_000)
    # cost: T1 100,000 + T2 50,000 (T3 paused, T4 not yet connected)
    assert cr.component("cost").value == 150_000
    assert cr.component("roi").value == pytest.approx(250_000 / 150_000)
    assert cr.score == pytest.approx(100 * (250_000 / 150_000) / 10)
    assert [(r.type, r.touchpoints, r.orders, r.revenue_fen, r.cost_fen) for r in snap.returns] == [
        ("online", 1, 1, 200_000, 100_000),
        ("offline", 1, 1, 50_000, 50_000),
    ]
    assert [r.roi for r in snap.returns] == [pytest.approx(2.0), pytest.approx(1.0)]

    assert snap.overall == pytest.approx(sum(i.score for i in snap.indicators) / 5)
    assert cr.formula == "ROI = ¥2,500.00 ÷ ¥1,500.00 = 1.67; 100 × min(1, ROI ÷ 10) = 16.7"
    assert cov.formula == "100 × (½ × 4/7 + ¼ × 1/3 + ¼ × 2/4) = 49.4"


def test_trend_month_boundaries_and_pro_rata(lake: Lake) -> None:
    report = maturity(lake, date(2026, 12, 3), months=3, now=NOW)
    assert [s.as_of for s in report.trend] == [date(2026, 10, 31), date(2026, 11, 30), date(2026, 12, 3)]
    october, november, december = report.trend
    assert report.current is december

    # November is the same evaluation whatever the as-of day of the report
    alone = maturity(lake, date(2026, 11, 30), months=1, now=NOW).current
    assert [i.score for i in november.indicators] == pytest.approx([i.score for i in alone.indicators])

    # October: only T1 active (goods, marketing; online); O7 70,000 -> T1 (event 10-29); cost 100,000
    assert october.indicator("coverage").score == pytest.approx(100 * (0.5 * 2 / 7 + 0.25 * 1 / 4))
    assert october.indicator("cost_return").component("revenue").value == 70_000
    assert october.indicator("cost_return").score == pytest.approx(7.0)
    # October's rejection of T1, no October events but 12 -> valid 1/2, matched 1/1, in time 1/1
    assert october.indicator("quality").component("valid").value == pytest.approx(0.5)

    # December, as of the 3rd: T1, T2, T4 active; 5 factors, store 10, 3 types
    assert december.indicator("coverage").score == pytest.approx(100 * (0.5 * 5 / 7 + 0.25 / 3 + 0.25 * 3 / 4))
    # intervals: T1 3, T2 3, T4 2 (from 12-02) = 8; only T1's beat at 12-01 00:05 -> up 1, fast 1/1 × 3
    con = december.indicator("connectivity")
    assert con.component("intervals").value == 8
    assert con.score == pytest.approx(100 * (0.7 * 1 / 8 + 0.3 * 3 / 8))
    # the event at 12-01 00:10 local is December's: valid 1/1, matched none (0), in time 1/1
    assert december.indicator("quality").score == pytest.approx(100 * 2 / 3)
    # cost 3 of 31 days, half up: 100,000 -> 9,677; 50,000 -> 4,839; 20,000 -> 1,935 = 16,451
    cr = december.indicator("cost_return")
    assert cr.component("cost").value == 16_451
    # O8 (local 12-01 00:30, member 102): last touch event 5 (11-27) -> T2, 10,000
    assert cr.component("revenue").value == 10_000
    assert cr.score == pytest.approx(100 * 10_000 / 16_451 / 10)
    # T4 connected 12 days after registration: median of 2, 10, 12 = 10; kinds 3
    assert december.indicator("extensibility").score == pytest.approx(100 * (0.7 * (1 - 9 / 29) + 0.3 * 3 / 4))

    # six months before 12-03 is the end of June: only T1 active, evaluated beside the trend
    assert report.earlier.as_of == date(2026, 6, 30)
    assert report.earlier not in report.trend
    assert report.earlier.indicator("coverage").score == pytest.approx(100 * (0.5 * 2 / 7 + 0.25 * 1 / 4))


def test_twelve_months_and_the_earlier_point_from_the_trend(lake: Lake) -> None:
    report = maturity(lake, date(2026, 12, 3), now=NOW)
    assert len(report.trend) == 12
    assert report.trend[0].as_of == date(2026, 1, 31)
    assert report.earlier is report.trend[5]  # 2026-06-30
    # January: T1 connected 01-10 (coverage), its connection 2 days; no heartbeats -> connectivity 0
    assert report.trend[0].indicator("coverage").component("factors").value == 2
    assert report.trend[0].indicator("connectivity").score == 0
    assert not report.lake_empty


def test_empty_lake_scores_zero(tmp_path: Path) -> None:
    report = maturity(Lake(tmp_path / "none"), date(2026, 11, 30), months=2, now=NOW)
    assert report.lake_empty
    assert [i.score for i in report.current.indicators] == [0, 0, 0, 0, 0]
    assert report.current.indicator("quality").component("valid").value is None


def test_month_helpers() -> None:
    assert month_end(date(2024, 2, 10)) == date(2024, 2, 29)
    assert month_end(date(2026, 12, 31)) == date(2026, 12, 31)
    assert add_months(date(2026, 1, 31), -1) == date(2025, 12, 1)
    assert add_months(date(2026, 11, 30), 2) == date(2027, 1, 1)
    assert trend_points(date(2026, 3, 15), 3) == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 15)]
    assert len(FACTORS) == 7
