"""Console pages: touchpoint health (/analytics/touchpoints) and the five maturity indicators
(/analytics/maturity), each with its XLSX download.

The figures come from ``analytics.health`` and ``analytics.maturity`` (lake only); this module
turns them into KPI cards, server-side SVG charts, a sparkline per touchpoint and the maturity
radar (five axes, now against six months earlier).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from fastapi import APIRouter
from fastapi.responses import Response

from zhongtai.analytics.api_touchpoints import MaturityParams, maturity_params
from zhongtai.analytics.deps import get_lake
from zhongtai.analytics.export_touchpoints import health_workbook, maturity_workbook
from zhongtai.analytics.health import HealthReport, TouchpointHealth, touchpoint_health
from zhongtai.analytics.maturity import INDICATORS, Component, Indicator, MaturityReport, maturity
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
    local_now,
    pct_change,
)

router = APIRouter(include_in_schema=False)

TYPE_COLOURS = {
    "online": charts.PALETTE[0],
    "offline": charts.PALETTE[1],
    "commercial": charts.PALETTE[2],
    "social": charts.PALETTE[3],
}
INDICATOR_COLOURS = dict(zip(INDICATORS, charts.PALETTE, strict=False))
STATE_ORDER = {"down": 0, "late": 1, "never": 2, "healthy": 3}


# ================================================================ formatting


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def seconds(ctx: PageContext, value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return ctx.t("an_tp.seconds", n=f"{value:,.0f}")
    if value < 7200:
        return ctx.t("an_tp.minutes", n=f"{value / 60:,.1f}")
    return ctx.t("an_tp.hours", n=f"{value / 3600:,.1f}")


def component_text(ctx: PageContext, c: Component) -> str:
    if c.value is None:
        return "—"
    if c.kind == "rate":
        return pct(c.value)
    if c.kind == "money":
        return ctx.money(int(c.value))
    if c.kind == "days":
        return ctx.t("an_mat.days", n=f"{c.value:,.1f}")
    if c.kind == "ratio":
        return f"{c.value:,.2f}"
    count = f"{int(c.value):,}"
    return f"{count} / {c.of}" if c.of is not None else count


def formula_text(ctx: PageContext, indicator: Indicator) -> str:
    return ctx.t(f"an_mat.formula.{indicator.key}", **indicator.formula_args)


def score_tone(score: float) -> str:
    return "ok" if score >= 70 else ("warn" if score >= 40 else "bad")


# ================================================================ small SVGs


def sparkline(values: Sequence[int], *, width: int = 96, height: int = 22, colour: str = charts.PALETTE[0]) -> str:
    """A tiny line of daily counts for a table cell; its title gives the total."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(1, len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values))
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{sum(values)}"><title>{sum(values):,}</title>'
        f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/></svg>'
    )


@dataclass(frozen=True)
class RadarSeries:
    label: str
    values: Sequence[float]  # 0–100, one per axis
    colour: str
    dashed: bool = False


def radar_chart(axes: Sequence[str], series: Sequence[RadarSeries], *, title: str, size: int = 380) -> str:
    """A radar (spider) chart on a 0–100 scale: rings every 20, one polygon per series."""
    n = len(axes)
    width, height = size + 200, size + 40
    cx, cy, r = width / 2, height / 2 + 8, size / 2 - 30

    def at(i: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / n
        return cx + r * value / 100 * math.cos(angle), cy + r * value / 100 * math.sin(angle)

    parts = [
        f'<svg class="chart radar-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(title)}" {charts.FONT}>'
        f"<title>{escape(title)}</title>"
    ]
    for ring in (20, 40, 60, 80, 100):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(i, ring) for i in range(n)))
        parts.append(f'<polygon points="{pts}" fill="none" stroke="{charts.GRID}"/>')
        x, y = at(0, ring)
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 4:.1f}" font-size="10" fill="{charts.MUTED}">{ring}</text>')
    for i, name in enumerate(axes):
        x, y = at(i, 100)
        lx, ly = at(i, 114)
        anchor = "middle" if abs(lx - cx) < 10 else ("start" if lx > cx else "end")
        parts.append(
            f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="{charts.GRID}"/>'
            f'<text x="{lx:.1f}" y="{ly + 4:.1f}" text-anchor="{anchor}" font-size="12" '
            f'fill="{charts.INK}">{escape(name)}</text>'
        )
    for s in series:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(i, v) for i, v in enumerate(s.values)))
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        parts.append(
            f'<polygon points="{pts}" fill="{s.colour}" fill-opacity="{0.08 if s.dashed else 0.18}" '
            f'stroke="{s.colour}" stroke-width="2"{dash}/>'
        )
        for i, v in enumerate(s.values):
            x, y = at(i, v)
            parts.append(
                f'<g class="point"><title>{escape(f"{s.label} · {axes[i]}: {v:.1f}")}</title>'
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{s.colour}"/></g>'
            )
    lx = 8.0
    for s in series:
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        parts.append(
            f'<line x1="{lx:.1f}" y1="12" x2="{lx + 16:.1f}" y2="12" stroke="{s.colour}" stroke-width="2"{dash}/>'
            f'<text x="{lx + 20:.1f}" y="16" font-size="12" fill="{charts.INK}">{escape(s.label)}</text>'
        )
        lx += 28 + charts.text_width(s.label, 12) + 12
    parts.append("</svg>")
    return "".join(parts)


