"""Console pages: the sales and inventory dashboards and their XLSX downloads.

Both read the lake only (``analytics.sales`` / ``analytics.inventory_dash``) with the shared
filters of ``analytics_common``; a store manager sees their stores. The pages show every figure's
definition next to it, so a director can tell what a number counts.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from fastapi import APIRouter
from fastapi.responses import Response

from zhongtai.analytics.export_sales import inventory_xlsx, sales_xlsx
from zhongtai.analytics.inventory_dash import AGE_BUCKETS, AGED_AFTER_DAYS, inventory_dashboard
from zhongtai.analytics.sales import OTHERS, sales_dashboard
from zhongtai.analytics.schemas_sales import (
    BreakdownRowOut,
    InventoryDashboard,
    PairOut,
    SalesDashboard,
    TurnoverRowOut,
)
from zhongtai.analytics.xlsx import dated_filename, xlsx_response
from zhongtai.auth.permissions import Perm
from zhongtai.web import charts
from zhongtai.web.page import Console, PageContext, render
from zhongtai.web.views.analytics_common import (
    Dashboard,
    Kpi,
    dashboard_context,
    filters_about,
    pct_change,
)

router = APIRouter(include_in_schema=False)

SALES_PATH = "/analytics/sales"
INVENTORY_PATH = "/analytics/inventory"
CHANNEL_COLOURS = charts.PALETTE
AGE_COLOURS = ("#22c55e", "#84cc16", "#f59e0b", "#f97316", "#ef4444")
AGED_LOCATIONS = 12


# ================================================================ formatting


def pct(value: Decimal | None, digits: int = 1) -> str:
    """0.8125 -> '81.3%'; None -> '—'."""
    return "—" if value is None else f"{float(value) * 100:.{digits}f}%"


def days_text(ctx: PageContext, value: Decimal | None) -> str:
    return "—" if value is None else ctx.t("an_inv.days", n=f"{float(value):,.1f}")


def pp_change(current: Decimal | None, previous: Decimal | None, *, lower_is_better: bool = False) -> tuple[str, str]:
    """A change of a rate in percentage points, coloured by whether it is for the better."""
    if current is None or previous is None:
        return "", "muted"
    change = (float(current) - float(previous)) * 100
    if abs(change) < 0.05:
        return "±0.0pp", "muted"
    better = change < 0 if lower_is_better else change > 0
    return f"{change:+.1f}pp", "ok" if better else "bad"


def row_name(ctx: PageContext, row: BreakdownRowOut | TurnoverRowOut, missing: str) -> str:
    """A breakdown row's name in this locale; "others (n)" and rows without a key get labels."""
    if isinstance(row, BreakdownRowOut) and row.key == OTHERS:
        return ctx.t("an_sales.others", n=row.merged)
    if row.key is None:
        return ctx.t(missing)
    return ctx.name_of(row) or row.code or row.key


def sku_name(ctx: PageContext, p: PairOut) -> str:
    return p.sku_name_en if ctx.locale == "en" and p.sku_name_en else p.sku_name


def location_name(ctx: PageContext, p: PairOut) -> str:
    return p.location_name_en if ctx.locale == "en" and p.location_name_en else p.location_name


def money_figure(ctx: PageContext, fen: int | None, currency: str = "CNY") -> str:
    """A card's amount: exact below ¥10,000 (¥62.50), compact above (¥1.23万 / ¥12.35K)."""
    if fen is not None and abs(fen) >= 1_000_000:
        return ctx.money_compact(fen, currency)
    return ctx.money(fen, currency)


def _money_format(ctx: PageContext) -> Callable[[float], str]:
    return lambda v: ctx.money_compact(round(v))


# ================================================================ sales


