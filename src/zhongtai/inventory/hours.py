"""Opening hours of a location: validation and "is it open now" in the location's own zone.

The stored shape is ``{"mon": ["10:00", "22:00"], "tue": [...], ...}``: one opening interval per
weekday in local time; a missing day (or an empty list) means closed that day; an empty mapping
means round the clock (DCs). "24:00" is allowed as a closing time.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from zhongtai.errors import FieldProblem

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def opening_hours_problems(value: Any, field: str = "body.opening_hours") -> list[FieldProblem]:
    """Every problem with an opening-hours mapping (empty list: valid)."""
    if not isinstance(value, dict):
        return [FieldProblem(field, "invalid_type", "an object {weekday: [open, close]}")]
    problems: list[FieldProblem] = []
    for day, interval in value.items():
        where = f"{field}.{day}"
        if day not in WEEKDAYS:
            problems.append(FieldProblem(where, "unknown_weekday", f"weekday must be one of {', '.join(WEEKDAYS)}"))
            continue
        if interval in (None, []):
            continue  # closed that day
        if (
            not isinstance(interval, list | tuple)
            or len(interval) != 2
            or not all(isinstance(t, str) and _HHMM.match(t) for t in interval)
        ):
            problems.append(FieldProblem(where, "invalid_interval", 'expected ["HH:MM", "HH:MM"]'))
            continue
        if _minutes(interval[0]) >= _minutes(interval[1]):
            problems.append(FieldProblem(where, "closes_before_opening", "closing time must be after opening time"))
    return problems


def normalise_opening_hours(value: dict[str, Any]) -> dict[str, list[str]]:
    """The validated mapping in weekday order, closed days dropped."""
    return {day: list(value[day]) for day in WEEKDAYS if value.get(day)}


def timezone_problems(name: str, field: str = "body.timezone") -> list[FieldProblem]:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return [FieldProblem(field, "unknown_timezone", f"not an IANA time zone: {name!r}")]
    return []


def is_open_at(opening_hours: dict[str, Any], timezone: str, when: datetime) -> bool:
    """Whether a location is open at the aware instant ``when`` (its local weekday and time)."""
    if when.tzinfo is None:
        raise ValueError("when must be timezone-aware")
    if not opening_hours:
        return True
    local = when.astimezone(ZoneInfo(timezone))
    interval = opening_hours.get(WEEKDAYS[local.weekday()])
    if not interval:
        return False
    now_min = local.hour * 60 + local.minute
    return _minutes(interval[0]) <= now_min < _minutes(interval[1])
