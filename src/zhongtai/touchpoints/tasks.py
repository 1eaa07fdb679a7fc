"""The touchpoints context's named schedules.

* ``touchpoints.order-events`` (every 5 s): the order center's order lifecycle (placed, paid,
  cancelled, completed, refunded) staged as events of the one stream (``order_events``).
"""

from __future__ import annotations

from zhongtai.db import Database
from zhongtai.jobs import schedule
from zhongtai.touchpoints import order_events

ORDER_EVENTS = "touchpoints.order-events"


@schedule(ORDER_EVENTS, every_s=5)
def order_events_job(db: Database) -> int:
    return order_events.consume(db)
