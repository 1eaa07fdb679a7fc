"""Server-rendered charts: inline SVG strings from plain data, no JavaScript, no CDN.

Pure functions (no database, no request): a page gathers its figures from the services and
hands them here. Every chart is an ``<svg role="img">`` with a ``<title>`` so that a screen
reader says what it shows, and every mark carries a ``<title>`` tooltip with its exact value.

The location "map" is a scatter on longitude/latitude (an equirectangular projection corrected
for the latitude) with a graticule and city labels. It deliberately draws no national outline:
a hand-simplified border of China would be wrong, and a wrong map is worse than none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

Number = int | float | Decimal
Formatter = Callable[[float], str]

PALETTE = (
    "#2563eb",
    "#14b8a6",
    "#f59e0b",
    "#8b5cf6",
    "#ef4444",
    "#0ea5e9",
    "#ec4899",
    "#22c55e",
    "#f97316",
    "#64748b",
)
AXIS = "#94a3b8"
GRID = "#e2e8f0"
INK = "#334155"
MUTED = "#64748b"
FONT = "font-family=\"'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',system-ui,sans-serif\""


@dataclass(frozen=True, slots=True)
class Datum:
    label: str
    value: Number
    color: str | None = None
    href: str | None = None


@dataclass(frozen=True, slots=True)
class MapPoint:
    label: str
    latitude: float
    longitude: float
    size: Number  # stock units: the dot's area grows with it
    group: str = ""  # location type: the dot's colour
    href: str | None = None
    detail: str = ""  # tooltip line under the label


@dataclass(frozen=True, slots=True)
class MapFocus:
    """The point a "near me" search measured from, and its radius."""

    latitude: float
    longitude: float
    radius_km: float | None = None
    label: str = ""


def _plain(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _f(value: float) -> str:
    """Coordinates with one decimal: small SVGs and stable output for tests."""
    text = f"{value:.1f}"
    return "0" if text == "-0.0" else text.removesuffix(".0")


def text_width(text: str, size: float) -> float:
    """Rough rendered width: CJK and full-width glyphs are square, Latin about 0.6 em."""
    wide = sum(1 for ch in text if ord(ch) > 0x2E80)
    return wide * size + (len(text) - wide) * size * 0.6


def truncate(text: str, max_width: float, size: float) -> str:
    if text_width(text, size) <= max_width:
        return text
    out = ""
    for ch in text:
        if text_width(out + ch + "…", size) > max_width:
            break
        out += ch
    return out + "…"


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """0 and round steps up to at least ``maximum`` (1, 2, 2.5 or 5 × a power of ten)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < maximum - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _svg_open(width: int, height: int, title: str, css_class: str) -> str:
    return (
        f'<svg class="chart {css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(title)}" {FONT}>'
        f"<title>{escape(title)}</title>"
    )


def _link(mark: str, href: str | None) -> str:
    return f'<a href="{escape(href)}">{mark}</a>' if href else mark


def _empty(width: int, height: int, title: str, css_class: str, message: str) -> str:
    return (
        _svg_open(width, height, title, css_class)
        + f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" font-size="13" '
        f'fill="{MUTED}">{escape(message)}</text></svg>'
    )


