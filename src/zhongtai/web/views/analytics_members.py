"""Console pages: the member dashboard (/analytics/members) and store traffic (/analytics/traffic).

Both read the lake through ``zhongtai.analytics`` (``members_dashboard``, ``traffic_dashboard``)
with the shared filters of ``analytics_common``; each has an XLSX twin with the same filters.
Everything shown here is figures and presentation: the definitions live in the analytics modules.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from zhongtai.analytics.export_members import machine_label, members_xlsx, traffic_xlsx
from zhongtai.analytics.funnel import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, MIN_WINDOW_DAYS, STAGES
from zhongtai.analytics.members_dash import members_dashboard
from zhongtai.analytics.schemas_members import (
    MembersDashboardOut,
    StoreTrafficOut,
    TrafficDashboardOut,
)
from zhongtai.analytics.traffic import AGE_BANDS, GENDERS, traffic_dashboard
from zhongtai.analytics.xlsx import dated_filename, xlsx_response
from zhongtai.auth.permissions import Perm
from zhongtai.errors import FieldProblem
from zhongtai.web import charts
from zhongtai.web.page import Console, PageContext, render
from zhongtai.web.views.analytics_common import (
    Dashboard,
    Kpi,
    choice_name,
    dashboard_context,
    filters_about,
    pct_change,
)

router = APIRouter(include_in_schema=False)

WINDOW_CHOICES = (30, 60, 90, 180, 365)
STAGE_COLOURS = ("#cbd5e1", "#93c5fd", "#60a5fa", "#2563eb", "#1e3a8a")
GENDER_COLOURS = {"female": "#ec4899", "male": "#2563eb", "unknown": "#94a3b8"}
TRAFFIC_SORTS = ("conversion", "visitors", "buyers", "dwell", "sales", "spv")


# ================================================================ formatting


def pct(value: Decimal | None) -> str:
    """Decimal('0.4444') -> '44.4%'."""
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def minutes(ctx: PageContext, seconds: Decimal | float | None) -> str:
    return "—" if seconds is None else ctx.t("an_trf.minutes", m=f"{float(seconds) / 60:.1f}")


def pp_change(current: Decimal | None, previous: Decimal | None) -> tuple[str, str]:
    """A rate's change in percentage points: ("+3.2pp", "ok")."""
    if current is None or previous is None:
        return "", "muted"
    change = (float(current) - float(previous)) * 100
    return f"{change:+.1f}pp", "ok" if change > 0 else ("bad" if change < 0 else "muted")


def shade(count: int, maximum: int, rgb: str = "37, 99, 235") -> str:
    """A cell background from nothing to strong, by share of the largest cell."""
    if not count or not maximum:
        return "transparent"
    return f"rgba({rgb}, {0.08 + 0.72 * count / maximum:.2f})"


def ink(count: int, maximum: int) -> str:
    """White text on the darkest cells, the page's ink elsewhere."""
    return "#fff" if maximum and count / maximum > 0.55 else "inherit"


def _label(ctx: PageContext, prefix: str) -> Callable[[str], str]:
    def label(key: str) -> str:
        full = f"{prefix}.{key}"
        return ctx.t(full) if ctx.t.has(full) else machine_label(key)

    return label


def _window(ctx: PageContext, problems: list[FieldProblem]) -> int:
    raw = ctx.request.query_params.get("window", "")
    if not raw:
        return DEFAULT_WINDOW_DAYS
    if raw.isdigit() and MIN_WINDOW_DAYS <= int(raw) <= MAX_WINDOW_DAYS:
        return int(raw)
    problems.append(FieldProblem("window", "window_range", ctx.t("an_mem.window_problem")))
    return DEFAULT_WINDOW_DAYS


def _day_label(day: Any, granularity: str = "day") -> str:
    return str(day.strftime("%Y-%m" if granularity == "month" else "%m-%d"))


# ================================================================ members


