"""The filters every dashboard takes: a date range, channels, stores and a category.

Dates are local (Asia/Shanghai by default) calendar days, both ends included. A store-scoped
principal (store manager, guide) sees only their stores: with no store filter the dashboard covers
all of their stores; a store outside their scope is a field problem, never silently widened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from zhongtai.auth.principal import Principal
from zhongtai.auth.scoping import allowed_location_ids
from zhongtai.errors import FieldProblem

DEFAULT_DAYS = 30
MAX_DAYS = 800


@dataclass(frozen=True)
class DashboardFilters:
    start: date
    end: date
    channels: tuple[str, ...] = ()
    # Location ids of stores. Empty: every store (for a store-scoped principal: theirs, see below).
    stores: tuple[int, ...] = ()
    category_id: int | None = None
    # Set for store-scoped principals: the stores every query is limited to, whatever ``stores``.
    scope: tuple[int, ...] | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> DashboardFilters:
        """The same filters over the equally long period just before (for deltas)."""
        span = timedelta(days=self.days)
        return DashboardFilters(
            self.start - span, self.end - span, self.channels, self.stores, self.category_id, self.scope
        )

    def store_ids(self) -> tuple[int, ...] | None:
        """The stores to limit to: None means no limit."""
        if self.scope is None:
            return self.stores or None
        if not self.stores:
            return self.scope
        return tuple(s for s in self.stores if s in self.scope)

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters (links, the XLSX export)."""
        out = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.channels:
            out["channel"] = ",".join(self.channels)
        if self.stores:
            out["store"] = ",".join(str(s) for s in self.stores)
        if self.category_id is not None:
            out["category"] = str(self.category_id)
        return out


@dataclass
class ParsedFilters:
    filters: DashboardFilters
    problems: list[FieldProblem] = field(default_factory=list)


def _day(raw: str, name: str, problems: list[FieldProblem]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(FieldProblem(name, "date_parsing", f"{name} is a date like 2026-12-05, got {raw!r}"))
        return None


def _split(raw: str | Sequence[str]) -> list[str]:
    values = [raw] if isinstance(raw, str) else list(raw)
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def parse_filters(
    params: Mapping[str, str | Sequence[str]],
    *,
    today: date,
    principal: Principal,
    known_channels: Sequence[str] | None = None,
    default_days: int = DEFAULT_DAYS,
) -> ParsedFilters:
    """Filters from query parameters ``start``, ``end``, ``channel``, ``store``, ``category``.

    Every bad parameter is named in ``problems``; the filters fall back to the default for it,
    so a console page still renders (the API turns problems into a 422).
    """
    problems: list[FieldProblem] = []

    def get(name: str) -> str | Sequence[str]:
        return params.get(name) or ""

    end = _day(str(get("end")), "end", problems) or today
    start = _day(str(get("start")), "start", problems) or end - timedelta(days=default_days - 1)
    if start > end:
        problems.append(FieldProblem("end", "before_start", "end is before start"))
        start = end - timedelta(days=default_days - 1)
    if (end - start).days + 1 > MAX_DAYS:
        problems.append(FieldProblem("start", "too_long", f"at most {MAX_DAYS} days"))
        start = end - timedelta(days=MAX_DAYS - 1)
    channels = _split(get("channel"))
    if known_channels is not None:
        unknown = [c for c in channels if c not in known_channels]
        if unknown:
            problems.append(FieldProblem("channel", "unknown_channel", ", ".join(unknown)))
            channels = [c for c in channels if c in known_channels]
    stores: list[int] = []
    for raw in _split(get("store")):
        if raw.isdigit():
            stores.append(int(raw))
        else:
            problems.append(FieldProblem("store", "int_parsing", f"store is a location id, got {raw!r}"))
    allowed = allowed_location_ids(principal)
    scope = tuple(sorted(allowed)) if allowed is not None else None
    if scope is not None:
        outside = [s for s in stores if s not in scope]
        if outside:
            problems.append(FieldProblem("store", "out_of_scope", ", ".join(str(s) for s in outside)))
            stores = [s for s in stores if s in scope]
    category_raw = str(get("category")).strip()
    category_id: int | None = None
    if category_raw:
        if category_raw.isdigit():
            category_id = int(category_raw)
        else:
            problems.append(FieldProblem("category", "int_parsing", f"category is a category id, got {category_raw!r}"))
    return ParsedFilters(
        DashboardFilters(start, end, tuple(dict.fromkeys(channels)), tuple(dict.fromkeys(stores)), category_id, scope),
        problems,
    )
