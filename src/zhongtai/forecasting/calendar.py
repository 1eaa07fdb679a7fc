"""The promotion and event calendar: what the forecast knows about 618, Double 11, the Spring
Festival and the retailer's own events.

Events are edited through ``create_event`` / ``update_event`` / ``delete_event`` (audited; every
bad field reported at once). The forecast sees them as three daily features per series
(``event_features``): whether an event is on (``event_on``), days until the next one starts
(``days_to_event``, capped) and the planner's expected uplift (``event_uplift``, a fraction). An
event applies to every series (scope ``all``), to the series of SKUs in a category or under it, of
one location, or of the pairs that sell through one channel.

For past events the *measured* uplift is what demand did: average daily units during the event
over the average of the 28 days before it, minus one (``measured_uplift``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.catalog import service as catalog
from zhongtai.channels import service as channels
from zhongtai.db import utcnow
from zhongtai.errors import FieldProblem, NotFound, ValidationFailed, not_found
from zhongtai.forecasting import repository as repo
from zhongtai.forecasting.models import ForecastEvent
from zhongtai.inventory import service as inventory
from zhongtai.orders import demand as order_demand
from zhongtai.pagination import Page, SortKey, paginate

KINDS = ("618", "double11", "double12", "spring_festival", "national_day", "labour_day", "custom")
SCOPES = ("all", "channel", "category", "location")
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# -90 % .. +1000 %: an event can nearly stop sales (Spring Festival online) or multiply them.
UPLIFT_MIN_BP = -9000
UPLIFT_MAX_BP = 100000
MAX_EVENT_DAYS = 92
# The days-to-event feature stops counting here: further away, an event changes nothing today.
DAYS_TO_EVENT_CAP = 30
BASELINE_DAYS = 28
_FIELDS = ("code", "name_zh", "name_en", "kind", "start_day", "end_day", "scope", "scope_code", "uplift_bp", "notes")


@dataclass(frozen=True, slots=True)
class EventSpan:
    """An event as the features see it (plain data, no database)."""

    code: str
    start_day: date
    end_day: date
    scope: str
    scope_code: str
    uplift_bp: int


def span_of(event: ForecastEvent) -> EventSpan:
    return EventSpan(event.code, event.start_day, event.end_day, event.scope, event.scope_code, event.uplift_bp)


# ---------------------------------------------------------------- validation and verbs


def _as_date(p: list[FieldProblem], field: str, value: object) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    p.append(FieldProblem(field, "invalid_date", "a day as YYYY-MM-DD"))
    return None


def _scope_exists(session: Session, scope: str, code: str) -> bool:
    if scope == "channel":
        return any(c.code == code for c in channels.list_channels(session))
    if scope == "category":
        return any(c.code == code for c in catalog.categories_by_id(session).values())
    if scope == "location":
        try:
            inventory.get_location_by_code(session, code)
        except NotFound:
            return False
        return True
    return True


def event_problems(session: Session, data: Mapping[str, Any], *, prefix: str = "body") -> list[FieldProblem]:
    """Every problem of a complete event (create, or an update merged over the stored event)."""
    p: list[FieldProblem] = []
    f = f"{prefix}." if prefix else ""
    code = data.get("code")
    if not isinstance(code, str) or not CODE_RE.fullmatch(code):
        p.append(FieldProblem(f"{f}code", "invalid_code", "1-64 letters, digits, '_', '-' or '.'"))
    for name, required in (("name_zh", True), ("name_en", False)):
        value = data.get(name, "")
        if not isinstance(value, str) or len(value) > 128 or (required and not value.strip()):
            p.append(
                FieldProblem(f"{f}{name}", "invalid_name", "1-128 characters" if required else "at most 128 characters")
            )
    if data.get("kind") not in KINDS:
        p.append(FieldProblem(f"{f}kind", "unknown_kind", f"one of {', '.join(KINDS)}"))
    start = _as_date(p, f"{f}start_day", data.get("start_day"))
    end = _as_date(p, f"{f}end_day", data.get("end_day"))
    if start and end:
        if end < start:
            p.append(FieldProblem(f"{f}end_day", "end_before_start", "the event ends before it starts"))
        elif (end - start).days + 1 > MAX_EVENT_DAYS:
            p.append(FieldProblem(f"{f}end_day", "too_long", f"an event lasts at most {MAX_EVENT_DAYS} days"))
    scope = data.get("scope", "all")
    scope_code = data.get("scope_code", "") or ""
    if scope not in SCOPES:
        p.append(FieldProblem(f"{f}scope", "unknown_scope", f"one of {', '.join(SCOPES)}"))
    elif scope == "all" and scope_code:
        p.append(
            FieldProblem(
                f"{f}scope_code", "not_allowed", "an event for everything names no channel, category or location"
            )
        )
    elif scope != "all" and not scope_code:
        p.append(FieldProblem(f"{f}scope_code", "required", f"the {scope} the event applies to"))
    elif scope != "all" and not _scope_exists(session, str(scope), str(scope_code)):
        p.append(FieldProblem(f"{f}scope_code", f"unknown_{scope}", f"no {scope} {scope_code}"))
    uplift = data.get("uplift_bp", 0)
    if isinstance(uplift, bool) or not isinstance(uplift, int) or not UPLIFT_MIN_BP <= uplift <= UPLIFT_MAX_BP:
        p.append(
            FieldProblem(
                f"{f}uplift_bp",
                "out_of_range",
                f"basis points from {UPLIFT_MIN_BP} (-90 %) to {UPLIFT_MAX_BP} (+1000 %)",
            )
        )
    notes = data.get("notes", "")
    if not isinstance(notes, str) or len(notes) > 2000:
        p.append(FieldProblem(f"{f}notes", "too_long", "at most 2000 characters"))
    return p


def _snapshot(e: ForecastEvent) -> dict[str, Any]:
    return {name: getattr(e, name) for name in _FIELDS}


def _fail(problems: list[FieldProblem]) -> None:
    if problems:
        raise ValidationFailed(f"{len(problems)} invalid field(s)", errors=problems)


def create_event(session: Session, actor: Principal, data: Mapping[str, Any]) -> ForecastEvent:
    values = {"name_en": "", "scope": "all", "scope_code": "", "uplift_bp": 0, "notes": ""} | dict(data)
    unknown = sorted(set(values) - set(_FIELDS))
    problems = [FieldProblem(f"body.{k}", "unknown_field", "not an event field") for k in unknown]
    problems += event_problems(session, values)
    if not problems and repo.event_by_code(session, str(values["code"])) is not None:
        problems.append(FieldProblem("body.code", "duplicate_code", f"event {values['code']} exists"))
    _fail(problems)
    now = utcnow()
    event = ForecastEvent(
        **{k: values[k] for k in _FIELDS},
        created_by=actor.name,
        updated_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    event.start_day = _as_date([], "", values["start_day"]) or event.start_day
    event.end_day = _as_date([], "", values["end_day"]) or event.end_day
    session.add(event)
    session.flush()
    record(session, actor, "forecast.event.create", "forecast_event", event.code, after=_snapshot(event))
    return event


def get_event(session: Session, code: str) -> ForecastEvent:
    event = repo.event_by_code(session, code)
    if event is None:
        raise not_found("event", code)
    return event


def update_event(session: Session, actor: Principal, code: str, changes: Mapping[str, Any]) -> ForecastEvent:
    event = get_event(session, code)
    problems = [
        FieldProblem(f"body.{k}", "unknown_field", "not an event field") for k in sorted(set(changes) - set(_FIELDS))
    ]
    if "code" in changes and changes["code"] != code:
        problems.append(FieldProblem("body.code", "read_only", "the code names the event; create a new one instead"))
    before = _snapshot(event)
    merged = before | {k: v for k, v in changes.items() if k in _FIELDS and k != "code"}
    problems += event_problems(session, merged)
    _fail(problems)
    for name in _FIELDS:
        if name == "code":
            continue
        value = merged[name]
        if name in ("start_day", "end_day"):
            value = _as_date([], "", value)
        setattr(event, name, value)
    after = _snapshot(event)
    changed = {k for k in _FIELDS if before[k] != after[k]}
    if changed & {"start_day", "end_day", "scope", "scope_code"}:
        # What was measured was another event: measure again once it has ended.
        event.measured_uplift_bp = None
        event.measured_at = None
    event.updated_by = actor.name
    event.updated_at = utcnow()
    session.flush()
    record(
        session,
        actor,
        "forecast.event.update",
        "forecast_event",
        code,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return event


def delete_event(session: Session, actor: Principal, code: str) -> None:
    event = get_event(session, code)
    before = _snapshot(event)
    session.delete(event)
    session.flush()
    record(session, actor, "forecast.event.delete", "forecast_event", code, before=before)


def events_between(session: Session, first_day: date, last_day: date) -> list[EventSpan]:
    events, _ = repo.list_events(session, overlapping=(first_day, last_day))
    return [span_of(e) for e in events]


# ---------------------------------------------------------------- features (pure)


def event_features(grid: pl.DataFrame, series: pl.DataFrame, events: Sequence[EventSpan]) -> pl.DataFrame:
    """``grid`` (unique_id, ds) with ``event_on`` (0/1), ``days_to_event`` (0 during an event,
    else days to the next start, capped at ``DAYS_TO_EVENT_CAP``) and ``event_uplift`` (the largest
    expected uplift of the events on that day, a fraction; 0 without one).

    ``series`` describes each unique_id: ``category_codes`` (its category and every ancestor, a
    list), ``location_code`` and ``channel_codes`` (channels it sold through, a list)."""
    out_schema = {
        "unique_id": pl.Utf8,
        "ds": pl.Date,
        "event_on": pl.Int8,
        "days_to_event": pl.Int16,
        "event_uplift": pl.Float64,
    }
    base = grid.select(pl.col("unique_id").cast(pl.Utf8), pl.col("ds").cast(pl.Date))
    if base.is_empty():
        return pl.DataFrame(schema=out_schema)
    if not events:
        return base.with_columns(
            pl.lit(0, pl.Int8).alias("event_on"),
            pl.lit(DAYS_TO_EVENT_CAP, pl.Int16).alias("days_to_event"),
            pl.lit(0.0).alias("event_uplift"),
        )
    ev = pl.DataFrame(
        {
            "event": [e.code for e in events],
            "start": [e.start_day for e in events],
            "end": [e.end_day for e in events],
            "scope": [e.scope for e in events],
            "scope_code": [e.scope_code for e in events],
            "uplift": [e.uplift_bp / 10000 for e in events],
        },
        schema={
            "event": pl.Utf8,
            "start": pl.Date,
            "end": pl.Date,
            "scope": pl.Utf8,
            "scope_code": pl.Utf8,
            "uplift": pl.Float64,
        },
    )
    s = series.select("unique_id", "category_codes", "location_code", "channel_codes")
    # Which series each event applies to, as (unique_id, event) pairs: one join per scope kind.
    applies = pl.concat(
        [
            s.select("unique_id").join(ev.filter(pl.col("scope") == "all").select("event"), how="cross"),
            s.explode("category_codes")
            .join(ev.filter(pl.col("scope") == "category"), left_on="category_codes", right_on="scope_code")
            .select("unique_id", "event"),
            s.join(ev.filter(pl.col("scope") == "location"), left_on="location_code", right_on="scope_code").select(
                "unique_id", "event"
            ),
            s.explode("channel_codes")
            .join(ev.filter(pl.col("scope") == "channel"), left_on="channel_codes", right_on="scope_code")
            .select("unique_id", "event"),
        ]
    ).unique()
    spans = applies.join(ev, on="event")
    on_days = (
        spans.with_columns(pl.date_ranges("start", "end").alias("ds"))
        .explode("ds")
        .group_by("unique_id", "ds")
        .agg(pl.col("uplift").max().alias("event_uplift"))
    )
    starts = spans.select("unique_id", pl.col("start").alias("next_start")).unique().sort("unique_id", "next_start")
    out = (
        base.join(on_days, on=["unique_id", "ds"], how="left")
        # As-of joins want both sides sorted by the date globally (so within every series too);
        # polars cannot verify that per group, hence no check.
        .sort("ds")
        .join_asof(
            starts.sort("next_start"),
            left_on="ds",
            right_on="next_start",
            by="unique_id",
            strategy="forward",
            check_sortedness=False,
        )
        .with_columns(
            pl.col("event_uplift").is_not_null().cast(pl.Int8).alias("event_on"),
            pl.when(pl.col("event_uplift").is_not_null())
            .then(0)
            .otherwise(
                pl.min_horizontal((pl.col("next_start") - pl.col("ds")).dt.total_days(), pl.lit(DAYS_TO_EVENT_CAP))
            )
            .fill_null(DAYS_TO_EVENT_CAP)
            .cast(pl.Int16)
            .alias("days_to_event"),
            pl.col("event_uplift").fill_null(0.0),
        )
    )
    return out.select(list(out_schema)).cast(out_schema).sort("unique_id", "ds")  # type: ignore[arg-type]


# ---------------------------------------------------------------- measured uplift


def measured_uplift(demand: pl.DataFrame, event: EventSpan, *, today: date) -> Decimal | None:
    """Average daily units during a past event over the average of the ``BASELINE_DAYS`` before it,
    minus one, as a fraction rounded to 4 places; None for an event that has not ended or has no
    baseline. ``demand`` has (day, units) rows already limited to the event's scope; days without
    rows count as zero."""
    if event.end_day >= today:
        return None
    base_first = event.start_day - timedelta(days=BASELINE_DAYS)
    during_days = (event.end_day - event.start_day).days + 1
    during = demand.filter(pl.col("day").is_between(event.start_day, event.end_day))["units"].sum()
    before = demand.filter(pl.col("day").is_between(base_first, event.start_day - timedelta(days=1)))["units"].sum()
    if not before:
        return None
    ratio = (Decimal(int(during)) / during_days) / (Decimal(int(before)) / BASELINE_DAYS) - 1
    return ratio.quantize(Decimal("0.0001"))


def _scoped_daily_units(
    session: Session, event: ForecastEvent, categories: dict[int, catalog.CategoryInfo]
) -> pl.DataFrame:
    """(day, units) over the event and its baseline, limited to the event's scope."""
    first = event.start_day - timedelta(days=BASELINE_DAYS)
    location_ids = None
    if event.scope == "location":
        try:
            location_ids = [inventory.get_location_by_code(session, event.scope_code).id]
        except NotFound:
            return pl.DataFrame(schema={"day": pl.Date, "units": pl.Int64})
    demand = order_demand.daily_demand(session, first, event.end_day, location_ids=location_ids, by_channel=True)
    if event.scope == "channel":
        demand = demand.filter(pl.col("channel_code") == event.scope_code)
    elif event.scope == "category":
        under = {
            c.id for c in categories.values() if any(categories.get(i, c).code == event.scope_code for i in c.path_ids)
        }
        refs = catalog.sku_refs_by_ids(session, demand["sku_id"].unique().to_list())
        in_scope = [sku_id for sku_id, r in refs.items() if r.category_id in under]
        demand = demand.filter(pl.col("sku_id").is_in(in_scope))
    return demand.group_by("day").agg(pl.col("units").sum())