def sales_kpis(ctx: PageContext, d: SalesDashboard) -> list[Kpi]:
    c, p = d.current, d.previous

    def money(fen: int | None, currency: str) -> str:
        return money_figure(ctx, fen, currency)

    def kpi(key: str, value: str, now: float, before: float, hint: str = "", accent: str = "") -> Kpi:
        delta, tone = pct_change(now, before)
        return Kpi(key, f"an_sales.kpi.{key}", value, hint, delta, tone, accent)

    share_delta, share_tone = pp_change(c.member_share, p.member_share)
    refund_delta, refund_tone = pp_change(c.refund_rate, p.refund_rate, lower_is_better=True)
    return [
        kpi(
            "net_sales",
            money(c.net_fen, d.currency),
            c.net_fen,
            p.net_fen,
            ctx.t("an_sales.hint.previous", v=money(p.net_fen, d.currency)),
        ),
        kpi("orders", f"{c.orders:,}", c.orders, p.orders, ctx.t("an_sales.hint.previous", v=f"{p.orders:,}")),
        kpi("units", f"{c.units:,}", c.units, p.units, ctx.t("an_sales.hint.previous", v=f"{p.units:,}")),
        kpi(
            "aov",
            ctx.money(c.aov_fen, d.currency),
            c.aov_fen or 0,
            p.aov_fen or 0,
            ctx.t("an_sales.hint.previous", v=ctx.money(p.aov_fen, d.currency)),
            "accent-violet",
        ),
        kpi("buyers", f"{c.buyers:,}", c.buyers, p.buyers, ctx.t("an_sales.hint.previous", v=f"{p.buyers:,}")),
        Kpi(
            "member_share",
            "an_sales.kpi.member_share",
            pct(c.member_share),
            ctx.t("an_sales.hint.member_share", v=money(c.member_net_fen, d.currency)),
            share_delta,
            share_tone,
            "accent-ok",
        ),
        Kpi(
            "refund_rate",
            "an_sales.kpi.refund_rate",
            pct(c.refund_rate),
            ctx.t("an_sales.hint.refund", v=money(c.gross_fen - c.net_fen, d.currency)),
            refund_delta,
            refund_tone,
            "accent-warn",
        ),
    ]


def sales_charts(ctx: PageContext, d: SalesDashboard, dash: Dashboard) -> dict[str, str]:
    t = ctx.t
    money = _money_format(ctx)
    empty = t("an_sales.no_sales")
    query = dash.filters.as_query()
    channel_colour = {r.key: CHANNEL_COLOURS[i % len(CHANNEL_COLOURS)] for i, r in enumerate(d.by_channel)}
    daily = charts.line_chart(
        [x.day.strftime("%m-%d") for x in d.by_day],
        [
            charts.Series(t("an_sales.this_period"), [x.net_fen for x in d.by_day], color=charts.PALETTE[0]),
            charts.Series(t("an_sales.previous_period"), [x.previous_net_fen for x in d.by_day], color="#94a3b8"),
        ],
        title=t("an_sales.chart.daily"),
        width=760,
        height=280,
        value_format=money,
        empty_message=empty,
    )
    channel_donut = charts.donut_chart(
        [
            charts.Datum(row_name(ctx, r, "an_sales.no_channel"), r.net_fen, color=channel_colour.get(r.key))
            for r in d.by_channel
        ],
        title=t("an_sales.chart.channel_share"),
        width=460,
        height=260,
        value_format=money,
        center_label=t("an_sales.kpi.net_sales"),
        center_value=ctx.money_compact(d.current.net_fen, d.currency),
        other_label=t("an_sales.others_short"),
        empty_message=empty,
    )
    channel_bars = charts.bar_chart(
        [
            charts.Datum(
                row_name(ctx, r, "an_sales.no_channel"),
                r.net_fen,
                color=channel_colour.get(r.key),
                href=ctx.url(SALES_PATH, **(query | {"channel": r.key})) if r.key else None,
            )
            for r in d.by_channel
        ],
        title=t("an_sales.chart.channels"),
        width=520,
        height=240,
        value_format=money,
        empty_message=empty,
    )
    stores = charts.hbar_chart(
        [
            charts.Datum(
                row_name(ctx, r, "an_sales.no_store"),
                r.net_fen,
                color="#cbd5e1" if r.key in (None, OTHERS) else charts.PALETTE[1],
                href=ctx.url(SALES_PATH, **(query | {"store": r.key})) if r.key not in (None, OTHERS) else None,
            )
            for r in d.by_store
        ],
        title=t("an_sales.chart.stores"),
        width=620,
        value_format=money,
        empty_message=empty,
    )
    categories = charts.hbar_chart(
        [
            charts.Datum(
                row_name(ctx, r, "an_sales.no_category"),
                r.net_fen,
                color=charts.PALETTE[3],
                href=ctx.url(SALES_PATH, **(query | {"category": r.key}))
                if r.key is not None and r.key != str(d.category_parent)
                else None,
            )
            for r in d.by_category
        ],
        title=t("an_sales.chart.categories"),
        width=620,
        value_format=money,
        empty_message=empty,
    )
    hours = charts.bar_chart(
        [charts.Datum(f"{h.hour:02d}", h.net_fen) for h in d.by_hour] if d.current.net_fen else [],
        title=t("an_sales.chart.hours"),
        width=760,
        height=240,
        value_format=money,
        color=charts.PALETTE[5],
        empty_message=empty,
    )
    return {
        "daily": daily,
        "channel_donut": channel_donut,
        "channel_bars": channel_bars,
        "stores": stores,
        "categories": categories,
        "hours": hours,
    }