def member_kpis(ctx: PageContext, dash: MembersDashboardOut) -> list[Kpi]:
    k = dash.kpis
    new_delta, new_tone = pct_change(k.new_members, k.new_members_previous)
    buyers_delta, buyers_tone = pct_change(k.active_buyers, k.active_buyers_previous)
    repeat_delta, repeat_tone = pp_change(k.repeat_rate, k.repeat_rate_previous)
    share_delta, share_tone = pp_change(k.member_share, k.member_share_previous)
    return [
        Kpi("total_members", "an_mem.kpi.total", f"{k.total_members:,}", ctx.t("an_mem.kpi.total_hint")),
        Kpi(
            "new_members",
            "an_mem.kpi.new",
            f"{k.new_members:,}",
            ctx.t("an_mem.kpi.previous", n=f"{k.new_members_previous:,}"),
            new_delta,
            new_tone,
            "accent-ok",
        ),
        Kpi(
            "active_buyers",
            "an_mem.kpi.buyers",
            f"{k.active_buyers:,}",
            ctx.t("an_mem.kpi.buyers_hint", share=pct(_share(k.active_buyers, k.total_members))),
            buyers_delta,
            buyers_tone,
        ),
        Kpi(
            "repeat_rate",
            "an_mem.kpi.repeat",
            pct(k.repeat_rate),
            ctx.t("an_mem.kpi.repeat_hint", n=k.repeat_buyers, d=k.active_buyers),
            repeat_delta,
            repeat_tone,
            "accent-violet",
        ),
        Kpi(
            "member_share",
            "an_mem.kpi.share",
            pct(k.member_share),
            ctx.t("an_mem.kpi.share_hint", m=ctx.money_compact(k.member_sales_fen), s=ctx.money_compact(k.sales_fen)),
            share_delta,
            share_tone,
            "accent-warn",
        ),
    ]


def _share(part: int, whole: int) -> Decimal | None:
    return None if not whole else Decimal(part) / Decimal(whole)


def growth_charts(ctx: PageContext, dash: Dashboard, data: MembersDashboardOut) -> tuple[str, str]:
    names = {c.value: choice_name(ctx, c) for c in dash.options.channels}
    labels = [_day_label(g.start, data.granularity) for g in data.growth]
    new = charts.stacked_bar_chart(
        labels,
        [
            charts.Series(
                names.get(code, code) or ctx.t("an_mem.unknown_channel"),
                [g.new_by_channel.get(code, 0) for g in data.growth],
                color=charts.PALETTE[i % len(charts.PALETTE)],
            )
            for i, code in enumerate(data.channels)
        ],
        title=ctx.t("an_mem.growth.new_title"),
        width=760,
        height=280,
        empty_message=ctx.t("an_mem.growth.no_new"),
    )
    cumulative = charts.line_chart(
        labels,
        [
            charts.Series(
                ctx.t("an_mem.growth.cumulative"), [g.cumulative for g in data.growth], color=charts.PALETTE[1]
            )
        ],
        title=ctx.t("an_mem.growth.cumulative_title"),
        width=760,
        height=240,
        empty_message=ctx.t("an_mem.empty"),
    )
    return new, cumulative


def segment_label(ctx: PageContext, code: str) -> str:
    return ctx.t.maybe("an_mem.segment", code)


def segment_chart(ctx: PageContext, dash: MembersDashboardOut) -> str:
    return charts.donut_chart(
        [charts.Datum(segment_label(ctx, s.segment), s.members) for s in dash.segments],
        title=ctx.t("an_mem.rfm.donut_title"),
        width=520,
        height=260,
        center_label=ctx.t("an_mem.rfm.scored"),
        center_value=f"{sum(s.members for s in dash.segments):,}",
        max_slices=8,
        other_label=ctx.t("an_mem.other"),
        empty_message=ctx.t("an_mem.rfm.none_scored"),
    )


def funnel_rows(dash: MembersDashboardOut) -> list[dict[str, Any]]:
    """The funnel's rows from Aware down to Advocate, each bar as wide as its reach."""
    population = dash.funnel.population or 1
    return [
        {
            "stage": s.stage,
            "members": s.members,
            "reached": s.reached,
            "conversion": s.conversion,
            "width": max(4.0, 100 * s.reached / population) if s.reached else 0.0,
            "colour": STAGE_COLOURS[i + 1],
        }
        for i, s in enumerate(dash.funnel.steps[1:])
    ]


def matrix_cells(dash: MembersDashboardOut) -> list[list[dict[str, Any]]]:
    m = dash.funnel.matrix
    biggest = max((c for row in m for c in row), default=0)
    out = []
    for i, row in enumerate(m):
        cells = []
        for j, count in enumerate(row):
            rgb = "22, 163, 74" if j > i else ("220, 38, 38" if j < i else "37, 99, 235")
            cells.append(
                {
                    "count": count,
                    "bg": shade(count, biggest, rgb),
                    "fg": ink(count, biggest),
                    "kind": "up" if j > i else ("down" if j < i else "same"),
                }
            )
        out.append(cells)
    return out


def rfm_cells(dash: MembersDashboardOut) -> list[tuple[int, list[dict[str, Any]]]]:
    """Rows from R5 (recent) down to R1, columns F1..F5."""
    biggest = max((c for row in dash.rfm_grid for c in row), default=0)
    return [
        (
            r + 1,
            [{"count": c, "bg": shade(c, biggest, "139, 92, 246"), "fg": ink(c, biggest)} for c in dash.rfm_grid[r]],
        )
        for r in range(4, -1, -1)
    ]


