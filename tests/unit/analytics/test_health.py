"""Touchpoint health over a hand-built lake: every figure is worked out by hand in the comments.

The period is one local day, 2026-12-01 (Asia/Shanghai), which starts at 2026-11-30 16:00 UTC
(P0); "now" is one hour later (local 01:00), so only the first hour's intervals are expected.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from zhongtai.analytics.filters import DashboardFilters
from zhongtai.analytics.health import expected_window, state_of, touchpoint_health
from zhongtai.analytics.lake import Lake

DAY = date(2026, 12, 1)
P0 = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
NOW = P0 + timedelta(hours=1)


def m(minutes: float) -> datetime:
    return P0 + timedelta(minutes=minutes)


def touchpoint(tid: int, code: str, type_: str, status: str, **extra: object) -> dict[str, object]:
    return {
        "touchpoint_id": tid,
        "code": code,
        "name": f"触点{tid}",
        "name_en": f"TP {tid}",
        "type": type_,
        "kind": extra.pop("kind", "web_shop"),
        "status": status,
        "connected_on": extra.pop("connected_on", date(2026, 11, 1)),
        "heartbeat_interval_s": extra.pop("iv", 300),
        **extra,
    }


def build(root: Path) -> Lake:
    lake = Lake(root)
    lake.replace(
        "touchpoints",
        pl.DataFrame(
            [
                touchpoint(1, "WEB", "online", "active", iv=600, channel_code="web"),
                touchpoint(2, "CAM", "offline", "active", kind="camera", location_id=10, connected_on=DAY),
                touchpoint(3, "SHELF", "offline", "paused", kind="smart_shelf", location_id=11),
                touchpoint(4, "GROUP", "social", "planned", kind="wechat_group", connected_on=None),
            ]
        ),
    )
    hb = [
        # TP1, 600 s intervals: 0 [0,10) 1 [10,20) 2 [20,30) 3 [30,40) 4 [40,50) 5 [50,60)
        (1, m(-5), "ok", 9999),  # the day before: outside the period
        (1, m(1), "ok", 100),  # interval 0
        (1, m(11), "ok", 200),  # interval 1
        (1, m(21), "ok", 300),  # interval 2; interval 3 has none
        (1, m(41), "degraded", 400),  # interval 4: degraded still counts as up
        (1, m(55), "down", None),  # interval 5: a "down" beat is not up
        # TP2, 300 s intervals: 12 in the hour
        (2, m(2), "ok", 1000),  # interval 0
        (2, m(4), "ok", 3000),  # interval 0 again: counted once
        (2, m(50), "ok", 2000),  # interval 10
        (2, m(65), "ok", 5),  # after now: ignored everywhere
        # TP3 (paused): no uptime expected, but its last beat sets its state
        (3, m(35), "ok", 50),
    ]
    lake.append(
        "heartbeats",
        pl.DataFrame(
            [
                {
                    "id": i,
                    "touchpoint_id": t,
                    "at": at,
                    "day": (at + timedelta(hours=8)).date(),
                    "status": s,
                    "latency_ms": lat,
                }
                for i, (t, at, s, lat) in enumerate(hb, start=1)
            ]
        ),
        "1",
    )
    ev = [
        # (touchpoint, day, identified, member, freshness seconds)
        (1, DAY, True, 100, 1),
        (1, DAY, True, None, 2),
        (1, DAY, False, None, 3),
        (1, DAY, True, 101, 400),
        (2, DAY, False, None, 10),
        (2, DAY, False, None, 20),
        (None, DAY, True, 100, 0),  # the order center: no touchpoint, not counted
        (1, date(2026, 11, 30), False, None, 1),  # the previous period
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
                    "day": d,
                    "occurred_at": m(5),
                    "received_at": m(5) + timedelta(seconds=fresh),
                    "identified": ident,
                    "member_id": member,
                }
                for i, (t, d, ident, member, fresh) in enumerate(ev, start=1)
            ]
        ),
        "1",
    )
    rej = [
        (1, DAY, "missing,invalid"),
        (2, DAY, "missing"),
        (2, DAY, "unknown_type"),
        (None, DAY, "missing"),  # no touchpoint: not counted
        (2, date(2026, 11, 30), "missing"),  # the previous period
    ]
    lake.append(
        "rejections",
        pl.DataFrame(
            [
                {"id": i, "touchpoint_id": t, "day": d, "codes": c, "received_at": m(1)}
                for i, (t, d, c) in enumerate(rej, start=1)
            ]
        ),
        "1",
    )
    return lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return build(tmp_path / "lake")


def test_health_per_touchpoint_figures(lake: Lake) -> None:
    report = touchpoint_health(lake, DashboardFilters(DAY, DAY), NOW)
    tp = {t.code: t for t in report.touchpoints}
    assert [t.code for t in report.touchpoints] == ["CAM", "GROUP", "SHELF", "WEB"]

    web = tp["WEB"]
    # 60 min / 600 s = 6 intervals; up: 0, 1, 2, 4 -> 4/6
    assert (web.expected_intervals, web.up_intervals) == (6, 4)
    assert web.uptime == pytest.approx(4 / 6)
    # latencies in the period 100, 200, 300, 400: p50 = 250; p95 at rank 3 × 0.95 = 2.85 -> 300 + 0.85 × 100
    assert web.latency_p50_ms == pytest.approx(250)
    assert web.latency_p95_ms == pytest.approx(385)
    assert web.last_heartbeat_at == m(55)
    assert web.state == "down"  # its last beat said so
    # 4 accepted, 1 rejected -> 4/5; identified 3, attributed 2 -> 2/3
    assert (web.accepted, web.rejected, web.identified, web.attributed) == (4, 1, 3, 2)
    assert web.valid_rate == pytest.approx(0.8)
    assert web.match_rate == pytest.approx(2 / 3)
    # freshness 1, 2, 3, 400 s: p95 at 2.85 -> 3 + 0.85 × 397 = 340.45
    assert web.freshness_p95_s == pytest.approx(340.45)
    assert web.daily == (4,)

    cam = tp["CAM"]
    # connected on the period's first day: 12 intervals of 300 s; up: 0 and 10 -> 2/12
    assert (cam.expected_intervals, cam.up_intervals) == (12, 2)
    # 1000, 3000, 2000 (the beat after now is ignored): p50 2000; p95 at 1.9 -> 2000 + 0.9 × 1000
    assert cam.latency_p50_ms == pytest.approx(2000)
    assert cam.latency_p95_ms == pytest.approx(2900)
    assert cam.last_heartbeat_at == m(50)
    assert cam.state == "healthy"  # 600 s ago ≤ 2 × 300 s
    assert cam.valid_rate == pytest.approx(2 / 4)
    assert cam.match_rate is None  # nothing identified
    assert cam.freshness_p95_s == pytest.approx(19.5)  # 10 + 0.95 × 10

    shelf = tp["SHELF"]
    assert shelf.uptime is None
    assert shelf.expected_intervals == 0
    assert shelf.state == "late"  # 25 min = 1500 s: > 600 s, ≤ 1800 s
    assert tp["GROUP"].state == "never"


def test_health_totals_charts_and_previous_period(lake: Lake) -> None:
    report = touchpoint_health(lake, DashboardFilters(DAY, DAY), NOW)
    assert report.by_state == {"healthy": 1, "late": 1, "down": 1, "never": 1}
    # pooled intervals: (4 + 2) / (6 + 12)
    assert (report.up_intervals, report.expected_intervals) == (6, 18)
    assert report.uptime == pytest.approx(1 / 3)
    # accepted 4 + 2 = 6, rejected 1 + 2 = 3 -> 6/9; identified 3, attributed 2
    assert (report.accepted, report.rejected) == (6, 3)
    assert report.valid_rate == pytest.approx(6 / 9)
    assert report.match_rate == pytest.approx(2 / 3)
    # freshness sorted 1, 2, 3, 10, 20, 400: rank 5 × 0.95 = 4.75 -> 20 + 0.75 × 380 = 305
    assert report.freshness_p95_s == pytest.approx(305)
    assert report.events_by_type == {"online": (4,), "offline": (2,), "social": (0,)}
    # codes split on commas: missing twice (TP1, TP2), invalid and unknown_type once (ties by code)
    assert report.rejection_reasons == (("missing", 2), ("invalid", 1), ("unknown_type", 1))
    # previous day: 1 event of TP1, 1 rejection of TP2
    assert report.previous_accepted == 1
    assert report.previous_valid_rate == pytest.approx(0.5)
    assert not report.lake_empty


def test_health_filters_by_store_channel_and_scope(lake: Lake) -> None:
    by_store = touchpoint_health(lake, DashboardFilters(DAY, DAY, stores=(10,)), NOW)
    assert [t.code for t in by_store.touchpoints] == ["CAM"]
    assert (by_store.accepted, by_store.rejected) == (2, 2)
    assert by_store.rejection_reasons == (("missing", 1), ("unknown_type", 1))
    by_channel = touchpoint_health(lake, DashboardFilters(DAY, DAY, channels=("web",)), NOW)
    assert [t.code for t in by_channel.touchpoints] == ["WEB"]
    # a store manager of store 11 sees only the shelf, whatever store they ask for
    scoped = touchpoint_health(lake, DashboardFilters(DAY, DAY, scope=(11,)), NOW)
    assert [t.code for t in scoped.touchpoints] == ["SHELF"]
    assert scoped.accepted == 0
    assert scoped.valid_rate is None


def test_health_over_two_days_counts_only_complete_intervals_before_now(lake: Lake) -> None:
    # The period runs to 12-02, but now is still 12-01 01:00: the same 6 + 12 intervals.
    report = touchpoint_health(lake, DashboardFilters(DAY, DAY + timedelta(days=1)), NOW)
    assert report.expected_intervals == 18
    # At +65 min the interval [65, 70) is in progress: TP2 expects 13, the beat at +65 not yet counted.
    at_65 = touchpoint_health(lake, DashboardFilters(DAY, DAY), NOW + timedelta(minutes=5))
    cam = next(t for t in at_65.touchpoints if t.code == "CAM")
    assert (cam.expected_intervals, cam.up_intervals) == (13, 2)
    # At +71 min: TP2 has 14 complete intervals, interval 13 had the beat -> 3 of 14; TP1 7 (floor 71/10).
    later = touchpoint_health(lake, DashboardFilters(DAY, DAY), NOW + timedelta(minutes=11))
    cam = next(t for t in later.touchpoints if t.code == "CAM")
    web = next(t for t in later.touchpoints if t.code == "WEB")
    assert (cam.expected_intervals, cam.up_intervals) == (14, 3)
    assert (web.expected_intervals, web.up_intervals) == (7, 4)
    assert later.events_by_type["online"] == (4,)
    assert touchpoint_health(lake, DashboardFilters(DAY, DAY + timedelta(days=1)), NOW).days == (
        DAY,
        DAY + timedelta(days=1),
    )


def test_empty_lake_says_so(tmp_path: Path) -> None:
    report = touchpoint_health(Lake(tmp_path / "none"), DashboardFilters(DAY, DAY), NOW)
    assert report.lake_empty
    assert report.touchpoints == ()
    assert report.uptime is None


def test_state_and_window_edges() -> None:
    assert state_of(None, None, 300, NOW) == "never"
    assert state_of(NOW - timedelta(seconds=600), "ok", 300, NOW) == "healthy"
    assert state_of(NOW - timedelta(seconds=601), "ok", 300, NOW) == "late"
    assert state_of(NOW - timedelta(seconds=1800), "degraded", 300, NOW) == "late"
    assert state_of(NOW - timedelta(seconds=1801), "ok", 300, NOW) == "down"
    assert expected_window(P0, P0 + timedelta(seconds=299), 300) is None
    assert expected_window(P0, P0 + timedelta(seconds=901), 300) == (P0, P0 + timedelta(seconds=900), 3)
    assert expected_window(P0, P0 - timedelta(seconds=1), 300) is None
