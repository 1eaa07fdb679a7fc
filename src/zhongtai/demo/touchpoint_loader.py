"""Loads the demo's touchpoints and months of their events (see ``touchpoint_data``).

Inside the demo's transaction: the registry goes in through ``register_touchpoint`` (as an
operator importing an existing registry would: status, ``registered_at`` and ``connected_on`` as
they were), the history of events, heartbeats and rejections through ``import_history`` (a bulk
insert of already-valid rows, audited once), and the paused touchpoint is paused through
``update_touchpoint``. The events carry the members of the orders they lead to, which the demo
reads from the order center once the member center has linked the orders.

After the commit, ``sync_lake`` runs the analytics sink's full sync so that the dashboards have
data the moment the load ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import polars as pl
from sqlalchemy.orm import Session

from zhongtai.analytics import service as analytics_service
from zhongtai.analytics.lake import Lake
from zhongtai.auth import service as auth_service
from zhongtai.auth.principal import Principal
from zhongtai.catalog import service as catalog_service
from zhongtai.db import Database
from zhongtai.demo.order_history import OrderHistory, day_start
from zhongtai.demo.plan import DemoPlan
from zhongtai.demo.touchpoint_data import Refs, TouchpointHistory, build_touchpoint_history, window
from zhongtai.inventory import service as inventory_service
from zhongtai.orders import service as orders_service
from zhongtai.touchpoints import service as touchpoints_service
from zhongtai.touchpoints.schemas import TouchpointIn, TouchpointPatch

Progress = Callable[[int], None]
# The store whose camera system gets its own ``touchpoint`` API key (printed with the credentials).
KEYED_STORE_PREFIX = "TP-CAM-"
STEPS = 5


@dataclass(slots=True)
class TouchpointLoad:
    """What the load wrote, for the summary; ``api_key``: the camera system's key (shown once)."""

    counts: dict[str, int] = field(default_factory=dict)
    api_key: str | None = None
    api_key_touchpoint: str | None = None


def members_of_orders(session: Session, history: OrderHistory, since: datetime, until: datetime) -> dict[str, int]:
    """{order number: member id} for the history's orders placed in [since, until).

    Delivered and completed orders (nearly all) come in one read; the few others (cancelled,
    still on the way) one by one."""
    placed = {o.number for o in history.orders if since <= o.placed_at < until and o.customer_id is not None}
    found = {
        d.number: d.member_id
        for d in orders_service.delivered_member_orders(session, since=since, until=until, limit=len(placed) + 1_000)
        if d.number in placed
    }
    for number in sorted(placed - found.keys()):
        buyer = orders_service.order_buyer(session, number)
        if buyer is not None and buyer.member_id is not None:
            found[number] = buyer.member_id
    return found


def load_touchpoints(
    session: Session,
    actor: Principal,
    plan: DemoPlan,
    history: OrderHistory,
    *,
    today: date,
    now: datetime,
    advance: Progress | None = None,
) -> TouchpointLoad:
    """Registers the demo's touchpoints and imports their history (one transaction: the caller's)."""
    step = advance or (lambda n: None)
    first, _ = window(today)
    since, until = day_start(first), day_start(today)
    skus = catalog_service.sku_refs_by_codes(session, [s.code for s in plan.catalog.skus])
    refs = Refs(
        sku_ids={code: ref.id for code, ref in skus.items()},
        location_ids=inventory_service.location_ids_by_codes(session, [loc.code for loc in plan.network.locations]),
        member_of_order=members_of_orders(session, history, since, until + timedelta(days=1)),
    )
    step(1)
    data = build_touchpoint_history(plan, history, today, refs, now=now)
    step(1)

    ids: dict[str, int] = {}
    for t in data.touchpoints:
        out = touchpoints_service.register_touchpoint(
            session,
            actor,
            TouchpointIn(
                code=t.code,
                name=t.name,
                name_en=t.name_en,
                type=t.type,
                kind=t.kind,
                channel_code=t.channel_code,
                store_code=t.store_code,
                owner=t.owner,
                factors=list(t.factors),
                cost_fen_month=t.cost_fen_month,
                heartbeat_interval_s=t.heartbeat_interval_s,
                status="planned" if t.status == "planned" else "active",
                connected_on=t.connected_on,
                registered_at=t.registered_at,
            ),
        )
        ids[t.code] = out.id
    step(1)

    imported = touchpoints_service.import_history(session, actor, **import_frames(data, ids))
    step(1)
    for t in data.touchpoints:
        if t.status == "paused":
            touchpoints_service.update_touchpoint(session, actor, t.code, TouchpointPatch(status="paused"))

    load = TouchpointLoad()
    camera = next((t for t in data.touchpoints if t.code.startswith(KEYED_STORE_PREFIX) and t.live), None)
    if camera is not None:
        issued = auth_service.create_api_key(
            session, actor, name=f"{camera.name_en} (camera system)", role="touchpoint"
        )
        load.api_key, load.api_key_touchpoint = issued.secret, camera.code
    step(1)
    load.counts = {
        "touchpoints": len(data.touchpoints),
        "touchpoints_planned": sum(t.status == "planned" for t in data.touchpoints),
        "touchpoint_events": imported.get("events", data.events.height),
        "touchpoint_heartbeats": imported.get("heartbeats", data.heartbeats.height),
        "touchpoint_rejections": imported.get("rejections", data.rejections.height),
        "touchpoint_identified_events": int(data.events["identified"].sum()),
        "touchpoint_member_events": int(data.events["member_id"].is_not_null().sum()),
    }
    return load


def sync_lake(db: Database, lake: Lake, *, tz: str) -> dict[str, int]:
    """After the demo's commit: the order center's events for today's live orders (the scheduled
    consumer's work, done now), then the analytics sink's full sync. Returns rows per lake table."""
    staged = 0
    while (n := touchpoints_service.consume_order_events(db, limit=2_000)) > 0:
        staged += n
    report = analytics_service.sync(db, lake, full=True, tz=tz)
    return {"live_order_events": staged, **{f"lake_{table}": rows for table, rows in report.rows.items()}}


def import_frames(data: TouchpointHistory, ids: dict[str, int]) -> dict[str, pl.DataFrame]:
    """The generated frames with the model columns ``import_history`` takes: touchpoint ids for
    codes, and the rejections' JSON texts as the list and dict their JSON columns hold (the
    events' ``data`` goes as JSON text, which the import parses)."""
    tp_id = pl.col("touchpoint").replace_strict(ids, default=None, return_dtype=pl.Int32).alias("touchpoint_id")
    events = data.events.with_columns(tp_id).drop("touchpoint")
    heartbeats = data.heartbeats.with_columns(tp_id).drop("touchpoint")
    rejections = (
        data.rejections.with_columns(tp_id)
        .drop("touchpoint")
        .with_columns(
            pl.Series("errors", [json.loads(v) for v in data.rejections["errors"]], dtype=pl.Object),
            pl.Series("payload", [json.loads(v) for v in data.rejections["payload"]], dtype=pl.Object),
        )
    )
    return {"events": events, "heartbeats": heartbeats, "rejections": rejections}