@router.get("/analytics/members")
def members_page(ctx: Console) -> Response:
    ctx.require(Perm.ANALYTICS_READ)
    dash = dashboard_context(ctx, "/analytics/members")
    problems = list(dash.problems)
    window = _window(ctx, problems)
    dash.problems = problems
    data = members_dashboard(dash.lake, dash.filters, window_days=window)
    new_chart, cumulative_chart = growth_charts(ctx, dash, data)
    dash.export_href = ctx.url("/analytics/members.xlsx", **dash.filters.as_query(), window=window)
    return render(
        ctx,
        "analytics/members.html",
        dash=dash,
        data=data,
        window=window,
        windows=[(n, ctx.url_with(window=n)) for n in WINDOW_CHOICES],
        kpis=member_kpis(ctx, data),
        new_chart=new_chart,
        cumulative_chart=cumulative_chart,
        segment_chart=segment_chart(ctx, data),
        segment_label=lambda code: segment_label(ctx, code),
        funnel_rows=funnel_rows(data),
        matrix=matrix_cells(data),
        rfm=rfm_cells(data),
        stages=STAGES,
        stage_colours=dict(zip(STAGES, STAGE_COLOURS, strict=True)),
        pct=pct,
    )


@router.get("/analytics/members.xlsx")
def members_export(ctx: Console) -> Response:
    ctx.require(Perm.ANALYTICS_READ)
    dash = dashboard_context(ctx, "/analytics/members")
    window = _window(ctx, [])
    data = members_dashboard(dash.lake, dash.filters, window_days=window)
    about = [*filters_about(ctx, dash), (ctx.t("an_mem.window"), ctx.t("an_mem.window_days", n=window))]
    f = dash.filters
    return xlsx_response(members_xlsx(data, _label(ctx, "an_mem"), about), dated_filename("members", f.start, f.end))


# ================================================================ traffic


def traffic_kpis(ctx: PageContext, data: TrafficDashboardOut) -> list[Kpi]:
    t, p = data.total, data.previous
    v_delta, v_tone = pct_change(t.visitors, p.visitors)
    b_delta, b_tone = pct_change(t.buyers, p.buyers)
    c_delta, c_tone = pp_change(t.conversion, p.conversion)
    d_delta, d_tone = pct_change(float(t.avg_dwell_s or 0), float(p.avg_dwell_s or 0))
    s_delta, s_tone = pct_change(t.sales_per_visitor_fen or 0, p.sales_per_visitor_fen or 0)
    return [
        Kpi(
            "visitors",
            "an_trf.kpi.visitors",
            f"{t.visitors:,}",
            ctx.t("an_trf.kpi.visitors_hint", e=f"{t.entries:,}", x=f"{t.exits:,}"),
            v_delta,
            v_tone,
        ),
        Kpi(
            "buyers",
            "an_trf.kpi.buyers",
            f"{t.buyers:,}",
            ctx.t("an_trf.kpi.buyers_hint"),
            b_delta,
            b_tone,
            "accent-ok",
        ),
        Kpi(
            "conversion",
            "an_trf.kpi.conversion",
            pct(t.conversion),
            ctx.t("an_trf.kpi.conversion_hint", b=f"{t.buyers:,}", v=f"{t.visitors:,}"),
            c_delta,
            c_tone,
            "accent-violet",
        ),
        Kpi("dwell", "an_trf.kpi.dwell", minutes(ctx, t.avg_dwell_s), ctx.t("an_trf.kpi.dwell_hint"), d_delta, d_tone),
        Kpi(
            "sales_per_visitor",
            "an_trf.kpi.spv",
            ctx.money(t.sales_per_visitor_fen),
            ctx.t("an_trf.kpi.spv_hint", s=ctx.money_compact(t.pos_sales_fen)),
            s_delta,
            s_tone,
            "accent-warn",
        ),
    ]


