"""The order center's named schedules.

* ``orders.unpaid-timeout`` (every 30 s): unpaid orders past their hold are cancelled and their
  stock released (the reservation expiry would release the stock anyway; this also closes the
  order and tells the channel).
* ``orders.retry-routing`` (every 60 s): orders waiting for stock are routed again.
* ``orders.auto-complete`` (hourly): delivered orders complete after the no-complaint period.
"""

from __future__ import annotations

from zhongtai.db import Database, utcnow
from zhongtai.jobs import schedule
from zhongtai.orders import service

UNPAID_TIMEOUT = "orders.unpaid-timeout"
RETRY_ROUTING = "orders.retry-routing"
AUTO_COMPLETE = "orders.auto-complete"


@schedule(UNPAID_TIMEOUT, every_s=30)
def cancel_unpaid(db: Database) -> int:
    with db.transaction() as session:
        return service.cancel_unpaid(session, utcnow())


@schedule(RETRY_ROUTING, every_s=60)
def retry_routing(db: Database) -> int:
    with db.transaction() as session:
        return service.retry_held(session)


@schedule(AUTO_COMPLETE, every_s=3600)
def auto_complete(db: Database) -> int:
    with db.transaction() as session:
        return service.auto_complete(session, utcnow())