def measure_events(session: Session, actor: Principal, today: date, *, recompute: bool = False) -> list[str]:
    """Measures the uplift of every event that has ended (and has not been measured, unless
    ``recompute``); returns the codes measured."""
    events, _ = repo.list_events(session, overlapping=(date.min, today - timedelta(days=1)))
    categories = catalog.categories_by_id(session)
    history_start = order_demand.first_order_day(session)
    measured: dict[str, int | None] = {}
    now = utcnow()
    for event in events:
        if event.end_day >= today or (event.measured_at is not None and not recompute):
            continue
        value = None
        # Without the whole baseline in the history the ratio would compare against empty days.
        if history_start is not None and event.start_day - timedelta(days=BASELINE_DAYS) >= history_start:
            value = measured_uplift(_scoped_daily_units(session, event, categories), span_of(event), today=today)
        event.measured_uplift_bp = None if value is None else int(value * 10000)
        event.measured_at = now
        measured[event.code] = event.measured_uplift_bp
    if measured:
        session.flush()
        # one entry per event: the audit log names one entity per row
        for code in sorted(measured):
            record(session, actor, "forecast.event.measure", "forecast_event", code, after={"uplift": measured[code]})
    return sorted(measured)


def list_events(
    session: Session,
    *,
    overlapping: tuple[date, date] | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[ForecastEvent]:
    """Events by start day (the console's table and the API's list)."""
    stmt = repo.events_stmt(overlapping=overlapping, kind=kind or None)
    keys = [SortKey(ForecastEvent.start_day), SortKey(ForecastEvent.id)]
    return paginate(session, stmt, keys, cursor=cursor, limit=limit)
