"""Typed attribute values: SPU parameters and SKU sale attributes checked against their definitions.

Pure logic over plain data (no session): the service loads the definitions, this module decides.
A number is an int or a float in the definition's unit (a screen of 6.1 with unit "英寸"), an enum
value is one of the definition's options, a text is a non-blank string.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zhongtai.errors import FieldProblem

KINDS = ("text", "number", "enum")
LEVELS = ("spu", "sku")
MAX_TEXT = 500
_INT_RE = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True, slots=True)
class AttrSpec:
    code: str
    name: str
    kind: str
    level: str
    unit: str | None = None
    options: tuple[str, ...] = ()
    name_en: str = ""


def check_value(spec: AttrSpec, value: object) -> tuple[Any, tuple[str, str] | None]:
    """(normalised value, None) or (None, (code, message))."""
    if spec.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, ("not_a_number", f"{spec.code} must be a number{_unit(spec)}")
        if isinstance(value, float) and not math.isfinite(value):
            return None, ("not_a_number", f"{spec.code} must be a finite number")
        return value, None
    if not isinstance(value, str):
        return None, ("not_text", f"{spec.code} must be a string")
    text = value.strip()
    if not text:
        return None, ("blank", f"{spec.code} is blank")
    if spec.kind == "enum":
        if text not in spec.options:
            return None, ("not_an_option", f"{text!r} is not one of {', '.join(spec.options)}")
        return text, None
    if len(text) > MAX_TEXT:
        return None, ("too_long", f"{spec.code} is longer than {MAX_TEXT} characters")
    return text, None


def validate_values(
    specs: Mapping[str, AttrSpec], values: Mapping[str, object], *, level: str, field: str
) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Checks every value; returns the clean values and one problem per bad code (all of them)."""
    clean: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for code in sorted(values):
        path = f"{field}.{code}"
        spec = specs.get(code)
        if spec is None:
            problems.append(FieldProblem(path, "unknown_attribute", f"no attribute {code!r} is defined"))
            continue
        if spec.level != level:
            where = "a product parameter (spu)" if spec.level == "spu" else "a sale attribute (sku)"
            problems.append(FieldProblem(path, "wrong_level", f"{code} is {where}"))
            continue
        value, problem = check_value(spec, values[code])
        if problem is not None:
            problems.append(FieldProblem(path, *problem))
        else:
            clean[code] = value
    return clean, problems


def parse_cell(spec: AttrSpec, text: str) -> object:
    """A spreadsheet cell to the value ``check_value`` expects; numbers become int or float.

    Text that is not a number is returned unchanged so that ``check_value`` reports it.
    """
    cleaned = text.strip()
    if spec.kind != "number":
        return cleaned
    if _INT_RE.match(cleaned):
        return int(cleaned)
    try:
        number = float(cleaned)
    except ValueError:
        return cleaned
    return number if math.isfinite(number) else cleaned


def format_value(value: object) -> str:
    """A stored value as a cell; ``parse_cell`` reads it back to an equal value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)  # "6.0": stays a float when read back
    return str(value)


def _unit(spec: AttrSpec) -> str:
    return f" (in {spec.unit})" if spec.unit else ""