def _sales(ctx: PageContext) -> tuple[Dashboard, SalesDashboard]:
    ctx.require(Perm.ANALYTICS_READ)
    dash = dashboard_context(ctx, SALES_PATH)
    return dash, sales_dashboard(dash.lake, dash.filters)


@router.get(SALES_PATH)
def sales_page(ctx: Console) -> Response:
    dash, d = _sales(ctx)
    category_names = {c.value: ctx.name_of(c) for c in dash.options.categories}
    return render(
        ctx,
        "analytics/sales.html",
        dash=dash,
        d=d,
        kpis=sales_kpis(ctx, d),
        charts=sales_charts(ctx, d, dash),
        pct=pct,
        row_name=lambda r, missing: row_name(ctx, r, missing),
        category_name=category_names.get(str(d.category_parent), "") if d.category_parent is not None else "",
        others=OTHERS,
        link=lambda **changes: ctx.url(SALES_PATH, **(dash.filters.as_query() | changes)),
    )


@router.get(SALES_PATH + ".xlsx")
def sales_export(ctx: Console) -> Response:
    dash, d = _sales(ctx)
    data = sales_xlsx(d, lambda key: ctx.t(f"an_sales.{key}"), filters_about(ctx, dash), english=ctx.locale == "en")
    return xlsx_response(data, dated_filename("sales", d.start, d.end))


# ================================================================ inventory


def inventory_kpis(ctx: PageContext, d: InventoryDashboard) -> list[Kpi]:
    def money(fen: int | None, currency: str) -> str:
        return money_figure(ctx, fen, currency)

    aged_value = sum(b.value_fen for b, (_, limit) in zip(d.age_buckets, AGE_BUCKETS, strict=True) if _aged(limit))
    turnover = d.turnover
    return [
        Kpi(
            "stock_value",
            "an_inv.kpi.stock_value",
            money(d.now.value_fen, d.currency),
            ctx.t("an_inv.hint.stock_value", units=f"{d.now.units:,}", pairs=f"{d.now.pairs:,}"),
        ),
        Kpi(
            "turnover_days",
            "an_inv.kpi.turnover_days",
            days_text(ctx, turnover.turnover_days),
            ctx.t(
                "an_inv.hint.turnover",
                avg=money(turnover.avg_stock_value_fen, d.currency),
                cogs=money(turnover.cogs_fen, d.currency),
            ),
            accent="accent-violet",
        ),
        Kpi(
            "stockouts",
            "an_inv.kpi.stockouts",
            f"{d.stockout_count:,}",
            ctx.t("an_inv.hint.stockouts", n=f"{d.assorted_pairs:,}"),
            accent="accent-bad" if d.stockout_count else "accent-ok",
        ),
        Kpi(
            "stockout_days",
            "an_inv.kpi.stockout_days",
            f"{d.stockout_pair_days:,}",
            ctx.t("an_inv.hint.stockout_days", days=d.turnover.days),
            accent="accent-warn",
        ),
        Kpi(
            "slow_movers",
            "an_inv.kpi.slow_movers",
            f"{d.slow_count:,}",
            ctx.t("an_inv.hint.slow", v=money(d.slow_value_fen, d.currency)),
            accent="accent-warn",
        ),
        Kpi(
            "aged",
            "an_inv.kpi.aged",
            money(aged_value, d.currency),
            ctx.t("an_inv.hint.aged", share=pct(_share(aged_value, d.now.value_fen)), days=AGED_AFTER_DAYS),
            accent="accent-bad" if aged_value else "accent-ok",
        ),
    ]


def _aged(limit: int | None) -> bool:
    """Whether a bucket (by its upper limit) lies beyond AGED_AFTER_DAYS."""
    return limit is None or limit > AGED_AFTER_DAYS