# ================================================================ health page


def store_names(ctx: PageContext, dash: Dashboard) -> dict[int, str]:
    return {int(c.value): choice_name(ctx, c) for c in dash.options.stores}


def health_kpis(ctx: PageContext, report: HealthReport) -> list[Kpi]:
    states = report.by_state
    total = sum(states.values())
    events_delta, events_tone = pct_change(report.accepted, report.previous_accepted)
    valid_delta, valid_tone = "", "muted"
    if report.valid_rate is not None and report.previous_valid_rate is not None:
        change = (report.valid_rate - report.previous_valid_rate) * 100
        valid_delta = ctx.t("an_tp.pp", d=f"{change:+.1f}")
        valid_tone = "ok" if change > 0 else ("bad" if change < 0 else "muted")
    unhealthy = states["down"] + states["late"]
    return [
        Kpi(
            "healthy",
            "an_tp.kpi.healthy",
            f"{states['healthy']} / {total}",
            ctx.t("an_tp.kpi.healthy_hint", late=states["late"], down=states["down"], never=states["never"]),
            accent="accent-bad" if states["down"] else ("accent-warn" if unhealthy else "accent-ok"),
        ),
        Kpi(
            "uptime",
            "an_tp.kpi.uptime",
            pct(report.uptime),
            ctx.t("an_tp.kpi.uptime_hint", up=f"{report.up_intervals:,}", n=f"{report.expected_intervals:,}"),
        ),
        Kpi(
            "valid_rate",
            "an_tp.kpi.valid_rate",
            pct(report.valid_rate),
            ctx.t("an_tp.kpi.valid_hint", rejected=f"{report.rejected:,}"),
            valid_delta,
            valid_tone,
            "accent-ok",
        ),
        Kpi(
            "match_rate",
            "an_tp.kpi.match_rate",
            pct(report.match_rate),
            ctx.t("an_tp.kpi.match_hint", a=f"{report.attributed:,}", n=f"{report.identified:,}"),
            accent="accent-violet",
        ),
        Kpi(
            "events",
            "an_tp.kpi.events",
            f"{report.accepted:,}",
            ctx.t("an_tp.kpi.events_hint", p95=seconds(ctx, report.freshness_p95_s)),
            events_delta,
            events_tone,
        ),
    ]


def health_charts(ctx: PageContext, report: HealthReport) -> dict[str, str]:
    empty = ctx.t("an_tp.no_data")
    labels = [d.strftime("%m-%d") for d in report.days]
    events = charts.stacked_bar_chart(
        labels,
        [
            charts.Series(ctx.t(f"an_tp.type.{t}"), list(v), TYPE_COLOURS.get(t))
            for t, v in report.events_by_type.items()
        ],
        title=ctx.t("an_tp.chart.events"),
        width=760,
        empty_message=empty,
    )
    with_uptime = sorted(
        (t for t in report.touchpoints if t.uptime is not None), key=lambda t: (t.uptime or 0.0, t.code)
    )
    uptime = charts.hbar_chart(
        [
            charts.Datum(
                ctx.name_of(t) or t.code,
                round((t.uptime or 0.0) * 100, 1),
                charts.PALETTE[4] if (t.uptime or 0) < 0.9 else charts.PALETTE[7],
            )
            for t in with_uptime[:15]
        ],
        title=ctx.t("an_tp.chart.uptime"),
        value_format=lambda v: f"{v:.1f}%",
        empty_message=empty,
    )
    reasons = charts.hbar_chart(
        [charts.Datum(ctx.t.maybe("an_tp.reason", code), n, charts.PALETTE[2]) for code, n in report.rejection_reasons],
        title=ctx.t("an_tp.chart.reasons"),
        empty_message=ctx.t("an_tp.no_rejections"),
    )
    return {"events": events, "uptime": uptime, "reasons": reasons}


def health_rows(report: HealthReport) -> list[tuple[TouchpointHealth, str]]:
    """Worst first: down, late, never, healthy; then by uptime."""
    ordered = sorted(
        report.touchpoints,
        key=lambda t: (STATE_ORDER.get(t.state, 9), t.uptime if t.uptime is not None else 2.0, t.code),
    )
    return [(t, sparkline(t.daily, colour=TYPE_COLOURS.get(t.type, charts.PALETTE[9]))) for t in ordered]