def bar_chart(
    data: Sequence[Datum],
    *,
    title: str,
    width: int = 640,
    height: int = 280,
    value_format: Formatter = _plain,
    axis_format: Formatter | None = None,
    y_label: str = "",
    color: str = PALETTE[0],
    empty_message: str = "—",
) -> str:
    """Vertical bars with a labelled value axis; category labels under the bars."""
    if not data:
        return _empty(width, height, title, "bar-chart", empty_message)
    axis_format = axis_format or value_format
    maximum = max(float(d.value) for d in data)
    ticks = nice_ticks(maximum)
    top_value = ticks[-1]
    left = max(44.0, max(text_width(axis_format(t), 11) for t in ticks) + 14)
    right, top = 12.0, 26.0 if y_label else 14.0
    slot_guess = (width - left - right) / len(data)
    rotate = any(text_width(d.label, 12) > slot_guess - 6 for d in data)
    bottom = 70.0 if rotate else 30.0
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / len(data)
    bar_w = min(56.0, slot * 0.62)
    parts = [_svg_open(width, height, title, "bar-chart")]
    if y_label:
        parts.append(f'<text x="{_f(left)}" y="12" font-size="11" fill="{MUTED}">{escape(y_label)}</text>')
    for t in ticks:
        y = top + plot_h - (t / top_value) * plot_h
        parts.append(
            f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(width - right)}" y2="{_f(y)}" stroke="{GRID}"/>'
            f'<text x="{_f(left - 8)}" y="{_f(y + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{escape(axis_format(t))}</text>"
        )
    baseline = top + plot_h
    parts.append(
        f'<line x1="{_f(left)}" y1="{_f(baseline)}" x2="{_f(width - right)}" y2="{_f(baseline)}" stroke="{AXIS}"/>'
    )
    for i, d in enumerate(data):
        value = float(d.value)
        h = (value / top_value) * plot_h if top_value else 0
        x = left + slot * i + (slot - bar_w) / 2
        cx = x + bar_w / 2
        fill = d.color or color
        tip = f"{d.label}: {value_format(value)}"
        bar = (
            f'<g class="bar"><title>{escape(tip)}</title>'
            f'<rect x="{_f(x)}" y="{_f(baseline - h)}" width="{_f(bar_w)}" height="{_f(max(h, 0.5))}" '
            f'rx="3" fill="{fill}"/></g>'
        )
        parts.append(_link(bar, d.href))
        shown = value_format(value)
        # A value wider than its slot would run into its neighbours: the tooltip still has it.
        if (h > 0 or value == 0) and text_width(shown, 11) <= slot - 2:
            parts.append(
                f'<text x="{_f(cx)}" y="{_f(baseline - h - 5)}" text-anchor="middle" font-size="11" '
                f'fill="{INK}">{escape(shown)}</text>'
            )
        label = truncate(d.label, 96 if rotate else slot - 4, 12)
        if rotate:
            parts.append(
                f'<text x="{_f(cx)}" y="{_f(baseline + 12)}" text-anchor="end" font-size="12" fill="{INK}" '
                f'transform="rotate(-35 {_f(cx)} {_f(baseline + 12)})">{escape(label)}</text>'
            )
        else:
            parts.append(
                f'<text x="{_f(cx)}" y="{_f(baseline + 18)}" text-anchor="middle" font-size="12" '
                f'fill="{INK}">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(
    data: Sequence[Datum],
    *,
    title: str,
    width: int = 640,
    row_height: int = 30,
    value_format: Formatter = _plain,
    color: str = PALETTE[0],
    empty_message: str = "—",
) -> str:
    """Horizontal bars, longest labels welcome (SKU names, store names); value at the bar's end."""
    if not data:
        return _empty(width, 120, title, "hbar-chart", empty_message)
    label_w = min(220.0, max(text_width(d.label, 12) for d in data) + 12)
    value_w = max(text_width(value_format(float(d.value)), 11) for d in data) + 12
    top, bottom = 8.0, 8.0
    height = int(top + bottom + row_height * len(data))
    plot_w = width - label_w - value_w - 8
    maximum = max(float(d.value) for d in data) or 1.0
    bar_h = row_height * 0.58
    parts = [_svg_open(width, height, title, "hbar-chart")]
    parts.append(
        f'<line x1="{_f(label_w)}" y1="{_f(top)}" x2="{_f(label_w)}" y2="{_f(height - bottom)}" stroke="{AXIS}"/>'
    )
    for i, d in enumerate(data):
        value = float(d.value)
        y = top + row_height * i + (row_height - bar_h) / 2
        w = max(0.5, (value / maximum) * plot_w)
        label = truncate(d.label, label_w - 12, 12)
        tip = f"{d.label}: {value_format(value)}"
        parts.append(
            f'<text x="{_f(label_w - 8)}" y="{_f(y + bar_h / 2 + 4)}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{escape(label)}</text>'
        )
        bar = (
            f'<g class="bar"><title>{escape(tip)}</title><rect x="{_f(label_w)}" y="{_f(y)}" '
            f'width="{_f(w)}" height="{_f(bar_h)}" rx="3" fill="{d.color or color}"/></g>'
        )
        parts.append(_link(bar, d.href))
        parts.append(
            f'<text x="{_f(label_w + w + 6)}" y="{_f(y + bar_h / 2 + 4)}" font-size="11" fill="{INK}">'
            f"{escape(value_format(value))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Series:
    """One stacked layer: a value per category (orders of one channel, day by day)."""

    label: str
    values: Sequence[Number]
    color: str | None = None


def stacked_bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 640,
    height: int = 260,
    value_format: Formatter = _plain,
    hrefs: Sequence[str | None] | None = None,
    empty_message: str = "—",
) -> str:
    """Vertical bars stacked by series, the total above each bar, a legend on top."""
    totals = [sum(float(s.values[i]) for s in series) for i in range(len(categories))]
    if not categories or not series or max(totals, default=0) <= 0:
        return _empty(width, height, title, "stacked-chart", empty_message)
    colours = [s.color or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    # Legend: one row, wrapping when the labels do not fit.
    legend: list[tuple[float, float, int]] = []
    lx, ly = 0.0, 12.0
    for i, s in enumerate(series):
        w = 16 + text_width(s.label, 12) + 14
        if lx and lx + w > width:
            lx, ly = 0.0, ly + 18
        legend.append((lx, ly, i))
        lx += w
    ticks = nice_ticks(max(totals))
    if all(float(v).is_integer() for s in series for v in s.values) and not ticks[1].is_integer():
        # Counts (orders, parcels) step by whole numbers: 1, 2, 5, 10 …
        step = next(m for m in (1, 2, 5, 10, 20, 50, 100) if m >= ticks[1])
        ticks = [float(step * i) for i in range(math.ceil(max(totals) / step) + 1)]
    top_value = ticks[-1]
    left = max(36.0, max(text_width(value_format(t), 11) for t in ticks) + 12)
    right, top, bottom = 8.0, ly + 22, 26.0
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / len(categories)
    bar_w = min(40.0, slot * 0.64)
    # Every label when they fit, else every second (the last one always: it is today).
    step = 1 if max(text_width(c, 11) for c in categories) <= slot - 4 else 2
    parts = [_svg_open(width, height, title, "stacked-chart")]
    for x, y, i in legend:
        parts.append(
            f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="10" height="10" rx="2" fill="{colours[i]}"/>'
            f'<text x="{_f(x + 16)}" y="{_f(y)}" font-size="12" fill="{INK}">{escape(series[i].label)}</text>'
        )
    for t in ticks:
        y = top + plot_h - (t / top_value) * plot_h
        parts.append(
            f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(width - right)}" y2="{_f(y)}" stroke="{GRID}"/>'
            f'<text x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{escape(value_format(t))}</text>"
        )
    baseline = top + plot_h
    parts.append(
        f'<line x1="{_f(left)}" y1="{_f(baseline)}" x2="{_f(width - right)}" y2="{_f(baseline)}" stroke="{AXIS}"/>'
    )
    last = len(categories) - 1
    for c, category in enumerate(categories):
        x = left + slot * c + (slot - bar_w) / 2
        cx = x + bar_w / 2
        y = baseline
        marks = []
        for i, s in enumerate(series):
            value = float(s.values[c])
            if value <= 0:
                continue
            h = value / top_value * plot_h
            y -= h
            tip = f"{category} · {s.label}: {value_format(value)}"
            marks.append(
                f'<g class="bar"><title>{escape(tip)}</title><rect x="{_f(x)}" y="{_f(y)}" width="{_f(bar_w)}" '
                f'height="{_f(max(h, 0.5))}" fill="{colours[i]}"/></g>'
            )
        parts.append(_link("".join(marks), hrefs[c] if hrefs else None) if marks else "")
        shown = value_format(totals[c])
        if totals[c] > 0 and text_width(shown, 11) <= slot - 2:  # else only in the tooltips
            parts.append(
                f'<text x="{_f(cx)}" y="{_f(y - 4)}" text-anchor="middle" font-size="11" fill="{INK}">'
                f"{escape(shown)}</text>"
            )
        if (last - c) % step == 0:
            parts.append(
                f'<text x="{_f(cx)}" y="{_f(baseline + 16)}" text-anchor="middle" font-size="11" fill="{INK}">'
                f"{escape(category)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _arc(cx: float, cy: float, r_out: float, r_in: float, start: float, end: float) -> str:
    """A ring segment from angle ``start`` to ``end`` (radians, 0 = 12 o'clock, clockwise)."""
    end = min(end, start + 2 * math.pi - 1e-4)  # a full circle cannot be one arc
    large = 1 if end - start > math.pi else 0

    def at(r: float, a: float) -> tuple[float, float]:
        return cx + r * math.sin(a), cy - r * math.cos(a)

    x0, y0 = at(r_out, start)
    x1, y1 = at(r_out, end)
    x2, y2 = at(r_in, end)
    x3, y3 = at(r_in, start)
    return (
        f"M{x0:.2f},{y0:.2f} A{r_out:.2f},{r_out:.2f} 0 {large} 1 {x1:.2f},{y1:.2f} "
        f"L{x2:.2f},{y2:.2f} A{r_in:.2f},{r_in:.2f} 0 {large} 0 {x3:.2f},{y3:.2f} Z"
    )


def donut_chart(
    data: Sequence[Datum],
    *,
    title: str,
    width: int = 460,
    height: int = 240,
    value_format: Formatter = _plain,
    center_label: str = "",
    center_value: str | None = None,
    max_slices: int = 7,
    other_label: str = "Other",
    empty_message: str = "—",
) -> str:
    """A ring of shares with a legend (label, value, percentage); small slices fold into "other"."""
    positive = sorted((d for d in data if float(d.value) > 0), key=lambda d: -float(d.value))
    if not positive:
        return _empty(width, height, title, "donut-chart", empty_message)
    if len(positive) > max_slices:
        rest = sum(float(d.value) for d in positive[max_slices - 1 :])
        positive = [*positive[: max_slices - 1], Datum(other_label, rest, color="#cbd5e1")]
    total = sum(float(d.value) for d in positive)
    r_out = min(height / 2 - 10, width * 0.22)
    r_in = r_out * 0.62
    cx, cy = r_out + 12, height / 2
    parts = [_svg_open(width, height, title, "donut-chart")]
    angle = 0.0
    legend_x = cx + r_out + 24
    row = min(26.0, (height - 20) / len(positive))
    legend_top = cy - row * len(positive) / 2 + row / 2
    for i, d in enumerate(positive):
        value = float(d.value)
        share = value / total
        color = d.color or PALETTE[i % len(PALETTE)]
        pct = f"{share * 100:.1f}%"
        tip = f"{d.label}: {value_format(value)} ({pct})"
        if len(positive) == 1:
            # One share is the whole ring: two circles, no seam where an arc would meet itself.
            shape = (
                f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="{_f((r_out + r_in) / 2)}" fill="none" '
                f'stroke="{color}" stroke-width="{_f(r_out - r_in)}"/>'
            )
        else:
            shape = (
                f'<path d="{_arc(cx, cy, r_out, r_in, angle, angle + share * 2 * math.pi)}" fill="{color}" '
                f'stroke="#fff" stroke-width="1.5"/>'
            )
        seg = f'<g class="slice"><title>{escape(tip)}</title>{shape}</g>'

        parts.append(_link(seg, d.href))
        angle += share * 2 * math.pi
        ly = legend_top + row * i
        label = truncate(d.label, width - legend_x - 130, 12)
        parts.append(
            f'<rect x="{_f(legend_x)}" y="{_f(ly - 5)}" width="10" height="10" rx="2" fill="{color}"/>'
            f'<text x="{_f(legend_x + 16)}" y="{_f(ly + 4)}" font-size="12" fill="{INK}">{escape(label)}</text>'
            f'<text x="{_f(width - 60)}" y="{_f(ly + 4)}" text-anchor="end" font-size="12" fill="{INK}">'
            f"{escape(value_format(value))}</text>"
            f'<text x="{_f(width - 4)}" y="{_f(ly + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{pct}</text>"
        )
    shown = center_value if center_value is not None else value_format(total)
    parts.append(
        f'<text x="{_f(cx)}" y="{_f(cy + (2 if center_label else 6))}" text-anchor="middle" font-size="18" '
        f'font-weight="600" fill="{INK}">{escape(shown)}</text>'
    )
    if center_label:
        parts.append(
            f'<text x="{_f(cx)}" y="{_f(cy + 20)}" text-anchor="middle" font-size="11" fill="{MUTED}">'
            f"{escape(center_label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


# China's extent in degrees: the frame never zooms out beyond it, nor in below MIN_SPAN.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (17.0, 54.0)
MIN_SPAN_DEG = 0.1  # about 10 km: two stores of one city stay apart


def _bounds(points: Sequence[MapPoint], focus: MapFocus | None, fit: bool) -> tuple[float, float, float, float]:
    if not fit:
        return CHINA_LON[0], CHINA_LON[1], CHINA_LAT[0], CHINA_LAT[1]
    lons = [p.longitude for p in points] + ([focus.longitude] if focus else [])
    lats = [p.latitude for p in points] + ([focus.latitude] if focus else [])
    lon0, lon1, lat0, lat1 = min(lons), max(lons), min(lats), max(lats)
    if focus and focus.radius_km:
        dlat = focus.radius_km / 111.0
        dlon = dlat / max(0.2, math.cos(math.radians(focus.latitude)))
        lon0, lon1 = min(lon0, focus.longitude - dlon), max(lon1, focus.longitude + dlon)
        lat0, lat1 = min(lat0, focus.latitude - dlat), max(lat1, focus.latitude + dlat)
    pad_lon = max((lon1 - lon0) * 0.12, (MIN_SPAN_DEG - (lon1 - lon0)) / 2, 0.01)
    pad_lat = max((lat1 - lat0) * 0.12, (MIN_SPAN_DEG * 0.6 - (lat1 - lat0)) / 2, 0.01)
    return lon0 - pad_lon, lon1 + pad_lon, lat0 - pad_lat, lat1 + pad_lat


def _grid_step(span: float) -> float:
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        if span / step <= 8:
            return step
    return 20.0


def _degrees(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def location_map(
    points: Sequence[MapPoint],
    *,
    title: str,
    group_labels: dict[str, str] | None = None,
    size_label: str = "",
    focus: MapFocus | None = None,
    fit: bool = True,
    width: int = 720,
    height: int = 420,
    size_format: Formatter = _plain,
    empty_message: str = "—",
) -> str:
    """Locations as dots on longitude × latitude: colour by type, area by stock, labelled axes."""
    placed = [p for p in points if p.latitude is not None and p.longitude is not None]
    if not placed and focus is None:
        return _empty(width, height, title, "map-chart", empty_message)
    lon0, lon1, lat0, lat1 = _bounds(placed, focus, fit)
    left, right, top, bottom = 48.0, 150.0, 14.0, 34.0
    plot_w, plot_h = width - left - right, height - top - bottom
    # Equirectangular, with x shrunk by cos(latitude) so that distances look right mid-map.
    kx = math.cos(math.radians((lat0 + lat1) / 2))
    if fit:
        # Widen the shorter side so that the frame fills the plot instead of leaving bands.
        span_w, span_h = (lon1 - lon0) * kx, lat1 - lat0
        if span_w / span_h < plot_w / plot_h:
            grow = (span_h * plot_w / plot_h / kx - (lon1 - lon0)) / 2
            lon0, lon1 = lon0 - grow, lon1 + grow
        else:
            grow = (span_w * plot_h / plot_w - (lat1 - lat0)) / 2
            lat0, lat1 = lat0 - grow, lat1 + grow
    scale = min(plot_w / ((lon1 - lon0) * kx), plot_h / (lat1 - lat0))
    used_w, used_h = (lon1 - lon0) * kx * scale, (lat1 - lat0) * scale
    ox, oy = left + (plot_w - used_w) / 2, top + (plot_h - used_h) / 2

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return ox + (lon - lon0) * kx * scale, oy + (lat1 - lat) * scale

    parts = [_svg_open(width, height, title, "map-chart")]
    parts.append(
        f'<rect x="{_f(ox)}" y="{_f(oy)}" width="{_f(used_w)}" height="{_f(used_h)}" fill="#f8fafc" stroke="{GRID}"/>'
    )
    step = _grid_step(min(lon1 - lon0, lat1 - lat0) * 1.6)
    first = math.ceil(lon0 / step)
    for i in range(first, math.floor(lon1 / step) + 1):
        x, _ = xy(lat0, i * step)
        parts.append(
            f'<line x1="{_f(x)}" y1="{_f(oy)}" x2="{_f(x)}" y2="{_f(oy + used_h)}" stroke="{GRID}" '
            f'stroke-dasharray="3 3"/><text x="{_f(x)}" y="{_f(oy + used_h + 16)}" text-anchor="middle" '
            f'font-size="10" fill="{MUTED}">{_degrees(i * step, step)}°E</text>'
        )
    for i in range(math.ceil(lat0 / step), math.floor(lat1 / step) + 1):
        _, y = xy(i * step, lon0)
        parts.append(
            f'<line x1="{_f(ox)}" y1="{_f(y)}" x2="{_f(ox + used_w)}" y2="{_f(y)}" stroke="{GRID}" '
            f'stroke-dasharray="3 3"/><text x="{_f(ox - 6)}" y="{_f(y + 3)}" text-anchor="end" '
            f'font-size="10" fill="{MUTED}">{_degrees(i * step, step)}°N</text>'
        )
    if focus is not None:
        fx, fy = xy(focus.latitude, focus.longitude)
        if focus.radius_km:
            ry = focus.radius_km / 111.0 * scale
            rx = ry * kx / max(0.2, math.cos(math.radians(focus.latitude)))
            parts.append(
                f'<ellipse cx="{_f(fx)}" cy="{_f(fy)}" rx="{_f(rx)}" ry="{_f(ry)}" fill="#2563eb" '
                f'fill-opacity="0.06" stroke="#2563eb" stroke-dasharray="4 3"/>'
            )
        parts.append(
            f'<g class="focus"><title>{escape(focus.label)}</title>'
            f'<path d="M{_f(fx - 7)},{_f(fy)} H{_f(fx + 7)} M{_f(fx)},{_f(fy - 7)} V{_f(fy + 7)}" '
            f'stroke="#0f172a" stroke-width="2"/></g>'
        )
    groups = sorted({p.group for p in placed})
    colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    biggest = max((float(p.size) for p in placed), default=0.0)
    uniform = biggest > 0 and all(float(p.size) == biggest for p in placed)
    r_min, r_max = 3.5, 18.0

    def radius(v: float) -> float:
        if uniform:
            return 6.0  # every dot the same: a plain location map, no size scale
        return r_min + (r_max - r_min) * math.sqrt(max(v, 0.0) / biggest) if biggest > 0 else r_min

    taken: list[tuple[float, float, float, float]] = []
    # Big dots first so that small ones stay visible on top of them.
    for p in sorted(placed, key=lambda p: -float(p.size)):
        x, y = xy(p.latitude, p.longitude)
        r = radius(float(p.size))
        colour = colours[p.group]
        hollow = float(p.size) <= 0
        tip = " — ".join(part for part in (p.label, p.detail) if part)
        dot = (
            f'<g class="dot"><title>{escape(tip)}</title><circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(r)}" '
            + (
                f'fill="#fff" stroke="{colour}" stroke-width="1.5"/>'
                if hollow
                else f'fill="{colour}" fill-opacity="0.55" stroke="{colour}" stroke-width="1"/>'
            )
            + "</g>"
        )
        parts.append(_link(dot, p.href))
    for p in sorted(placed, key=lambda p: -float(p.size)):
        x, y = xy(p.latitude, p.longitude)
        r = radius(float(p.size))
        if not p.label:
            continue
        w = text_width(p.label, 11)
        # Right of the dot, else left, above, below; a label that fits nowhere is left to the tooltip.
        for bx, by in ((x + r + 3, y), (x - r - 3 - w, y), (x - w / 2, y - r - 9), (x - w / 2, y + r + 11)):
            box = (bx, by - 7, bx + w, by + 6)
            inside = ox - 4 <= box[0] and box[2] <= ox + used_w + right - 8 and oy <= box[1] and box[3] <= oy + used_h
            if inside and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken):
                taken.append(box)
                parts.append(
                    f'<text x="{_f(bx)}" y="{_f(by + 4)}" font-size="11" fill="{INK}">{escape(p.label)}</text>'
                )
                break
    # Legend: colours by type, then three sizes.
    lx = width - right + 16
    ly = top + 10
    for g in groups:
        name = (group_labels or {}).get(g, g)
        parts.append(
            f'<circle cx="{_f(lx + 5)}" cy="{_f(ly)}" r="5" fill="{colours[g]}" fill-opacity="0.7"/>'
            f'<text x="{_f(lx + 16)}" y="{_f(ly + 4)}" font-size="11" fill="{INK}">{escape(name)}</text>'
        )
        ly += 18
    if biggest > 0 and not uniform and size_label:
        ly += 8
        if size_label:
            parts.append(f'<text x="{_f(lx)}" y="{_f(ly)}" font-size="11" fill="{MUTED}">{escape(size_label)}</text>')
            ly += 10
        shown: list[float] = []
        for v in (biggest, biggest / 4, biggest / 16):
            if size_format(v) in {size_format(x) for x in shown} or size_format(v) in ("0", "0.0"):
                continue  # small maxima: no "2, 0, 0" legend
            shown.append(v)
        for v in shown:
            r = radius(v)
            ly += r + 4
            parts.append(
                f'<circle cx="{_f(lx + r_max / 2 + 2)}" cy="{_f(ly)}" r="{_f(r)}" fill="none" stroke="{AXIS}"/>'
                f'<text x="{_f(lx + r_max + 10)}" y="{_f(ly + 4)}" font-size="11" fill="{INK}">'
                f"{escape(size_format(v))}</text>"
            )
            ly += r
    parts.append("</svg>")
    return "".join(parts)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance; for labelling the map only (the inventory service ranks by it)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(a))


@dataclass(frozen=True, slots=True)
class Shade:
    """A span of days shaded behind a time chart (an event), indexes into its days."""

    first: int
    last: int
    label: str


def _day_axis(
    parts: list[str], labels: Sequence[str], x_of: Callable[[int], float], baseline: float, max_labels: int
) -> None:
    step = max(1, math.ceil(len(labels) / max_labels))
    last = len(labels) - 1
    for i, label in enumerate(labels):
        if (last - i) % step == 0:
            parts.append(
                f'<text x="{_f(x_of(i))}" y="{_f(baseline + 16)}" text-anchor="middle" font-size="11" '
                f'fill="{INK}">{escape(label)}</text>'
            )


def forecast_chart(
    days: Sequence[str],
    actual: Sequence[Number | None],
    mean: Sequence[Number | None],
    low: Sequence[Number | None],
    high: Sequence[Number | None],
    *,
    title: str,
    labels: tuple[str, str, str] = ("actual", "forecast", "p10–p90"),
    shades: Sequence[Shade] = (),
    width: int = 760,
    height: int = 280,
    value_format: Formatter = _plain,
    empty_message: str = "—",
) -> str:
    """History (bars of actual units) and the forecast (a line with its p10–p90 band) on one day
    axis, events shaded behind. ``None`` where a series has no value (no forecast in the past)."""
    n = len(days)
    values = [float(v) for seq in (actual, mean, high) for v in seq if v is not None]
    if not n or (not values and not shades):
        return _empty(width, height, title, "forecast-chart", empty_message)
    # Without values (a calendar strip) the chart is the day axis and the shaded events only.
    ticks = nice_ticks(max(values) or 1.0) if values else []
    top_value = ticks[-1] if ticks else 1.0
    left = max(36.0, max((text_width(value_format(t), 11) for t in ticks), default=0.0) + 12)
    right, top, bottom = 8.0, 26.0 if values else 6.0, 26.0
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / n
    baseline = top + plot_h

    def x_of(i: int) -> float:
        return left + slot * i + slot / 2

    def y_of(v: float) -> float:
        return baseline - v / top_value * plot_h

    parts = [_svg_open(width, height, title, "forecast-chart")]
    for s in shades:
        x0, x1 = left + slot * max(s.first, 0), left + slot * (min(s.last, n - 1) + 1)
        parts.append(
            f'<g class="event"><title>{escape(s.label)}</title><rect x="{_f(x0)}" y="{_f(top)}" '
            f'width="{_f(max(x1 - x0, 1))}" height="{_f(plot_h)}" fill="#fde68a" opacity="0.45"/>'
            f'<text x="{_f(x0 + 3)}" y="{_f(top + 11)}" font-size="10" fill="#92400e">'
            f"{escape(truncate(s.label, max(x1 - x0 - 4, 12), 10))}</text></g>"
        )
    for t in ticks:
        y = y_of(t)
        parts.append(
            f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(width - right)}" y2="{_f(y)}" stroke="{GRID}"/>'
            f'<text x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{escape(value_format(t))}</text>"
        )
    parts.append(
        f'<line x1="{_f(left)}" y1="{_f(baseline)}" x2="{_f(width - right)}" y2="{_f(baseline)}" stroke="{AXIS}"/>'
    )
    band = [
        (i, float(lo), float(hi))
        for i, (lo, hi) in enumerate(zip(low, high, strict=True))
        if lo is not None and hi is not None
    ]
    if band:
        upper = " ".join(f"{_f(x_of(i))},{_f(y_of(hi))}" for i, _, hi in band)
        lower = " ".join(f"{_f(x_of(i))},{_f(y_of(lo))}" for i, lo, _ in reversed(band))
        parts.append(f'<polygon class="band" points="{upper} {lower}" fill="{PALETTE[0]}" opacity="0.18"/>')
    bar_w = max(1.0, min(10.0, slot * 0.7))
    for i, v in enumerate(actual):
        if v is None or float(v) <= 0:
            continue
        h = float(v) / top_value * plot_h
        parts.append(
            f'<g class="bar"><title>{escape(f"{days[i]} · {labels[0]}: {value_format(float(v))}")}</title>'
            f'<rect x="{_f(x_of(i) - bar_w / 2)}" y="{_f(baseline - h)}" width="{_f(bar_w)}" '
            f'height="{_f(max(h, 0.5))}" fill="{MUTED}"/></g>'
        )
    line = [(i, float(v)) for i, v in enumerate(mean) if v is not None]
    if line:
        path = " ".join(f"{_f(x_of(i))},{_f(y_of(v))}" for i, v in line)
        parts.append(f'<polyline class="mean" points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
        for i, v in line:
            lo, hi = low[i], high[i]
            tip = f"{days[i]} · {labels[1]}: {value_format(v)}"
            if lo is not None and hi is not None:
                tip += f" ({labels[2]} {value_format(float(lo))}–{value_format(float(hi))})"
            parts.append(
                f'<g class="point"><title>{escape(tip)}</title><circle cx="{_f(x_of(i))}" cy="{_f(y_of(v))}" '
                f'r="{_f(max(1.5, min(3.0, slot / 3)))}" fill="{PALETTE[0]}"/></g>'
            )
    legend = [(MUTED, labels[0], "rect"), (PALETTE[0], labels[1], "line"), (PALETTE[0], labels[2], "band")]
    lx = left
    for colour, label, kind in legend if values else []:
        if kind == "line":
            mark = f'<line x1="{_f(lx)}" y1="8" x2="{_f(lx + 12)}" y2="8" stroke="{colour}" stroke-width="2"/>'
        else:
            opacity = ' opacity="0.25"' if kind == "band" else ""
            mark = f'<rect x="{_f(lx)}" y="3" width="12" height="10" rx="2" fill="{colour}"{opacity}/>'
        parts.append(mark + f'<text x="{_f(lx + 16)}" y="12" font-size="12" fill="{INK}">{escape(label)}</text>')
        lx += 16 + text_width(label, 12) + 16
    _day_axis(parts, days, x_of, baseline, max_labels=max(2, int(plot_w // 64)))
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 640,
    height: int = 240,
    value_format: Formatter = _plain,
    empty_message: str = "—",
) -> str:
    """Lines over categories (weeks), negative values allowed (a zero line is drawn), a legend on
    top; ``None``-free series of equal length."""
    values = [float(v) for s in series for v in s.values]
    if not categories or not values:
        return _empty(width, height, title, "line-chart", empty_message)
    high = max(max(values), 0.0)
    low = min(min(values), 0.0)
    # One step on both sides of zero (the larger side sets it), so the labels never crowd.
    step = nice_ticks(max(high, -low))[1]
    ticks = [step * i for i in range(math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9) + 1)]
    if len(ticks) < 2:
        ticks = [0.0, step]
    lo_v, hi_v = ticks[0], ticks[-1] if ticks[-1] > ticks[0] else ticks[0] + 1
    left = max(40.0, max(text_width(value_format(t), 11) for t in ticks) + 12)
    right, top, bottom = 12.0, 26.0, 26.0
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / len(categories)
    baseline = top + plot_h

    def x_of(i: int) -> float:
        return left + slot * i + slot / 2

    def y_of(v: float) -> float:
        return baseline - (v - lo_v) / (hi_v - lo_v) * plot_h

    parts = [_svg_open(width, height, title, "line-chart")]
    for t in ticks:
        y = y_of(t)
        parts.append(
            f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(width - right)}" y2="{_f(y)}" '
            f'stroke="{AXIS if t == 0 else GRID}"/>'
            f'<text x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end" font-size="11" fill="{MUTED}">'
            f"{escape(value_format(t))}</text>"
        )
    lx = left
    for k, s in enumerate(series):
        colour = s.color or PALETTE[k % len(PALETTE)]
        points = " ".join(f"{_f(x_of(i))},{_f(y_of(float(v)))}" for i, v in enumerate(s.values))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for i, v in enumerate(s.values):
            tip = f"{categories[i]} · {s.label}: {value_format(float(v))}"
            parts.append(
                f'<g class="point"><title>{escape(tip)}</title><circle cx="{_f(x_of(i))}" '
                f'cy="{_f(y_of(float(v)))}" r="3" fill="{colour}"/></g>'
            )
        parts.append(
            f'<line x1="{_f(lx)}" y1="8" x2="{_f(lx + 12)}" y2="8" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{_f(lx + 16)}" y="12" font-size="12" fill="{INK}">{escape(s.label)}</text>'
        )
        lx += 16 + text_width(s.label, 12) + 16
    _day_axis(parts, categories, x_of, baseline, max_labels=max(2, int(plot_w // 56)))
    parts.append("</svg>")
    return "".join(parts)
