"""The touchpoint health and maturity dashboards as XLSX workbooks.

Headers come from ``label(key)`` with locale keys (``an_tp.col.uptime``): the console passes its
translator, so a director gets Chinese headers; the API passes nothing and gets the keys' last
part (``uptime``), stable column names for the scripts that read the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from zhongtai.analytics.health import DEFAULT_TZ, HealthReport
from zhongtai.analytics.maturity import Indicator, MaturityReport
from zhongtai.analytics.xlsx import Cell, Column, Kind, Sheet, workbook

Label = Callable[[str], str]


def machine_label(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def local_text(value: datetime | None, tz: str) -> str:
    """A UTC instant as local "YYYY-MM-DD HH:MM" (Excel has no time zones)."""
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _columns(label: Label, spec: Sequence[tuple[str, Kind]]) -> list[Column]:
    return [Column(label(key), kind) for key, kind in spec]


def health_workbook(
    report: HealthReport,
    *,
    label: Label = machine_label,
    about: Sequence[tuple[str, str]] = (),
    tz: str = DEFAULT_TZ,
) -> bytes:
    """Sheets: touchpoints (one row each), events per day, rejection reasons."""
    tp_cols = _columns(
        label,
        [
            ("an_tp.col.code", "text"),
            ("an_tp.col.name", "text"),
            ("an_tp.col.type", "text"),
            ("an_tp.col.kind", "text"),
            ("an_tp.col.state", "text"),
            ("an_tp.col.uptime", "rate"),
            ("an_tp.col.up_intervals", "int"),
            ("an_tp.col.expected_intervals", "int"),
            ("an_tp.col.latency_p50", "number"),
            ("an_tp.col.latency_p95", "number"),
            ("an_tp.col.last_heartbeat", "text"),
            ("an_tp.col.accepted", "int"),
            ("an_tp.col.rejected", "int"),
            ("an_tp.col.valid_rate", "rate"),
            ("an_tp.col.identified", "int"),
            ("an_tp.col.attributed", "int"),
            ("an_tp.col.match_rate", "rate"),
            ("an_tp.col.freshness_p95", "number"),
        ],
    )
    tp_rows = [
        [
            t.code,
            t.name,
            label(f"an_tp.type.{t.type}") if t.type else "",
            t.kind,
            label(f"an_tp.state.{t.state}"),
            t.uptime,
            t.up_intervals,
            t.expected_intervals,
            t.latency_p50_ms,
            t.latency_p95_ms,
            local_text(t.last_heartbeat_at, tz),
            t.accepted,
            t.rejected,
            t.valid_rate,
            t.identified,
            t.attributed,
            t.match_rate,
            t.freshness_p95_s,
        ]
        for t in report.touchpoints
    ]
    day_cols = [Column(label("an_tp.col.day"), "date"), *(Column(t.code, "int") for t in report.touchpoints)]
    day_rows: list[list[Cell]] = [[day, *(t.daily[i] for t in report.touchpoints)] for i, day in enumerate(report.days)]
    reason_cols = _columns(label, [("an_tp.col.reason", "text"), ("an_tp.col.rejections", "int")])
    return workbook(
        [
            Sheet("touchpoints", tp_cols, tp_rows),
            Sheet("events_by_day", day_cols, day_rows),
            Sheet("rejection_reasons", reason_cols, [list(r) for r in report.rejection_reasons]),
        ],
        about=about,
    )


def maturity_workbook(
    report: MaturityReport,
    *,
    label: Label = machine_label,
    formula: Callable[[Indicator], str] | None = None,
    about: Sequence[tuple[str, str]] = (),
    tz: str = DEFAULT_TZ,
) -> bytes:
    """Sheets: indicators (score and formula), their components, the monthly trend, the
    connections (time to connect), the return per touchpoint type."""
    snap = report.current
    render = formula or (lambda i: i.formula)
    indicator_rows: list[list[Cell]] = [
        [label(f"an_mat.ind.{i.key}"), i.score, report.earlier.indicator(i.key).score, render(i)]
        for i in snap.indicators
    ]
    indicator_rows.append([label("an_mat.overall"), snap.overall, report.earlier.overall, ""])
    indicators = Sheet(
        "indicators",
        _columns(
            label,
            [
                ("an_mat.col.indicator", "text"),
                ("an_mat.col.score", "number"),
                ("an_mat.col.earlier", "number"),
                ("an_mat.col.formula", "text"),
            ],
        ),
        indicator_rows,
    )
    components = Sheet(
        "components",
        _columns(
            label,
            [
                ("an_mat.col.indicator", "text"),
                ("an_mat.col.component", "text"),
                ("an_mat.col.value", "number"),
                ("an_mat.col.of", "int"),
            ],
        ),
        [
            [
                label(f"an_mat.ind.{i.key}"),
                label(f"an_mat.comp.{c.key}"),
                (c.value / 100 if c.kind == "money" and c.value is not None else c.value),
                c.of,
            ]
            for i in snap.indicators
            for c in i.components
        ],
    )
    keys = [i.key for i in snap.indicators]
    trend = Sheet(
        "trend",
        [
            Column(label("an_mat.col.as_of"), "date"),
            Column(label("an_mat.overall"), "number"),
            *(Column(label(f"an_mat.ind.{k}"), "number") for k in keys),
        ],
        [[s.as_of, s.overall, *(s.indicator(k).score for k in keys)] for s in report.trend],
    )
    connections = Sheet(
        "connections",
        _columns(
            label,
            [
                ("an_tp.col.code", "text"),
                ("an_tp.col.name", "text"),
                ("an_tp.col.kind", "text"),
                ("an_mat.col.created_at", "text"),
                ("an_mat.col.first_event_at", "text"),
                ("an_mat.col.days", "number"),
            ],
        ),
        [
            [c.code, c.name, c.kind, local_text(c.created_at, tz), local_text(c.first_event_at, tz), c.days]
            for c in snap.connections
        ],
    )
    returns = Sheet(
        "returns",
        _columns(
            label,
            [
                ("an_tp.col.type", "text"),
                ("an_mat.col.touchpoints", "int"),
                ("an_mat.col.orders", "int"),
                ("an_mat.col.revenue", "money"),
                ("an_mat.col.cost", "money"),
                ("an_mat.col.roi", "number"),
            ],
        ),
        [
            [label(f"an_tp.type.{r.type}"), r.touchpoints, r.orders, r.revenue_fen, r.cost_fen, r.roi]
            for r in snap.returns
        ],
    )
    return workbook([indicators, components, trend, connections, returns], about=about)
