"""The order center's named schedules. Each order is handled in its own transaction, so one
order's locks never wait on another's and a failure skips only that order.

* ``orders.unpaid-timeout`` (every 30 s): unpaid orders past their hold are cancelled and their
  stock released (the reservation expiry would release the stock anyway; this also closes the
  order and tells the channel).
* ``orders.retry-routing`` (every 60 s): orders waiting for stock are routed again.
* ``orders.auto-complete`` (hourly): delivered orders complete after the no-complaint period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from zhongtai.db import Database, utcnow
from zhongtai.errors import DomainError
from zhongtai.jobs import schedule
from zhongtai.orders import service

UNPAID_TIMEOUT = "orders.unpaid-timeout"
RETRY_ROUTING = "orders.retry-routing"
AUTO_COMPLETE = "orders.auto-complete"
log = logging.getLogger("zhongtai.orders")


def _each(db: Database, ids: list[int], step: Callable[[Session, int], bool]) -> int:
    done = 0
    for order_id in ids:
        try:
            with db.transaction() as session:
                done += 1 if step(session, order_id) else 0
        except DomainError:
            log.warning("order %s skipped by the schedule", order_id, exc_info=True)
    return done


@schedule(UNPAID_TIMEOUT, every_s=30)
def cancel_unpaid(db: Database) -> int:
    now = utcnow()
    with db.transaction(write=False) as session:
        ids = service.unpaid_due(session, now, 500)
    return _each(db, ids, lambda s, i: service.cancel_unpaid_order(s, i, now))


@schedule(RETRY_ROUTING, every_s=60)
def retry_routing(db: Database) -> int:
    with db.transaction(write=False) as session:
        ids = service.held_orders(session, 200)
    return _each(db, ids, service.retry_order)


@schedule(AUTO_COMPLETE, every_s=3600)
def auto_complete(db: Database) -> int:
    now = utcnow()
    with db.transaction(write=False) as session:
        ids = service.delivered_due(session, now, 1000)
    return _each(db, ids, lambda s, i: service.auto_complete_order(s, i, now))
