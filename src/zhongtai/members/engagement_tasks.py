"""Member engagement schedules.

* ``members.rfm`` (daily): RFM scores and segments, the 12-month spend and preferred stores
  (``stats.score_rfm``), then every tag rule (``tags.evaluate_rules``), in one transaction so the
  rules see the new scores.
* ``members.guide-orphans`` (hourly): members whose guide was deactivated (or is no longer a guide)
  are spread over the other guides of that store, one leaving guide per transaction. A store
  with no other active guide keeps them bound (the schedule logs it and tries again next hour).
"""

from __future__ import annotations

import logging
from typing import Any

from zhongtai.auth.principal import Principal
from zhongtai.db import Database, utcnow
from zhongtai.errors import DomainError
from zhongtai.jobs import schedule
from zhongtai.members import guides, stats, tags

RFM = "members.rfm"
GUIDE_ORPHANS = "members.guide-orphans"
log = logging.getLogger("zhongtai.members")


@schedule(RFM, every_s=24 * 3600)
def score_and_tag(db: Database) -> dict[str, Any]:
    now = utcnow()
    with db.transaction() as session:
        scored = stats.score_rfm(session, now)
        evaluation = tags.evaluate_rules(session, now)
    return {"scored": scored, "added": evaluation.added, "removed": evaluation.removed}


@schedule(GUIDE_ORPHANS, every_s=3600)
def reassign_orphans(db: Database) -> dict[str, Any]:
    actor = Principal.system(f"job:{GUIDE_ORPHANS}")
    with db.transaction(write=False) as session:
        leaving = guides.orphaned_guides(session)
    moved, stuck = 0, []
    for guide_id in leaving:
        try:
            with db.transaction() as session:
                moved += guides.reassign_from(session, actor, guide_id)
        except DomainError:
            stuck.append(guide_id)
            log.warning("members of guide %s stay bound: no other active guide in the store", guide_id, exc_info=True)
    return {"guides": len(leaving), "moved": moved, "stuck": stuck}
