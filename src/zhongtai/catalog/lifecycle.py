"""The sale lifecycle of SPUs and SKUs: draft -> on_sale -> off_sale -> on_sale.

A draft is being prepared and has never been sold; off_sale was sold and is withdrawn (it keeps
its history for orders and forecasts, so it never returns to draft).
"""

from __future__ import annotations

from zhongtai.errors import FieldProblem

DRAFT = "draft"
ON_SALE = "on_sale"
OFF_SALE = "off_sale"
LIFECYCLES = (DRAFT, ON_SALE, OFF_SALE)
ALLOWED: dict[str, frozenset[str]] = {
    DRAFT: frozenset({ON_SALE}),
    ON_SALE: frozenset({OFF_SALE}),
    OFF_SALE: frozenset({ON_SALE}),
}


def transition_problems(current: str | None, target: str, *, field: str = "body.lifecycle") -> list[FieldProblem]:
    """Problems with moving from ``current`` (None: the row is being created) to ``target``.

    Staying in the same state is always allowed; a new row may start in any state (a legacy
    catalog brings discontinued products with it).
    """
    if target not in LIFECYCLES:
        return [FieldProblem(field, "invalid_lifecycle", f"{target!r} is not one of {', '.join(LIFECYCLES)}")]
    if current is None or current == target or target in ALLOWED.get(current, frozenset()):
        return []
    return [FieldProblem(field, "invalid_transition", f"cannot go from {current} to {target}")]


def sku_on_sale_problems(
    *,
    sale_price_fen: int,
    spu_lifecycle: str | None,
    price_field: str = "body.sale_price_fen",
    field: str = "body.lifecycle",
) -> list[FieldProblem]:
    """What stops a SKU from being (or staying) on sale. ``spu_lifecycle`` None: not known yet."""
    problems = []
    if sale_price_fen <= 0:
        problems.append(FieldProblem(price_field, "no_sale_price", "a SKU on sale needs a sale price above 0"))
    if spu_lifecycle == OFF_SALE:
        problems.append(FieldProblem(field, "spu_off_sale", "its SPU is off sale; put the SPU back on sale first"))
    return problems