def _share(part: int, whole: int) -> Decimal | None:
    return None if not whole else Decimal(part) / Decimal(whole)


def inventory_charts(ctx: PageContext, d: InventoryDashboard, dash: Dashboard) -> dict[str, str]:
    t = ctx.t
    money = _money_format(ctx)
    empty = t("an_inv.no_stock")
    query = dash.filters.as_query()
    stockout_days = charts.bar_chart(
        [charts.Datum(x.day.strftime("%m-%d"), x.pairs) for x in d.stockout_days]
        if any(x.pairs for x in d.stockout_days)
        else [],
        title=t("an_inv.chart.stockout_days"),
        width=760,
        height=240,
        color=charts.PALETTE[4],
        empty_message=t("an_inv.no_stockout_days"),
    )
    ages = charts.bar_chart(
        [
            charts.Datum(t("an_inv.bucket", b=b.bucket), b.value_fen, color=AGE_COLOURS[i])
            for i, b in enumerate(d.age_buckets)
        ]
        if d.now.value_fen
        else [],
        title=t("an_inv.chart.ages"),
        width=520,
        height=240,
        value_format=money,
        empty_message=empty,
    )
    located = d.aged_by_location[:AGED_LOCATIONS]
    aged_locations = charts.stacked_bar_chart(
        [a.code for a in located],
        [
            charts.Series(t("an_inv.bucket", b=name), [a.value_fen[i] for a in located], color=AGE_COLOURS[i])
            for i, (name, _) in enumerate(AGE_BUCKETS)
        ],
        title=t("an_inv.chart.ages_by_location"),
        width=760,
        height=280,
        value_format=money,
        hrefs=[ctx.url(INVENTORY_PATH, **(query | {"store": str(a.location_id)})) for a in located],
        empty_message=empty,
    )
    turnover_categories = charts.hbar_chart(
        [
            charts.Datum(
                row_name(ctx, r, "an_inv.no_category"),
                float(r.turnover_days),
                color=charts.PALETTE[3],
                href=ctx.url(INVENTORY_PATH, **(query | {"category": r.key}))
                if r.key is not None and r.key != str(d.category_parent)
                else None,
            )
            for r in d.by_category
            if r.turnover_days is not None
        ],
        title=t("an_inv.chart.turnover_categories"),
        width=520,
        value_format=lambda v: t("an_inv.days", n=f"{v:,.1f}"),
        empty_message=t("an_inv.no_turnover"),
    )
    return {
        "stockout_days": stockout_days,
        "ages": ages,
        "aged_locations": aged_locations,
        "turnover_categories": turnover_categories,
    }


def _inventory(ctx: PageContext) -> tuple[Dashboard, InventoryDashboard]:
    ctx.require(Perm.ANALYTICS_READ)
    dash = dashboard_context(ctx, INVENTORY_PATH)
    return dash, inventory_dashboard(dash.lake, dash.filters, tz=ctx.settings.default_timezone)


@router.get(INVENTORY_PATH)
def inventory_page(ctx: Console) -> Response:
    dash, d = _inventory(ctx)
    category_names = {c.value: ctx.name_of(c) for c in dash.options.categories}
    return render(
        ctx,
        "analytics/inventory.html",
        dash=dash,
        d=d,
        kpis=inventory_kpis(ctx, d),
        charts=inventory_charts(ctx, d, dash),
        pct=pct,
        days_text=lambda v: days_text(ctx, v),
        row_name=lambda r, missing: row_name(ctx, r, missing),
        sku_name=lambda p: sku_name(ctx, p),
        location_name=lambda p: location_name(ctx, p),
        category_name=category_names.get(str(d.category_parent), "") if d.category_parent is not None else "",
        buckets=[name for name, _ in AGE_BUCKETS],
        age_colours=AGE_COLOURS,
        aged_after=AGED_AFTER_DAYS,
        link=lambda **changes: ctx.url(INVENTORY_PATH, **(dash.filters.as_query() | changes)),
    )


@router.get(INVENTORY_PATH + ".xlsx")
def inventory_export(ctx: Console) -> Response:
    dash, d = _inventory(ctx)
    data = inventory_xlsx(d, lambda key: ctx.t(f"an_sales.{key}"), filters_about(ctx, dash), english=ctx.locale == "en")
    return xlsx_response(data, dated_filename("inventory", d.start, d.end))
