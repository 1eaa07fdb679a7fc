"""What every dashboard page shares: its filters, their choices, KPI cards, the XLSX download.

Pages call ``dashboard_context`` first: it parses the filters (bad ones are listed on the page,
never a 500), loads the choices from the lake and builds the export link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from zhongtai.analytics.deps import get_lake
from zhongtai.analytics.filters import DashboardFilters, parse_filters
from zhongtai.analytics.lake import Lake
from zhongtai.analytics.options import Choice, FilterOptions, filter_options
from zhongtai.errors import FieldProblem
from zhongtai.web.page import PageContext


@dataclass
class Kpi:
    """One figure card: ``label`` is a locale key; ``delta`` a signed change against the previous
    period ("+12.5%"), ``tone`` ok | bad | muted colours it."""

    key: str
    label: str
    value: str
    hint: str = ""
    delta: str = ""
    tone: str = "muted"
    accent: str = ""


@dataclass
class Dashboard:
    filters: DashboardFilters
    problems: list[FieldProblem]
    options: FilterOptions
    lake: Lake
    # This page as XLSX with the same filters.
    export_href: str = ""
    # Quick ranges: (days, href).
    quick: list[tuple[int, str]] = field(default_factory=list)


QUICK_RANGES = (7, 30, 90, 365)


def local_now(ctx: PageContext) -> datetime:
    return datetime.now(ZoneInfo(ctx.settings.default_timezone))


def dashboard_context(ctx: PageContext, path: str, *, default_days: int = 30) -> Dashboard:
    """Filters, choices, the export link (``path + '.xlsx'``) and quick ranges of a dashboard page."""
    lake = get_lake(ctx.request)
    options = filter_options(lake)
    params = {
        k: ",".join(ctx.request.query_params.getlist(k)) for k in ("start", "end", "channel", "store", "category")
    }
    parsed = parse_filters(
        params,
        today=local_now(ctx).date(),
        principal=ctx.principal,
        known_channels=options.channel_codes() or None,
        default_days=default_days,
    )
    f = parsed.filters
    scoped = filter_options(lake, f) if f.scope is not None else options
    query = f.as_query()
    quick = []
    for days in QUICK_RANGES:
        start = f.end.toordinal() - days + 1
        quick.append((days, ctx.url(path, **(query | {"start": type(f.end).fromordinal(start).isoformat()}))))
    return Dashboard(
        filters=f,
        problems=parsed.problems,
        options=scoped,
        lake=lake,
        export_href=ctx.url(path + ".xlsx", **query),
        quick=quick,
    )


def choice_name(ctx: PageContext, choice: Choice) -> str:
    return choice.name_en if ctx.locale == "en" and choice.name_en else choice.name


def pct_change(current: float, previous: float) -> tuple[str, str]:
    """("+12.5%", "ok") against the previous period; ("", "muted") when there is nothing to compare."""
    if not previous:
        return "", "muted"
    change = (current - previous) / abs(previous) * 100
    return f"{change:+.1f}%", "ok" if change > 0 else ("bad" if change < 0 else "muted")


def filters_about(ctx: PageContext, dash: Dashboard) -> list[tuple[str, str]]:
    """The filters as (label, value) rows for the XLSX's first sheet."""
    f = dash.filters
    names = {c.value: choice_name(ctx, c) for c in dash.options.channels + dash.options.stores}
    cats = {c.value: choice_name(ctx, c) for c in dash.options.categories}
    all_label = ctx.t("filter.all")
    return [
        (ctx.t("an.filter.start"), f.start.isoformat()),
        (ctx.t("an.filter.end"), f.end.isoformat()),
        (ctx.t("an.filter.channel"), ", ".join(names.get(c, c) for c in f.channels) or all_label),
        (ctx.t("an.filter.store"), ", ".join(names.get(str(s), str(s)) for s in f.stores) or all_label),
        (
            ctx.t("an.filter.category"),
            cats.get(str(f.category_id), str(f.category_id)) if f.category_id is not None else all_label,
        ),
        (ctx.t("an.generated_at"), local_now(ctx).strftime("%Y-%m-%d %H:%M")),
    ]