def _health(ctx: PageContext) -> tuple[Dashboard, HealthReport]:
    ctx.require(Perm.ANALYTICS_READ)
    dash = dashboard_context(ctx, "/analytics/touchpoints")
    report = touchpoint_health(dash.lake, dash.filters, datetime.now(UTC), tz=ctx.settings.default_timezone)
    return dash, report


@router.get("/analytics/touchpoints")
def touchpoints_page(ctx: Console) -> Response:
    dash, report = _health(ctx)
    return render(
        ctx,
        "analytics/touchpoints.html",
        dash=dash,
        report=report,
        kpis=health_kpis(ctx, report),
        charts=health_charts(ctx, report),
        rows=health_rows(report),
        stores=store_names(ctx, dash),
        pct=pct,
        ms=ms,
        seconds=lambda v: seconds(ctx, v),
    )


@router.get("/analytics/touchpoints.xlsx")
def touchpoints_xlsx(ctx: Console) -> Response:
    dash, report = _health(ctx)
    data = health_workbook(report, label=ctx.t, about=filters_about(ctx, dash), tz=ctx.settings.default_timezone)
    f = dash.filters
    return xlsx_response(data, dated_filename("touchpoints", f.start, f.end))


# ================================================================ maturity page


def _maturity(ctx: PageContext) -> tuple[MaturityParams, list[FieldProblem], MaturityReport]:
    ctx.require(Perm.ANALYTICS_READ)
    params, problems = maturity_params(
        ctx.request.query_params.get("as_of", ""),
        ctx.request.query_params.get("months", ""),
        local_now(ctx).date(),
    )
    report = maturity(get_lake(ctx.request), params.as_of, params.months, tz=ctx.settings.default_timezone)
    return params, problems, report


def maturity_charts(ctx: PageContext, report: MaturityReport) -> dict[str, str]:
    axes = [ctx.t(f"an_mat.ind.{k}") for k in INDICATORS]
    radar = radar_chart(
        axes,
        [
            RadarSeries(
                ctx.t("an_mat.radar.earlier", day=report.earlier.as_of.isoformat()),
                [report.earlier.indicator(k).score for k in INDICATORS],
                charts.PALETTE[9],
                dashed=True,
            ),
            RadarSeries(
                ctx.t("an_mat.radar.now", day=report.as_of.isoformat()),
                [report.current.indicator(k).score for k in INDICATORS],
                charts.PALETTE[0],
            ),
        ],
        title=ctx.t("an_mat.chart.radar"),
    )
    months = [s.as_of.strftime("%y-%m") for s in report.trend]
    out = {"radar": radar}
    out["overall"] = charts.line_chart(
        months,
        [charts.Series(ctx.t("an_mat.overall"), [round(s.overall, 1) for s in report.trend], charts.PALETTE[0])],
        title=ctx.t("an_mat.chart.overall"),
        width=760,
        height=220,
    )
    for key in INDICATORS:
        out[key] = charts.line_chart(
            months,
            [
                charts.Series(
                    ctx.t(f"an_mat.ind.{key}"),
                    [round(s.indicator(key).score, 1) for s in report.trend],
                    INDICATOR_COLOURS[key],
                )
            ],
            title=ctx.t("an_mat.chart.trend", name=ctx.t(f"an_mat.ind.{key}")),
            width=420,
            height=180,
        )
    return out


@router.get("/analytics/maturity")
def maturity_page(ctx: Console) -> Response:
    params, problems, report = _maturity(ctx)
    return render(
        ctx,
        "analytics/maturity.html",
        params=params,
        problems=problems,
        report=report,
        charts=maturity_charts(ctx, report),
        export_href=ctx.url("/analytics/maturity.xlsx", as_of=params.as_of.isoformat(), months=params.months),
        component_text=lambda c: component_text(ctx, c),
        formula_text=lambda i: formula_text(ctx, i),
        score_tone=score_tone,
        pct=pct,
    )


@router.get("/analytics/maturity.xlsx")
def maturity_xlsx(ctx: Console) -> Response:
    params, _, report = _maturity(ctx)
    about = [
        (ctx.t("an_mat.as_of"), params.as_of.isoformat()),
        (ctx.t("an_mat.months"), str(params.months)),
        (ctx.t("an.generated_at"), local_now(ctx).strftime("%Y-%m-%d %H:%M")),
    ]
    data = maturity_workbook(
        report,
        label=ctx.t,
        formula=lambda i: formula_text(ctx, i),
        about=about,
        tz=ctx.settings.default_timezone,
    )
    return xlsx_response(data, f"maturity-{params.as_of.isoformat()}.xlsx")
