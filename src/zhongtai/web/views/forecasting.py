"""Forecasts in the console: the latest run (and "run now"), the chart of one SKU x location
(history, forecast, p10-p90 band, events), the event calendar (list, create, edit, delete) and the
weekly accuracy.

Reading needs planning:read (store roles see their stores' pairs and accuracy rows only);
starting a run and editing events need planning:write. Every edit is a CSRF-protected form calling
one verb of ``forecasting.calendar`` as the logged-in person; a refused edit shows the form again
with every bad field.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response

from zhongtai.auth.permissions import Perm
from zhongtai.errors import Conflict, FieldProblem, ValidationFailed
from zhongtai.forecasting import accuracy, calendar, service
from zhongtai.jobs import get_job
from zhongtai.web import charts
from zhongtai.web.page import Console, ConsoleForm, PageContext, form_fields, render, with_done

router = APIRouter(include_in_schema=False)

TOP_PAIRS = 30
EVENTS_PAGE = 50
ACCURACY_WEEKS = 12
ACCURACY_LEVELS = ("overall", "category", "location")
HISTORY_DAYS = (28, 90, 180, 365)
EVENT_FIELDS = (
    "code",
    "name_zh",
    "name_en",
    "kind",
    "start_day",
    "end_day",
    "scope",
    "scope_code",
    "uplift_pct",
    "notes",
)


def _pct(bp: int | None) -> str:
    return "—" if bp is None else f"{bp / 100:+.1f} %"


def _plain_pct(bp: int | None) -> str:
    return "—" if bp is None else f"{bp / 100:.1f} %"


# ================================================================ runs


@router.get("/forecasts")
def forecasts_page(ctx: Console, done: str = "", offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    ctx.require(Perm.PLANNING_READ)
    latest = service.latest_run(ctx.session, any_status=True)
    succeeded = service.latest_run(ctx.session)
    job = None
    pct = 0
    if latest is not None and latest.status == "running" and latest.job_id is not None:
        job = get_job(ctx.session, latest.job_id)
        pct = int(job.progress * 100 / job.total) if job.total else 0
    pairs, total = service.top_pairs(ctx.session, ctx.principal, offset=offset, limit=TOP_PAIRS)
    runs = service.list_runs(ctx.session, cursor=None, limit=8).items
    return render(
        ctx,
        "forecasting/runs.html",
        latest=latest,
        succeeded=succeeded,
        job=job,
        pct=min(pct, 100),
        pairs=pairs,
        total_pairs=total,
        offset=offset,
        page_size=TOP_PAIRS,
        runs=runs,
        can_write=ctx.can(Perm.PLANNING_WRITE),
        done=done,
    )


@router.post("/forecasts/run")
async def run_now(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.PLANNING_WRITE)
    try:
        job = service.start_forecast_job(ctx.session, ctx.principal, {})
    except Conflict:
        return RedirectResponse(with_done("/forecasts", "already_running"), status_code=303)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


# ================================================================ one pair


@router.get("/forecasts/series")
def series_page(
    ctx: Console,
    sku: Annotated[str, Query(max_length=64)] = "",
    location: Annotated[str, Query(max_length=64)] = "",
    days: int = 90,
) -> Response:
    ctx.require(Perm.PLANNING_READ)
    days = days if days in HISTORY_DAYS else 90
    pairs, _ = service.top_pairs(ctx.session, ctx.principal, limit=TOP_PAIRS)
    if not sku and not location and pairs:
        sku, location = pairs[0].sku_code, pairs[0].location_code
    series = None
    chart = ""
    if sku and location:
        series = service.pair_series(ctx.session, ctx.principal, sku, location, history_days=days)
        chart = _series_chart(ctx, series)
    return render(
        ctx,
        "forecasting/series.html",
        series=series,
        chart=chart,
        pairs=pairs,
        filters={"sku": sku, "location": location, "days": days},
        history_days=HISTORY_DAYS,
        forecast_points=[p for p in series.points if p.yhat is not None] if series else [],
        event_name=lambda code: _event_name(ctx, series, code),
    )


def _event_name(ctx: PageContext, series: service.PairSeries | None, code: str) -> str:
    if series is None or code not in series.event_names:
        return code
    zh, en = series.event_names[code]
    return en if ctx.locale == "en" else zh


def _series_chart(ctx: PageContext, s: service.PairSeries) -> str:
    days = [p.day for p in s.points]
    index = {d: i for i, d in enumerate(days)}
    shades = []
    for e in s.events:
        first = index.get(max(e.start_day, days[0])) if days else None
        last = index.get(min(e.end_day, days[-1])) if days else None
        if first is not None and last is not None:
            shades.append(charts.Shade(first, last, _event_name(ctx, s, e.code)))
    t = ctx.t
    return charts.forecast_chart(
        [d.strftime("%m-%d") for d in days],
        [p.actual for p in s.points],
        [p.yhat for p in s.points],
        [p.p10 for p in s.points],
        [p.p90 for p in s.points],
        title=t("forecast.chart_title", sku=s.sku_code, location=s.location_code),
        labels=(t("forecast.actual"), t("forecast.mean"), t("forecast.band")),
        shades=shades,
        empty_message=t("forecast.no_data"),
    )


# ================================================================ events


def _event_values(form: dict[str, str]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """A form's fields as an event's values; uplift is typed in percent (25 = +25 %)."""
    values: dict[str, Any] = {k: form.get(k, "").strip() for k in EVENT_FIELDS if k != "uplift_pct"}
    problems: list[FieldProblem] = []
    raw = form.get("uplift_pct", "").strip() or "0"
    try:
        values["uplift_bp"] = round(float(raw) * 100)
    except ValueError:
        problems.append(FieldProblem("body.uplift_bp", "not_a_number", "a number of percent"))
    for name in ("start_day", "end_day"):
        try:
            values[name] = date.fromisoformat(values[name])
        except ValueError:
            problems.append(FieldProblem(f"body.{name}", "invalid_date", "a day as YYYY-MM-DD"))
    return values, problems


def _events_page(
    ctx: PageContext,
    *,
    cursor: str | None,
    year: int | None,
    form: dict[str, str] | None = None,
    problems: list[FieldProblem] | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    window = (date(year, 1, 1), date(year, 12, 31)) if year else None
    page = calendar.list_events(ctx.session, overlapping=window, cursor=cursor, limit=EVENTS_PAGE)
    strip = ""
    if year:
        strip = _year_strip(ctx, year, page.items)
    return render(
        ctx,
        "forecasting/events.html",
        status_code=status_code,
        events=page.items,
        next_cursor=page.next_cursor,
        year=year,
        years=_years(),
        strip=strip,
        kinds=calendar.KINDS,
        scopes=calendar.SCOPES,
        form=form or {"scope": "all", "kind": "custom", "uplift_pct": "0"},
        problems={p.field.removeprefix("body."): p for p in problems or []},
        can_write=ctx.can(Perm.PLANNING_WRITE),
        pct=_pct,
        done=done,
    )


def _years() -> list[int]:
    this = datetime.now(ZoneInfo("Asia/Shanghai")).year
    return list(range(this - 2, this + 2))


def _year_strip(ctx: PageContext, year: int, events: list[Any]) -> str:
    """A Gantt-like strip of one year: weeks on the axis, each event a shaded span."""
    first = date(year, 1, 1)
    days = [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]
    index = {d: i for i, d in enumerate(days)}
    # The kind is the short label in a narrow span ("双十一"); a custom event shows its name.
    shades = [
        charts.Shade(
            index[max(e.start_day, first)],
            index[min(e.end_day, days[-1])],
            ctx.name_of({"name": e.name_zh, "name_en": e.name_en})
            if e.kind == "custom"
            else ctx.t(f"events.kind.{e.kind}"),
        )
        for e in events
        if e.end_day >= first and e.start_day <= days[-1]
    ]
    return charts.forecast_chart(
        [d.strftime("%m-%d") for d in days],
        [None] * len(days),
        [None] * len(days),  # no series: the strip shows the events only
        [None] * len(days),
        [None] * len(days),
        title=ctx.t("events.strip_title", year=year),
        labels=(ctx.t("forecast.actual"), ctx.t("forecast.mean"), ctx.t("forecast.band")),
        shades=shades,
        height=120,
        empty_message=ctx.t("events.none"),
    )


@router.get("/forecasts/events")
def events_page(ctx: Console, cursor: str | None = None, year: int | None = None, done: str = "") -> Response:
    ctx.require(Perm.PLANNING_READ)
    return _events_page(ctx, cursor=cursor, year=year, done=done)


@router.post("/forecasts/events")
async def create_event(ctx: ConsoleForm) -> Response:
    ctx.require(Perm.PLANNING_WRITE)
    form = await form_fields(ctx)
    values, problems = _event_values(form)
    try:
        if problems:
            raise ValidationFailed(f"{len(problems)} invalid field(s)", errors=problems)
        calendar.create_event(ctx.session, ctx.principal, values)
    except ValidationFailed as error:
        ctx.session.rollback()
        return _events_page(ctx, cursor=None, year=None, form=form, problems=error.errors, status_code=error.status)
    return RedirectResponse(with_done("/forecasts/events", "created"), status_code=303)


@router.get("/forecasts/events/{code}")
def event_page(code: str, ctx: Console, done: str = "") -> Response:
    ctx.require(Perm.PLANNING_READ)
    event = calendar.get_event(ctx.session, code)
    form = {k: str(getattr(event, k)) for k in EVENT_FIELDS if k != "uplift_pct"} | {
        "uplift_pct": f"{event.uplift_bp / 100:g}"
    }
    return _event_form(ctx, event, form, [], done=done)


def _event_form(
    ctx: PageContext,
    event: Any,
    form: dict[str, str],
    problems: list[FieldProblem],
    *,
    done: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        ctx,
        "forecasting/event.html",
        status_code=status_code,
        event=event,
        form=form,
        problems={p.field.removeprefix("body."): p for p in problems},
        kinds=calendar.KINDS,
        scopes=calendar.SCOPES,
        can_write=ctx.can(Perm.PLANNING_WRITE),
        pct=_pct,
        done=done,
    )


@router.post("/forecasts/events/{code}")
async def update_event(code: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.PLANNING_WRITE)
    event = calendar.get_event(ctx.session, code)
    form = await form_fields(ctx) | {"code": code}
    values, problems = _event_values(form)
    try:
        if problems:
            raise ValidationFailed(f"{len(problems)} invalid field(s)", errors=problems)
        calendar.update_event(ctx.session, ctx.principal, code, {k: v for k, v in values.items() if k != "code"})
    except ValidationFailed as error:
        ctx.session.rollback()
        event = calendar.get_event(ctx.session, code)
        return _event_form(ctx, event, form, error.errors, status_code=error.status)
    return RedirectResponse(with_done(f"/forecasts/events/{code}", "saved"), status_code=303)


@router.post("/forecasts/events/{code}/delete")
async def delete_event(code: str, ctx: ConsoleForm) -> Response:
    ctx.require(Perm.PLANNING_WRITE)
    calendar.delete_event(ctx.session, ctx.principal, code)
    return RedirectResponse(with_done("/forecasts/events", "deleted"), status_code=303)


# ================================================================ accuracy


@router.get("/forecasts/accuracy")
def accuracy_page(ctx: Console, level: str = "overall") -> Response:
    ctx.require(Perm.PLANNING_READ)
    if ctx.principal.is_store_scoped:
        level = "location"  # overall and category figures mix other stores' sales
    level = level if level in ACCURACY_LEVELS else "overall"
    rows = accuracy.report(ctx.session, ctx.principal, level=level, weeks=ACCURACY_WEEKS)
    overall = (
        rows
        if level == "overall"
        else accuracy.report(ctx.session, ctx.principal, level="overall", weeks=ACCURACY_WEEKS)
    )
    chart_rows = overall if overall else _weekly_totals(rows)
    t = ctx.t
    chart = charts.line_chart(
        [r.week_start.strftime("%m-%d") for r in chart_rows],
        [
            charts.Series(t("accuracy.wape"), [(r.wape_bp or 0) / 100 for r in chart_rows], charts.PALETTE[0]),
            charts.Series(t("accuracy.bias"), [(r.bias_bp or 0) / 100 for r in chart_rows], charts.PALETTE[2]),
        ],
        title=t("accuracy.chart_title"),
        width=1000,
        height=260,
        value_format=lambda v: f"{v:g} %",
        empty_message=t("accuracy.none"),
    )
    shown = list(reversed(rows))
    latest = max((r.week_start for r in rows), default=None)
    if level != "overall" and latest is not None:
        # One row per category or location and week is too long a table: the latest week, worst first.
        shown = sorted((r for r in rows if r.week_start == latest), key=lambda r: -(r.wape_bp or 0))
    return render(
        ctx,
        "forecasting/accuracy.html",
        rows=shown,
        latest=latest,
        level=level,
        levels=ACCURACY_LEVELS if not ctx.principal.is_store_scoped else ("location",),
        chart=chart,
        pct=_plain_pct,
        signed=_pct,
        name_of=lambda r: (r.key_name_en if ctx.locale == "en" else r.key_name) or r.key_code or "—",
    )


def _weekly_totals(rows: list[accuracy.AccuracyRow]) -> list[accuracy.AccuracyRow]:
    """Per-week totals of location rows (a store role's chart). A row's absolute error is its WAPE
    times its actual units, so summing those gives the week's WAPE exactly (rows that sold nothing
    have no WAPE and drop out of it)."""
    by_week: dict[date, list[accuracy.AccuracyRow]] = {}
    for r in rows:
        by_week.setdefault(r.week_start, []).append(r)
    out = []
    for week, group in sorted(by_week.items()):
        actual = sum(r.units_actual for r in group)
        forecast = sum(r.units_forecast for r in group)
        err = sum((r.wape_bp or 0) * r.units_actual for r in group)
        out.append(
            accuracy.AccuracyRow(
                week,
                "location",
                None,
                None,
                None,
                None,
                actual,
                forecast,
                round(err / actual) if actual else None,
                round((forecast - actual) / actual * 10000) if actual else None,
            )
        )
    return out
