"""Channels' named schedules: the signed webhooks (see channels/webhooks.py, docs/webhooks.md).

* ``channels.webhook-fanout`` (every 2 s): undispatched channel events → pending deliveries.
* ``channels.webhook-delivery`` (every 5 s): sends the due deliveries, records each attempt.
"""

from __future__ import annotations

from zhongtai.channels import webhooks
from zhongtai.db import Database
from zhongtai.jobs import schedule

WEBHOOK_FANOUT = "channels.webhook-fanout"
WEBHOOK_DELIVERY = "channels.webhook-delivery"


@schedule(WEBHOOK_FANOUT, every_s=2)
def fan_out_webhooks(db: Database) -> int:
    with db.transaction() as session:
        return webhooks.fan_out(session)


@schedule(WEBHOOK_DELIVERY, every_s=5)
def deliver_webhooks(db: Database) -> int:
    return webhooks.deliver_due(db)
