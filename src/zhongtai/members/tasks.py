"""The member center's named schedules.

* ``members.order-events`` (every 5 s): order buyers into the identity graph, points on completion
  and refunds (``members.consumer``).
* ``members.matching`` (daily): probabilistic matching over weak attributes; merges above the
  threshold, the review queue in between.
* Points expiry, RFM scoring and tag rules, guide orphan sweep: ``points_tasks``, ``engagement_tasks``.
"""

from __future__ import annotations

from zhongtai.db import Database
from zhongtai.jobs import schedule
from zhongtai.members import consumer, engagement_tasks, identity, points_tasks  # noqa: F401

ORDER_EVENTS = "members.order-events"
MATCHING = "members.matching"


@schedule(ORDER_EVENTS, every_s=5)
def order_events(db: Database) -> int:
    return consumer.consume(db)


@schedule(MATCHING, every_s=86400)
def matching(db: Database) -> int:
    return identity.run_matching(db).merged
