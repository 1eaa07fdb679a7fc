"""The demo retailer's promotion and event calendar, for the two years of history and the coming
year: 618, Double 11, Double 12, the Spring Festival (its real lunar dates), the National Day golden
week and back-to-school for laptops. Entered through ``forecasting.calendar.create_event`` (audited,
validated) like a planner would, then the past events are measured against the demo's demand and
the first forecasts are queued as jobs.

The expected uplifts are a planner's round numbers, not the demo generator's truth: the measured
uplift beside them is what the order history says.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from zhongtai.auth.principal import Principal
from zhongtai.demo.order_history import SPRING_FESTIVAL
from zhongtai.forecasting import calendar, service
from zhongtai.forecasting import tasks as _tasks  # noqa: F401  (registers the job kinds queued below)


def _shift(day: date, days: int) -> date:
    return date.fromordinal(day.toordinal() + days)


def demo_events(today: date) -> list[dict[str, Any]]:
    """Every event of the years ``today.year - 2`` .. ``today.year + 1``."""
    events: list[dict[str, Any]] = []
    for year in range(today.year - 2, today.year + 2):
        events.append(
            {
                "code": f"618-{year}",
                "name_zh": f"{year} 京东 618",
                "name_en": f"618 festival {year}",
                "kind": "618",
                "start_day": date(year, 6, 1),
                "end_day": date(year, 6, 18),
                "uplift_bp": 8000,
                "notes": "预售 6 月 1 日开始，6 月 18 日当天为峰值",
            }
        )
        events.append(
            {
                "code": f"double11-{year}",
                "name_zh": f"{year} 双十一",
                "name_en": f"Double 11 {year}",
                "kind": "double11",
                "start_day": date(year, 10, 20),
                "end_day": date(year, 11, 11),
                "uplift_bp": 10000,
                "notes": "10 月 20 日预售，11 月 11 日峰值；大家电等待活动价",
            }
        )
        events.append(
            {
                "code": f"double12-{year}",
                "name_zh": f"{year} 双十二",
                "name_en": f"Double 12 {year}",
                "kind": "double12",
                "start_day": date(year, 12, 10),
                "end_day": date(year, 12, 12),
                "uplift_bp": 3000,
            }
        )
        events.append(
            {
                "code": f"national-day-{year}",
                "name_zh": f"{year} 国庆黄金周",
                "name_en": f"National Day golden week {year}",
                "kind": "national_day",
                "start_day": date(year, 10, 1),
                "end_day": date(year, 10, 7),
                "uplift_bp": 2000,
                "notes": "门店客流高峰",
            }
        )
        events.append(
            {
                "code": f"back-to-school-{year}",
                "name_zh": f"{year} 开学季（笔记本）",
                "name_en": f"Back to school {year} (laptops)",
                "kind": "custom",
                "start_day": date(year, 8, 15),
                "end_day": date(year, 9, 10),
                "scope": "category",
                "scope_code": "laptop",
                "uplift_bp": 5000,
            }
        )
        festival = SPRING_FESTIVAL.get(year)
        if festival is not None:
            # 除夕 to 初六: stores nearly shut on the first days and couriers stop.
            events.append(
                {
                    "code": f"spring-festival-{year}",
                    "name_zh": f"{year} 春节",
                    "name_en": f"Spring Festival {year}",
                    "kind": "spring_festival",
                    "start_day": _shift(festival, -1),
                    "end_day": _shift(festival, 6),
                    "uplift_bp": -4000,
                    "notes": f"正月初一 {festival.isoformat()}；快递停运约一周",
                }
            )
    return events


def load_planning(session: Session, actor: Principal, today: date) -> int:
    """Enters the demo calendar, measures its past events and queues a backfill of the last six
    weeks' forecasts (for the accuracy page) and then tonight's forecast, which the worker of
    ``make run`` picks up; returns the number of events."""
    events = demo_events(today)
    for event in events:
        calendar.create_event(session, actor, event)
    calendar.measure_events(session, actor, today)
    service.start_backfill_job(session, actor, weeks=6)
    service.start_forecast_job(session, actor, {})
    return len(events)
