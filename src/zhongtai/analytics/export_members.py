"""The member and store-traffic dashboards as XLSX: one sheet per table of the page.

Headers, sheet titles and coded values (stages, segments, dwell buckets, genders) are named by
``label(key)`` with keys such as ``xlsx.visitors``, ``stage.aware`` or ``segment.champions``: the
console passes its translator (``an_mem.<key>`` / ``an_trf.<key>``), the API ``machine_label`` (the
last part of the key, stable for scripts). Money is fen here and yuan in the file (``xlsx.workbook``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal

from zhongtai.analytics.funnel import STAGES
from zhongtai.analytics.schemas_members import MembersDashboardOut, TrafficDashboardOut, TrafficFiguresOut
from zhongtai.analytics.xlsx import Cell, Column, Kind, Sheet, workbook

Label = Callable[[str], str]


def machine_label(key: str) -> str:
    """``xlsx.total_members`` -> ``total_members``; ``stage.aware`` -> ``aware``; ``xlsx.sheet_kpis`` -> ``kpis``."""
    return key.split(".", 1)[-1].removeprefix("sheet_")


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _minutes(seconds: Decimal | None) -> float | None:
    return None if seconds is None else round(float(seconds) / 60, 2)


def members_sheets(dash: MembersDashboardOut, label: Label) -> list[Sheet]:
    k = dash.kpis

    def col(key: str, kind: Kind = "int") -> Column:
        return Column(label(f"xlsx.{key}"), kind)

    kpis = Sheet(
        label("xlsx.sheet_kpis"),
        [
            col("total_members"),
            col("new_members"),
            col("new_members_previous"),
            col("active_buyers"),
            col("active_buyers_previous"),
            col("repeat_buyers"),
            col("repeat_rate", "rate"),
            col("repeat_rate_previous", "rate"),
            col("member_sales", "money"),
            col("sales", "money"),
            col("member_share", "rate"),
            col("member_share_previous", "rate"),
        ],
        [
            [
                k.total_members,
                k.new_members,
                k.new_members_previous,
                k.active_buyers,
                k.active_buyers_previous,
                k.repeat_buyers,
                _num(k.repeat_rate),
                _num(k.repeat_rate_previous),
                k.member_sales_fen,
                k.sales_fen,
                _num(k.member_share),
                _num(k.member_share_previous),
            ]
        ],
    )
    growth = Sheet(
        label("xlsx.sheet_growth"),
        [
            col("bucket_start", "date"),
            *[Column(c or "—", "int") for c in dash.channels],
            col("new_members"),
            col("cumulative"),
        ],
        [
            [g.start, *[g.new_by_channel.get(c, 0) for c in dash.channels], g.new_members, g.cumulative]
            for g in dash.growth
        ],
    )
    segments = Sheet(
        label("xlsx.sheet_segments"),
        [col("segment", "text"), col("members"), col("share", "rate"), col("avg_spend", "money")],
        [[label(f"segment.{s.segment}"), s.members, _num(s.share), s.avg_spend_fen] for s in dash.segments],
    )
    rfm = Sheet(
        label("xlsx.sheet_rfm"),
        [col("recency", "int"), *[Column(f"F{f}", "int") for f in range(1, 6)]],
        [[r + 1, *dash.rfm_grid[r]] for r in range(4, -1, -1)],
    )
    funnel = Sheet(
        label("xlsx.sheet_funnel"),
        [col("stage", "text"), col("members"), col("reached"), col("conversion", "rate")],
        [[label(f"stage.{s.stage}"), s.members, s.reached, _num(s.conversion)] for s in dash.funnel.steps],
    )
    transitions = Sheet(
        label("xlsx.sheet_transitions"),
        [col("start_stage", "text"), *[Column(label(f"stage.{s}"), "int") for s in STAGES]],
        [[label(f"stage.{s}"), *dash.funnel.matrix[i]] for i, s in enumerate(STAGES)],
    )
    return [kpis, growth, segments, rfm, funnel, transitions]


def members_xlsx(dash: MembersDashboardOut, label: Label, about: Sequence[tuple[str, str]]) -> bytes:
    return workbook(members_sheets(dash, label), about=about)


def _figure_cells(f: TrafficFiguresOut) -> list[Cell]:
    return [
        f.visitors,
        f.entries,
        f.exits,
        f.buyers,
        _num(f.conversion),
        _minutes(f.avg_dwell_s),
        f.pos_sales_fen,
        f.sales_per_visitor_fen,
    ]


def traffic_sheets(dash: TrafficDashboardOut, label: Label, *, english: bool = False) -> list[Sheet]:
    def col(key: str, kind: Kind = "int") -> Column:
        return Column(label(f"xlsx.{key}"), kind)

    span = dash.end - dash.start + timedelta(days=1)
    figures = [
        col("visitors"),
        col("entries"),
        col("exits"),
        col("buyers"),
        col("conversion", "rate"),
        col("avg_dwell_min", "number"),
        col("pos_sales", "money"),
        col("sales_per_visitor", "money"),
    ]
    summary = Sheet(
        label("xlsx.sheet_summary"),
        [col("period", "text"), col("start", "date"), col("end", "date"), *figures],
        [
            [label("xlsx.current"), dash.start, dash.end, *_figure_cells(dash.total)],
            [label("xlsx.previous"), dash.start - span, dash.start - timedelta(days=1), *_figure_cells(dash.previous)],
        ],
    )
    stores = Sheet(
        label("xlsx.sheet_stores"),
        [col("store_code", "text"), col("store", "text"), *figures],
        [[s.code, (s.name_en or s.name) if english else s.name, *_figure_cells(s)] for s in dash.stores],
    )
    days = Sheet(
        label("xlsx.sheet_days"),
        [col("day", "date"), col("visitors"), col("buyers"), col("conversion", "rate")],
        [[d.day, d.visitors, d.buyers, _num(d.conversion)] for d in dash.by_day],
    )
    hours = Sheet(
        label("xlsx.sheet_hours"),
        [col("hour"), col("visitors"), col("per_day", "number")],
        [[h.hour, h.visitors, _num(h.per_day)] for h in dash.by_hour],
    )
    dwell = Sheet(
        label("xlsx.sheet_dwell"),
        [col("dwell_bucket", "text"), col("exits")],
        [[label(f"dwell.{b.bucket}"), b.exits] for b in dash.dwell],
    )
    demographics = Sheet(
        label("xlsx.sheet_demographics"),
        [col("age_band", "text"), col("gender", "text"), col("visitors")],
        [[label(f"age.{d.age_band}"), label(f"gender.{d.gender}"), d.visitors] for d in dash.demographics],
    )
    return [summary, stores, days, hours, dwell, demographics]


def traffic_xlsx(
    dash: TrafficDashboardOut, label: Label, about: Sequence[tuple[str, str]], *, english: bool = False
) -> bytes:
    return workbook(traffic_sheets(dash, label, english=english), about=about)