def traffic_charts(ctx: PageContext, data: TrafficDashboardOut) -> dict[str, str]:
    days = [_day_label(d.day) for d in data.by_day]
    empty = ctx.t("an_trf.no_traffic")
    visitors = charts.bar_chart(
        [charts.Datum(label, d.visitors) for label, d in zip(days, data.by_day, strict=True)],
        title=ctx.t("an_trf.chart.visitors"),
        width=760,
        height=240,
        empty_message=empty,
    )
    conversion = charts.line_chart(
        days,
        [
            charts.Series(
                ctx.t("an_trf.kpi.conversion"),
                [float(d.conversion or 0) * 100 for d in data.by_day],
                color=charts.PALETTE[3],
            )
        ],
        title=ctx.t("an_trf.chart.conversion"),
        width=760,
        height=180,
        value_format=lambda v: f"{v:.0f}%",
        empty_message=empty,
    )
    hours = charts.bar_chart(
        [charts.Datum(f"{h.hour:02d}", float(h.per_day)) for h in data.by_hour],
        title=ctx.t("an_trf.chart.hours"),
        width=760,
        height=240,
        value_format=lambda v: f"{v:.1f}" if v else "",
        axis_format=lambda v: f"{v:g}",
        color=charts.PALETTE[1],
        empty_message=empty,
    )
    dwell = charts.bar_chart(
        [charts.Datum(ctx.t(f"an_trf.dwell.{b.bucket}"), b.exits) for b in data.dwell],
        title=ctx.t("an_trf.chart.dwell"),
        width=520,
        height=240,
        color=charts.PALETTE[2],
        empty_message=empty,
    )
    counts = {(d.age_band, d.gender): d.visitors for d in data.demographics}
    bands = [
        b
        for b in (*AGE_BANDS, *sorted({a for a, _ in counts} - set(AGE_BANDS)))
        if any(counts.get((b, g), 0) for g in {g for _, g in counts})
    ]
    genders = [*GENDERS, *sorted({g for _, g in counts} - set(GENDERS))]
    demographics = charts.stacked_bar_chart(
        [ctx.t.maybe("an_trf.age", b) for b in bands],
        [
            charts.Series(
                ctx.t.maybe("an_trf.gender", g), [counts.get((b, g), 0) for b in bands], color=GENDER_COLOURS.get(g)
            )
            for g in genders
        ],
        title=ctx.t("an_trf.chart.demographics"),
        width=520,
        height=260,
        empty_message=empty,
    )
    return {
        "visitors": visitors,
        "conversion": conversion,
        "hours": hours,
        "dwell": dwell,
        "demographics": demographics,
    }


def sort_stores(stores: list[StoreTrafficOut], key: str) -> list[StoreTrafficOut]:
    """Highest first; stores without the figure last."""

    def value(s: StoreTrafficOut) -> float | None:
        raw: Decimal | int | None = {
            "conversion": s.conversion,
            "visitors": s.visitors,
            "buyers": s.buyers,
            "dwell": s.avg_dwell_s,
            "sales": s.pos_sales_fen,
            "spv": s.sales_per_visitor_fen,
        }[key]
        return None if raw is None else float(raw)

    return sorted(stores, key=lambda s: (value(s) is None, -(value(s) or 0.0), s.code))


def conversion_bars(stores: list[StoreTrafficOut]) -> dict[int, float]:
    """Each store's conversion as a share of the best store's (the table's bar widths, %)."""
    best = max((float(s.conversion or 0) for s in stores), default=0.0) or 1.0
    return {s.location_id: round(float(s.conversion or 0) / best * 100, 1) for s in stores}


@router.get("/analytics/traffic")
def traffic_page(ctx: Console) -> Response:
    ctx.require(Perm.ANALYTICS_READ)
    dash = dashboard_context(ctx, "/analytics/traffic")
    data = traffic_dashboard(dash.lake, dash.filters)
    sort = ctx.request.query_params.get("sort", "conversion")
    if sort not in TRAFFIC_SORTS:
        sort = "conversion"
    stores = sort_stores(data.stores, sort)
    return render(
        ctx,
        "analytics/traffic.html",
        dash=dash,
        data=data,
        kpis=traffic_kpis(ctx, data),
        stores=stores,
        sort=sort,
        sort_href={key: ctx.url_with(sort=key) for key in TRAFFIC_SORTS},
        store_href={
            s.location_id: ctx.url("/analytics/traffic", **(dash.filters.as_query() | {"store": str(s.location_id)}))
            for s in stores
        },
        bar_width=conversion_bars(stores),
        pct=pct,
        minutes=lambda s: minutes(ctx, s),
        charts=traffic_charts(ctx, data),
    )


@router.get("/analytics/traffic.xlsx")
def traffic_export(ctx: Console) -> Response:
    ctx.require(Perm.ANALYTICS_READ)
    dash = dashboard_context(ctx, "/analytics/traffic")
    data = traffic_dashboard(dash.lake, dash.filters)
    f = dash.filters
    return xlsx_response(
        traffic_xlsx(data, _label(ctx, "an_trf"), filters_about(ctx, dash), english=ctx.locale == "en"),
        dated_filename("traffic", f.start, f.end),
    )
