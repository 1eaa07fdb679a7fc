"""The catalog's verbs and queries. Other contexts use only what this module exports.

Every verb takes ``(session, actor, ...)``, validates the whole resulting record and raises one
``ValidationFailed`` listing every problem before anything is written, writes, and records an
audit entry with what changed (before/after). A verb that would change nothing writes nothing and
records nothing, so that re-importing an export is a no-op. Verbs never commit: the request or the
job owns the transaction.

Lifecycle rules (``draft -> on_sale -> off_sale -> on_sale``; see ``lifecycle.py``):

* A SKU may be (or stay) on sale only with a sale price above 0 and under an SPU that is not off
  sale. A SKU going on sale under a *draft* SPU promotes the SPU to on sale (the first SKU
  launched launches the product), recorded as its own ``spu.lifecycle`` audit entry. Under an
  off-sale SPU it is refused: someone withdrew the product on purpose, so the SPU must be put
  back on sale first.
* An SPU goes on sale only when at least one of its SKUs has a sale price above 0; it does not
  put its SKUs on sale. An SPU going off sale takes every on-sale SKU of it off sale with it
  (each recorded), so that no SKU is sold under a withdrawn product.

``change_lifecycle`` / ``change_spu_lifecycle`` raise ``InvalidTransition`` (409) listing every
reason; a lifecycle given with other fields to ``create_sku`` / ``update_sku`` is validated with
them and reported in their ``ValidationFailed`` (422).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, cast

import polars as pl
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhongtai.auth.audit import record
from zhongtai.auth.principal import Principal
from zhongtai.catalog import lifecycle as lc
from zhongtai.catalog import repository as repo
from zhongtai.catalog.attributes import KINDS, LEVELS, AttrSpec, validate_values
from zhongtai.catalog.barcodes import barcode_problem
from zhongtai.catalog.models import AttributeDef, Brand, Category, Sku, Spu
from zhongtai.catalog.schemas import (
    AttributeDefOut,
    AttributeValueOut,
    BrandOut,
    CategoryNode,
    CategoryRef,
    ChannelPriceOut,
    LinkedSkuOut,
    SkuDetailOut,
    SkuSummaryOut,
    SpuDetailOut,
    SpuOut,
)
from zhongtai.channels import service as channel_service
from zhongtai.errors import Conflict, FieldProblem, InvalidTransition, ValidationFailed, invalid, not_found
from zhongtai.pagination import Page, SortKey, paginate

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
ATTR_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_FEN = 10**13
MAX_CATEGORY_DEPTH = 8
# '|' separates list items in the import/export format, so it may not appear inside one.
LIST_SEPARATOR = "|"


# ---------------------------------------------------------------- the SkuRef interface (inventory, orders)


@dataclass(frozen=True, slots=True)
class SkuRef:
    """What other contexts need to know about a SKU (inventory, later orders and forecasting)."""

    id: int
    code: str
    name: str
    spu_id: int
    category_id: int
    serial_tracked: bool
    unit_cost_fen: int
    sale_price_fen: int
    currency: str
    lifecycle: str


def _refs(session: Session, where: object) -> list[SkuRef]:
    rows = session.execute(
        select(
            Sku.id,
            Sku.code,
            Sku.name,
            Sku.spu_id,
            Spu.category_id,
            Sku.serial_tracked,
            Sku.unit_cost_fen,
            Sku.sale_price_fen,
            Sku.currency,
            Sku.lifecycle,
        )
        .join(Spu, Spu.id == Sku.spu_id)
        .where(where)  # type: ignore[arg-type]
    )
    return [SkuRef(*tuple(row)) for row in rows]


def sku_refs_by_codes(session: Session, codes: Sequence[str]) -> dict[str, SkuRef]:
    """{code: SkuRef} for the codes that exist; callers report the missing ones."""
    if not codes:
        return {}
    return {r.code: r for r in _refs(session, Sku.code.in_(sorted(set(codes))))}


def sku_refs_by_ids(session: Session, ids: Sequence[int]) -> dict[int, SkuRef]:
    if not ids:
        return {}
    return {r.id: r for r in _refs(session, Sku.id.in_(sorted(set(ids))))}


# ---------------------------------------------------------------- validation helpers


class _Problems:
    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.items.append(FieldProblem(field, code, message))

    def extend(self, problems: Iterable[FieldProblem]) -> None:
        self.items.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, what: str) -> None:
        if self.items:
            raise ValidationFailed(f"invalid {what}: {len(self.items)} problem(s)", errors=list(self.items))


def _check_code(p: _Problems, field: str, code: object, pattern: re.Pattern[str] = CODE_RE) -> None:
    if not isinstance(code, str) or not pattern.match(code):
        hint = "lower-case letters, digits and _" if pattern is ATTR_CODE_RE else "letters, digits and -_."
        p.add(field, "invalid_code", f"{code!r}: 1-64 {hint}, starting with a letter or digit")


def _check_text(p: _Problems, field: str, value: object, *, max_len: int, required: bool) -> None:
    if not isinstance(value, str):
        p.add(field, "not_text", "must be a string")
    elif required and not value.strip():
        p.add(field, "required", "must not be blank")
    elif len(value) > max_len:
        p.add(field, "too_long", f"at most {max_len} characters")


def _clean_list(p: _Problems, field: str, values: object, *, max_items: int, max_len: int) -> list[str]:
    """Stripped, blank-free, duplicate-free (first one kept), in the given order."""
    if not isinstance(values, list | tuple):
        p.add(field, "not_a_list", "must be a list of strings")
        return []
    out: list[str] = []
    for i, raw in enumerate(values):
        if not isinstance(raw, str):
            p.add(f"{field}.{i}", "not_text", "must be a string")
            continue
        item = raw.strip()
        if not item:
            continue
        if len(item) > max_len:
            p.add(f"{field}.{i}", "too_long", f"at most {max_len} characters")
        elif LIST_SEPARATOR in item:
            p.add(f"{field}.{i}", "invalid_character", "must not contain '|'")
        elif item not in out:
            out.append(item)
    if len(out) > max_items:
        p.add(field, "too_many", f"at most {max_items} items")
    return out


def _check_fen(p: _Problems, field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        p.add(field, "not_an_integer", "an amount in fen (an integer)")
    elif value < 0:
        p.add(field, "negative", "must not be negative")
    elif value > MAX_FEN:
        p.add(field, "too_large", "amount is too large")


def _insert(session: Session, obj: object, field: str, what: str) -> None:
    """Adds and flushes ``obj``; a unique clash with a concurrent writer becomes a field problem."""
    try:
        with session.begin_nested():
            session.add(obj)
            session.flush()
    except IntegrityError as exc:
        raise ValidationFailed(f"{what} exists", errors=[FieldProblem(field, "taken", f"{what} exists")]) from exc


def _check_new_code(p: _Problems, code: object, what: str, find: Callable[[str], object | None]) -> None:
    """The code of a new SPU or SKU: well formed and not taken (``find`` looks it up)."""
    _check_code(p, "body.code", code)
    if isinstance(code, str) and find(code) is not None:
        p.add("body.code", "taken", f"{what} {code!r} exists")


def _reject_unknown_fields(changes: Mapping[str, Any], fields: Sequence[str], what: str) -> None:
    unknown = set(changes) - set(fields)
    if unknown:
        raise invalid(*[(f"body.{k}", "unknown_field", f"not a field of {what}") for k in sorted(unknown)])


def _changed_fields(
    fields: Sequence[str], current: Mapping[str, Any], clean: Mapping[str, Any], changed_out: list[str] | None
) -> list[str]:
    """The fields whose validated value differs from the current one (also into ``changed_out``)."""
    changed = [k for k in fields if clean[k] != current[k]]
    if changed_out is not None:
        changed_out.extend(changed)
    return changed


def _record_update(
    session: Session,
    actor: Principal,
    action: str,
    entity: str,
    code: str,
    current: Mapping[str, Any],
    clean: Mapping[str, Any],
    changed: Sequence[str],
) -> None:
    """The audit entry of an update: the changed fields, before and after."""
    record(
        session,
        actor,
        action,
        entity,
        code,
        before={k: current[k] for k in changed},
        after={k: clean[k] for k in changed},
    )


def _specs_or_load(session: Session, specs: Mapping[str, AttrSpec] | None) -> Mapping[str, AttrSpec]:
    """Attribute definitions the caller already loaded (bulk imports), or loaded now."""
    return specs if specs is not None else attribute_specs(session)


# ---------------------------------------------------------------- attribute definitions


def attribute_specs(session: Session) -> dict[str, AttrSpec]:
    """Every definition as plain data, in definition order (importers load it once)."""
    return {d.code: _spec(d) for d in repo.all_attribute_defs(session)}


def _spec(d: AttributeDef) -> AttrSpec:
    return AttrSpec(
        code=d.code,
        name=d.name,
        name_en=d.name_en,
        kind=d.kind,
        level=d.level,
        unit=d.unit,
        options=tuple(str(o) for o in d.options or ()),
    )


def define_attribute(
    session: Session,
    actor: Principal,
    *,
    code: str,
    name: str,
    kind: str,
    level: str = "spu",
    unit: str | None = None,
    options: Sequence[str] = (),
    name_en: str = "",
) -> AttributeDef:
    p = _Problems()
    _check_code(p, "body.code", code, ATTR_CODE_RE)
    _check_text(p, "body.name", name, max_len=128, required=True)
    _check_text(p, "body.name_en", name_en, max_len=128, required=False)
    if kind not in KINDS:
        p.add("body.kind", "invalid_kind", f"one of {', '.join(KINDS)}")
    if level not in LEVELS:
        p.add("body.level", "invalid_level", f"one of {', '.join(LEVELS)}")
    if unit is not None and kind != "number":
        p.add("body.unit", "unit_not_allowed", "only number attributes have a unit")
    if unit is not None and (not unit.strip() or len(unit) > 16):
        p.add("body.unit", "invalid_unit", "1-16 characters")
    clean_options = _clean_list(p, "body.options", list(options), max_items=200, max_len=64)
    if kind == "enum" and not clean_options:
        p.add("body.options", "required", "an enum needs at least one option")
    if kind != "enum" and clean_options:
        p.add("body.options", "options_not_allowed", "only enum attributes have options")
    if len(clean_options) != len([o for o in options if isinstance(o, str) and o.strip()]):
        p.add("body.options", "duplicate", "options must be unique")
    if isinstance(code, str) and repo.attribute_def_by_code(session, code) is not None:
        p.add("body.code", "taken", f"attribute {code!r} exists")
    p.raise_if_any("attribute")
    attr = AttributeDef(
        code=code,
        name=name.strip(),
        name_en=name_en.strip(),
        kind=kind,
        level=level,
        unit=unit.strip() if unit else None,
        options=clean_options,
    )
    _insert(session, attr, "body.code", f"attribute {code!r}")
    record(session, actor, "attribute.define", "attribute_def", code, after=_spec_snapshot(attr))
    return attr


def _spec_snapshot(d: AttributeDef) -> dict[str, Any]:
    return {
        "name": d.name,
        "name_en": d.name_en,
        "kind": d.kind,
        "level": d.level,
        "unit": d.unit,
        "options": list(d.options),
    }


def list_attribute_defs(session: Session, level: str | None = None) -> list[AttributeDefOut]:
    return [AttributeDefOut.model_validate(d) for d in repo.all_attribute_defs(session, level)]


# ---------------------------------------------------------------- categories and brands


def create_category(
    session: Session,
    actor: Principal,
    *,
    code: str,
    name: str,
    name_en: str = "",
    parent_code: str | None = None,
    sort_order: int = 0,
) -> Category:
    p = _Problems()
    _check_code(p, "body.code", code)
    _check_text(p, "body.name", name, max_len=128, required=True)
    _check_text(p, "body.name_en", name_en, max_len=128, required=False)
    if isinstance(code, str) and repo.category_by_code(session, code) is not None:
        p.add("body.code", "taken", f"category {code!r} exists")
    parent = None
    if parent_code is not None:
        parent = repo.category_by_code(session, parent_code)
        if parent is None:
            p.add("body.parent_code", "unknown_category", f"no category {parent_code!r}")
        elif parent.depth + 1 >= MAX_CATEGORY_DEPTH:
            p.add("body.parent_code", "too_deep", f"categories nest at most {MAX_CATEGORY_DEPTH} levels")
    p.raise_if_any("category")
    category = Category(
        code=code,
        name=name.strip(),
        name_en=name_en.strip(),
        parent_id=parent.id if parent else None,
        depth=parent.depth + 1 if parent else 0,
        sort_order=sort_order,
        path="/",
    )
    _insert(session, category, "body.code", f"category {code!r}")
    category.path = f"{parent.path if parent else '/'}{category.id}/"
    session.flush()
    record(
        session,
        actor,
        "category.create",
        "category",
        code,
        after={
            "name": category.name,
            "name_en": category.name_en,
            "parent_code": parent_code,
            "sort_order": sort_order,
        },
    )
    return category


def category_tree(session: Session) -> list[CategoryNode]:
    """Every category, nested, each level ordered by sort_order then code."""
    nodes: dict[int, CategoryNode] = {}
    roots: list[CategoryNode] = []
    for c in repo.all_categories(session):  # parents come before children (ordered by depth)
        node = CategoryNode(code=c.code, name=c.name, name_en=c.name_en, depth=c.depth, sort_order=c.sort_order)
        nodes[c.id] = node
        parent = nodes.get(c.parent_id) if c.parent_id is not None else None
        (parent.children if parent is not None else roots).append(node)
    return roots


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """A category as other contexts see it (forecasting: accuracy per category, event scopes)."""

    id: int
    code: str
    name: str
    name_en: str
    path_ids: tuple[int, ...]  # from the root down to the category itself


def categories_by_id(session: Session) -> dict[int, CategoryInfo]:
    """Every category by id, with its path (a category is "under" every id of its path)."""
    return {
        c.id: CategoryInfo(
            c.id, c.code, c.name, c.name_en, tuple(int(p) for p in c.path.strip("/").split("/") if p) or (c.id,)
        )
        for c in repo.all_categories(session)
    }


def _category_path(session: Session, category: Category) -> list[CategoryRef]:
    ids = [int(part) for part in category.path.strip("/").split("/") if part]
    found = repo.categories_by_ids(session, ids)
    return [CategoryRef(code=found[i].code, name=found[i].name, name_en=found[i].name_en) for i in ids if i in found]


def create_brand(session: Session, actor: Principal, *, code: str, name: str, name_en: str = "") -> Brand:
    p = _Problems()
    _check_code(p, "body.code", code)
    _check_text(p, "body.name", name, max_len=128, required=True)
    _check_text(p, "body.name_en", name_en, max_len=128, required=False)
    if isinstance(code, str) and repo.brand_by_code(session, code) is not None:
        p.add("body.code", "taken", f"brand {code!r} exists")
    p.raise_if_any("brand")
    brand = Brand(code=code, name=name.strip(), name_en=name_en.strip())
    _insert(session, brand, "body.code", f"brand {code!r}")
    record(session, actor, "brand.create", "brand", code, after={"name": brand.name, "name_en": brand.name_en})
    return brand


def list_brands(session: Session) -> list[BrandOut]:
    return [BrandOut.model_validate(b) for b in repo.all_brands(session)]


# ---------------------------------------------------------------- SPUs


class SpuChanges(TypedDict, total=False):
    name: str
    name_en: str
    category_code: str
    brand_code: str | None
    description: str
    selling_points: list[str]
    parameters: dict[str, Any]
    tags: list[str]


SPU_FIELDS = ("name", "name_en", "category_code", "brand_code", "description", "selling_points", "parameters", "tags")


def _spu_state(session: Session, spu: Spu) -> dict[str, Any]:
    category, brand = _category_and_brand(session, spu)
    return {
        "name": spu.name,
        "name_en": spu.name_en,
        "category_code": category.code if category else None,
        "brand_code": brand.code if brand else None,
        "description": spu.description,
        "selling_points": list(spu.selling_points or []),
        "parameters": dict(spu.parameters or {}),
        "tags": list(spu.tags or []),
    }


def _category_and_brand(session: Session, spu: Spu) -> tuple[Category | None, Brand | None]:
    category = session.get(Category, spu.category_id)
    brand = session.get(Brand, spu.brand_id) if spu.brand_id is not None else None
    return category, brand


def _validate_spu(
    session: Session, state: dict[str, Any], specs: Mapping[str, AttrSpec], p: _Problems
) -> dict[str, Any]:
    """Checks a whole SPU state; returns it normalised, with category_id and brand_id resolved."""
    _check_text(p, "body.name", state["name"], max_len=255, required=True)
    _check_text(p, "body.name_en", state["name_en"], max_len=255, required=False)
    _check_text(p, "body.description", state["description"], max_len=20_000, required=False)
    clean = dict(state)
    clean["selling_points"] = _clean_list(p, "body.selling_points", state["selling_points"], max_items=20, max_len=200)
    clean["tags"] = _clean_list(p, "body.tags", state["tags"], max_items=50, max_len=32)
    if isinstance(state["parameters"], Mapping):
        clean["parameters"], problems = validate_values(
            specs, state["parameters"], level="spu", field="body.parameters"
        )
        p.extend(problems)
    else:
        p.add("body.parameters", "not_an_object", "must map attribute codes to values")
    category = repo.category_by_code(session, state["category_code"]) if state["category_code"] else None
    if category is None:
        code = "required" if not state["category_code"] else "unknown_category"
        p.add("body.category_code", code, f"no category {state['category_code']!r}")
    clean["category_id"] = category.id if category else None
    clean["brand_id"] = None
    if state["brand_code"]:
        brand = repo.brand_by_code(session, state["brand_code"])
        if brand is None:
            p.add("body.brand_code", "unknown_brand", f"no brand {state['brand_code']!r}")
        else:
            clean["brand_id"] = brand.id
    else:
        clean["brand_code"] = None
    for key in ("name", "name_en", "description"):
        if isinstance(clean[key], str):
            clean[key] = clean[key].strip()
    return clean


def create_spu(
    session: Session,
    actor: Principal,
    *,
    code: str,
    name: str,
    category_code: str,
    brand_code: str | None = None,
    name_en: str = "",
    description: str = "",
    selling_points: Sequence[str] = (),
    parameters: Mapping[str, Any] | None = None,
    tags: Sequence[str] = (),
    specs: Mapping[str, AttrSpec] | None = None,
) -> Spu:
    """A new SPU, in draft. ``specs``: attribute definitions already loaded (bulk imports)."""
    p = _Problems()
    _check_new_code(p, code, "SPU", lambda c: repo.spu_by_code(session, c))
    state: dict[str, Any] = {
        "name": name,
        "name_en": name_en,
        "category_code": category_code,
        "brand_code": brand_code,
        "description": description,
        "selling_points": list(selling_points),
        "parameters": dict(parameters or {}),
        "tags": list(tags),
    }
    clean = _validate_spu(session, state, _specs_or_load(session, specs), p)
    p.raise_if_any("SPU")
    spu = Spu(
        code=code,
        name=clean["name"],
        name_en=clean["name_en"],
        category_id=clean["category_id"],
        brand_id=clean["brand_id"],
        description=clean["description"],
        selling_points=clean["selling_points"],
        parameters=clean["parameters"],
        tags=clean["tags"],
        lifecycle=lc.DRAFT,
    )
    _insert(session, spu, "body.code", f"SPU {code!r}")
    record(session, actor, "spu.create", "spu", code, after={k: clean[k] for k in SPU_FIELDS} | {"lifecycle": lc.DRAFT})
    return spu


def update_spu(
    session: Session,
    actor: Principal,
    code: str,
    changes: SpuChanges,
    *,
    specs: Mapping[str, AttrSpec] | None = None,
    changed_out: list[str] | None = None,
) -> Spu:
    """Changes the given fields (``parameters`` replaces the whole map). No change, no write.

    ``changed_out``, when given, receives the names of the fields that changed.
    """
    spu = _get_spu(session, code)
    _reject_unknown_fields(changes, SPU_FIELDS, "an SPU")
    current = _spu_state(session, spu)
    p = _Problems()
    clean = _validate_spu(session, current | dict(changes), _specs_or_load(session, specs), p)
    p.raise_if_any("SPU")
    changed = _changed_fields(SPU_FIELDS, current, clean, changed_out)
    if not changed:
        return spu
    for key in changed:
        if key == "category_code":
            spu.category_id = clean["category_id"]
        elif key == "brand_code":
            spu.brand_id = clean["brand_id"]
        else:
            setattr(spu, key, clean[key])
    session.flush()
    _record_update(session, actor, "spu.update", "spu", code, current, clean, changed)
    return spu


def change_spu_lifecycle(session: Session, actor: Principal, code: str, target: str) -> Spu:
    """See the module docstring for the rules; raises ``InvalidTransition`` listing every reason."""
    spu = _get_spu(session, code)
    problems = lc.transition_problems(spu.lifecycle, target)
    skus = repo.skus_of_spu(session, spu.id)
    launching = not problems and target == lc.ON_SALE and spu.lifecycle != lc.ON_SALE
    if launching and not any(s.sale_price_fen > 0 for s in skus):
        problems.append(FieldProblem("body.lifecycle", "no_sellable_sku", "no SKU of it has a sale price above 0"))
    if problems:
        raise InvalidTransition(f"SPU {code} cannot go {target}", errors=problems)
    if spu.lifecycle == target:
        return spu
    before = spu.lifecycle
    spu.lifecycle = target
    if target == lc.OFF_SALE:
        for sku in skus:
            if sku.lifecycle == lc.ON_SALE:
                sku.lifecycle = lc.OFF_SALE
                record(
                    session,
                    actor,
                    "sku.lifecycle",
                    "sku",
                    sku.code,
                    before={"lifecycle": lc.ON_SALE},
                    after={"lifecycle": lc.OFF_SALE, "reason": f"SPU {code} off sale"},
                )
    session.flush()
    record(session, actor, "spu.lifecycle", "spu", code, before={"lifecycle": before}, after={"lifecycle": target})
    return spu


def _get_spu(session: Session, code: str) -> Spu:
    spu = repo.spu_by_code(session, code)
    if spu is None:
        raise not_found("spu", code)
    return spu


def get_spu_detail(session: Session, code: str) -> SpuDetailOut:
    spu = _get_spu(session, code)
    category, brand = _category_and_brand(session, spu)
    specs = attribute_specs(session)
    return SpuDetailOut(
        code=spu.code,
        name=spu.name,
        name_en=spu.name_en,
        category_path=_category_path(session, category) if category else [],
        brand=BrandOut.model_validate(brand) if brand else None,
        description=spu.description,
        selling_points=list(spu.selling_points),
        tags=list(spu.tags),
        parameters=_values_out(specs, spu.parameters),
        lifecycle=spu.lifecycle,
        skus=_summaries(session, repo.skus_of_spu(session, spu.id)),
        created_at=spu.created_at,
        updated_at=spu.updated_at,
    )


def list_spus(
    session: Session,
    *,
    q: str | None = None,
    category_code: str | None = None,
    brand_code: str | None = None,
    lifecycle: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[SpuOut]:
    category_path, brand_id = _resolve_filters(session, category_code, brand_code)
    stmt = repo.spu_query(q=q, category_path=category_path, brand_id=brand_id, lifecycle=lifecycle)
    page = paginate(session, stmt, [SortKey(Spu.id)], cursor=cursor, limit=limit)
    spus: list[Spu] = page.items
    categories = repo.categories_by_ids(session, [s.category_id for s in spus])
    brands = repo.brands_by_ids(session, [s.brand_id for s in spus if s.brand_id is not None])
    counts: dict[int, int] = {}
    for sku in repo.skus_of_spus(session, [s.id for s in spus]):
        counts[sku.spu_id] = counts.get(sku.spu_id, 0) + 1
    items = []
    for s in spus:
        brand = brands.get(s.brand_id) if s.brand_id is not None else None
        items.append(
            SpuOut(
                code=s.code,
                name=s.name,
                name_en=s.name_en,
                category_code=categories[s.category_id].code,
                category_name=categories[s.category_id].name,
                brand_code=brand.code if brand else None,
                brand_name=brand.name if brand else None,
                lifecycle=s.lifecycle,
                sku_count=counts.get(s.id, 0),
                created_at=s.created_at,
                updated_at=s.updated_at,
            )
        )
    return Page(items=items, next_cursor=page.next_cursor)


# ---------------------------------------------------------------- SKUs


class SkuChanges(TypedDict, total=False):
    spu_code: str
    name: str
    name_en: str
    sale_attributes: dict[str, Any]
    currency: str
    list_price_fen: int
    sale_price_fen: int
    unit_cost_fen: int
    serial_tracked: bool
    tags: list[str]
    weight_g: int | None
    barcodes: list[str]
    channel_prices: dict[str, int]
    accessories: list[str]
    related: list[str]
    lifecycle: str


SKU_FIELDS = (
    "spu_code",
    "name",
    "name_en",
    "sale_attributes",
    "currency",
    "list_price_fen",
    "sale_price_fen",
    "unit_cost_fen",
    "serial_tracked",
    "tags",
    "weight_g",
    "barcodes",
    "channel_prices",
    "accessories",
    "related",
    "lifecycle",
)
# The fields stored on the SKU row itself; the others are its SPU id and rows of their own.
_SKU_COLUMNS = tuple(
    k for k in SKU_FIELDS if k not in ("spu_code", "barcodes", "channel_prices", "accessories", "related")
)


def _sku_state(session: Session, sku: Sku) -> dict[str, Any]:
    spu = session.get(Spu, sku.spu_id)
    links = repo.links_of(session, [sku.id])[sku.id]
    names = repo.sku_names_by_ids(session, links["accessory"] + links["related"])
    return {
        "spu_code": spu.code if spu else None,
        "name": sku.name,
        "name_en": sku.name_en,
        "sale_attributes": dict(sku.sale_attributes or {}),
        "currency": sku.currency,
        "list_price_fen": sku.list_price_fen,
        "sale_price_fen": sku.sale_price_fen,
        "unit_cost_fen": sku.unit_cost_fen,
        "serial_tracked": sku.serial_tracked,
        "tags": list(sku.tags or []),
        "weight_g": sku.weight_g,
        "barcodes": repo.barcodes_of(session, [sku.id])[sku.id],
        "channel_prices": {c: price for c, (price, _cur) in repo.channel_prices_of(session, [sku.id])[sku.id].items()},
        "accessories": [names[i][0] for i in links["accessory"] if i in names],
        "related": [names[i][0] for i in links["related"] if i in names],
        "lifecycle": sku.lifecycle,
    }


def _validate_sku(
    session: Session,
    code: str,
    state: dict[str, Any],
    *,
    current: dict[str, Any] | None,
    sku_id: int | None,
    specs: Mapping[str, AttrSpec],
    p: _Problems,
    spu_pending: bool = False,
) -> tuple[dict[str, Any], Spu | None, dict[str, list[int]]]:
    """Checks a whole SKU state. Returns it normalised, its SPU and the linked SKU ids by kind.

    ``spu_pending``: the SPU is being created in the same step (an import row), so its absence
    is not a problem of the SKU.
    """
    clean = dict(state)
    _check_text(p, "body.name", state["name"], max_len=255, required=True)
    _check_text(p, "body.name_en", state["name_en"], max_len=255, required=False)
    for key in ("name", "name_en"):
        if isinstance(clean[key], str):
            clean[key] = clean[key].strip()
    if not isinstance(state["currency"], str) or not CURRENCY_RE.match(state["currency"]):
        p.add("body.currency", "invalid_currency", "an ISO 4217 code such as CNY")
    for key in ("list_price_fen", "sale_price_fen", "unit_cost_fen"):
        _check_fen(p, f"body.{key}", state[key])
    prices_ok = all(isinstance(state[k], int) for k in ("list_price_fen", "sale_price_fen"))
    if prices_ok and state["sale_price_fen"] > state["list_price_fen"]:
        p.add("body.sale_price_fen", "above_list_price", "the sale price may not exceed the list price")
    if not isinstance(state["serial_tracked"], bool):
        p.add("body.serial_tracked", "not_a_boolean", "true or false")
    weight = state["weight_g"]
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, int) or weight < 0):
        p.add("body.weight_g", "invalid_weight", "grams, a whole number of at least 0")
    clean["tags"] = _clean_list(p, "body.tags", state["tags"], max_items=50, max_len=32)

    # The SPU: known, and the sale attributes distinguish this SKU from its siblings.
    spu = repo.spu_by_code(session, state["spu_code"]) if state["spu_code"] else None
    if spu is None and not spu_pending:
        p.add("body.spu_code", "unknown_spu", f"no SPU {state['spu_code']!r}")
    if isinstance(state["sale_attributes"], Mapping):
        clean["sale_attributes"], problems = validate_values(
            specs, state["sale_attributes"], level="sku", field="body.sale_attributes"
        )
        p.extend(problems)
        moved = current is None or current["spu_code"] != state["spu_code"]
        if (
            spu is not None
            and clean["sale_attributes"]
            and not problems
            and (moved or current is None or current["sale_attributes"] != clean["sale_attributes"])
        ):
            twin = next(
                (
                    s.code
                    for s in repo.skus_of_spu(session, spu.id)
                    if s.id != sku_id and s.sale_attributes == clean["sale_attributes"]
                ),
                None,
            )
            if twin is not None:
                p.add("body.sale_attributes", "duplicate_variant", f"SKU {twin} of this SPU has the same attributes")
    else:
        p.add("body.sale_attributes", "not_an_object", "must map attribute codes to values")

    # Barcodes: valid, unique in the request, not used by another SKU.
    barcodes = state["barcodes"]
    clean_barcodes: list[str] = []
    if isinstance(barcodes, list | tuple):
        for i, raw in enumerate(barcodes):
            barcode = raw.strip() if isinstance(raw, str) else raw
            problem = barcode_problem(barcode) if isinstance(barcode, str) else ("not_text", "must be a string")
            if problem is not None:
                p.add(f"body.barcodes.{i}", *problem)
            elif barcode in clean_barcodes:
                p.add(f"body.barcodes.{i}", "duplicate", f"{barcode} is listed twice")
            else:
                clean_barcodes.append(barcode)
        for barcode, (owner_id, owner_code) in repo.barcode_owners(session, clean_barcodes).items():
            if owner_id != sku_id:
                p.add(
                    f"body.barcodes.{clean_barcodes.index(barcode)}", "taken", f"{barcode} belongs to SKU {owner_code}"
                )
    else:
        p.add("body.barcodes", "not_a_list", "must be a list of barcodes")
    clean["barcodes"] = sorted(clean_barcodes)

    # Channel prices: known channels, in fen, in the SKU's currency.
    prices = state["channel_prices"]
    if isinstance(prices, Mapping):
        for channel in channel_service.unknown_codes(session, list(prices)):
            p.add(f"body.channel_prices.{channel}", "unknown_channel", f"no channel {channel!r}")
        for channel, price in prices.items():
            _check_fen(p, f"body.channel_prices.{channel}", price)
        clean["channel_prices"] = dict(sorted(prices.items()))
        if (
            current is not None
            and current["currency"] != state["currency"]
            and current["channel_prices"]
            and current["channel_prices"] == clean["channel_prices"]
        ):
            p.add(
                "body.currency",
                "channel_prices_in_other_currency",
                f"its channel prices are in {current['currency']}; give them again in {state['currency']}",
            )
    else:
        p.add("body.channel_prices", "not_an_object", "must map channel codes to prices in fen")

    # Links: other existing SKUs.
    link_ids: dict[str, list[int]] = {}
    for key, kind in (("accessories", "accessory"), ("related", "related")):
        codes = _clean_list(p, f"body.{key}", state[key], max_items=100, max_len=64)
        if code in codes:
            p.add(f"body.{key}", "self_link", "a SKU cannot be linked to itself")
            codes = [c for c in codes if c != code]
        known = repo.sku_ids_by_codes(session, codes)
        missing = [c for c in codes if c not in known]
        if missing:
            p.add(f"body.{key}", "unknown_sku", f"no SKU {', '.join(missing)}")
        clean[key] = codes
        link_ids[kind] = [known[c] for c in codes if c in known]

    # Lifecycle: an allowed move, and what being on sale needs.
    p.extend(lc.transition_problems(current["lifecycle"] if current else None, state["lifecycle"]))
    if state["lifecycle"] == lc.ON_SALE and prices_ok:
        p.extend(
            lc.sku_on_sale_problems(
                sale_price_fen=state["sale_price_fen"], spu_lifecycle=spu.lifecycle if spu else None
            )
        )
    return clean, spu, link_ids


def _validate_new_sku(
    session: Session,
    code: str,
    state: dict[str, Any],
    specs: Mapping[str, AttrSpec] | None,
    p: _Problems,
    *,
    spu_pending: bool = False,
) -> tuple[dict[str, Any], Spu | None, dict[str, list[int]]]:
    return _validate_sku(
        session,
        code,
        state,
        current=None,
        sku_id=None,
        specs=_specs_or_load(session, specs),
        p=p,
        spu_pending=spu_pending,
    )


def _write_sku(
    session: Session,
    actor: Principal,
    code: str,
    sku: Sku | None,
    clean: dict[str, Any],
    changed: list[str],
    spu: Spu,
    link_ids: dict[str, list[int]],
) -> Sku:
    current_exists = sku is not None
    try:
        with session.begin_nested():
            if sku is None:
                sku = Sku(code=code, spu_id=spu.id, **{k: clean[k] for k in _SKU_COLUMNS})
                session.add(sku)
                session.flush()
            else:
                for key in changed:
                    if key in _SKU_COLUMNS:
                        setattr(sku, key, clean[key])
                if "spu_code" in changed:
                    sku.spu_id = spu.id
            creating = not current_exists
            if "barcodes" in changed and (clean["barcodes"] or not creating):
                repo.replace_barcodes(session, sku.id, clean["barcodes"], existing=not creating)
            if ("channel_prices" in changed or "currency" in changed) and (clean["channel_prices"] or not creating):
                repo.replace_channel_prices(
                    session, sku.id, clean["channel_prices"], clean["currency"], existing=not creating
                )
            if ("accessories" in changed or "related" in changed) and (any(link_ids.values()) or not creating):
                repo.replace_links(session, sku.id, link_ids, existing=not creating)
            session.flush()
    except IntegrityError as exc:
        # Only a concurrent writer gets here: the checks above saw the codes and barcodes free.
        raise Conflict(f"SKU {code} was changed at the same time; retry") from exc
    if clean["lifecycle"] == lc.ON_SALE and spu.lifecycle == lc.DRAFT:
        spu.lifecycle = lc.ON_SALE
        session.flush()
        record(
            session,
            actor,
            "spu.lifecycle",
            "spu",
            spu.code,
            before={"lifecycle": lc.DRAFT},
            after={"lifecycle": lc.ON_SALE, "reason": f"SKU {code} on sale"},
        )
    return sku


def create_sku(
    session: Session,
    actor: Principal,
    *,
    spu_code: str,
    code: str,
    name: str,
    list_price_fen: int,
    sale_price_fen: int,
    unit_cost_fen: int = 0,
    currency: str = "CNY",
    name_en: str = "",
    sale_attributes: Mapping[str, Any] | None = None,
    serial_tracked: bool = False,
    tags: Sequence[str] = (),
    weight_g: int | None = None,
    barcodes: Sequence[str] = (),
    channel_prices: Mapping[str, int] | None = None,
    accessories: Sequence[str] = (),
    related: Sequence[str] = (),
    lifecycle: str = lc.DRAFT,
    specs: Mapping[str, AttrSpec] | None = None,
) -> Sku:
    """A new SKU under an existing SPU. It may start on sale (see the module docstring)."""
    p = _Problems()
    _check_new_code(p, code, "SKU", lambda c: repo.sku_by_code(session, c))
    state: dict[str, Any] = {
        "spu_code": spu_code,
        "name": name,
        "name_en": name_en,
        "sale_attributes": dict(sale_attributes or {}),
        "currency": currency,
        "list_price_fen": list_price_fen,
        "sale_price_fen": sale_price_fen,
        "unit_cost_fen": unit_cost_fen,
        "serial_tracked": serial_tracked,
        "tags": list(tags),
        "weight_g": weight_g,
        "barcodes": list(barcodes),
        "channel_prices": dict(channel_prices or {}),
        "accessories": list(accessories),
        "related": list(related),
        "lifecycle": lifecycle,
    }
    clean, spu, link_ids = _validate_new_sku(session, code, state, specs, p)
    p.raise_if_any("SKU")
    assert spu is not None  # validated above
    sku = _write_sku(session, actor, code, None, clean, list(SKU_FIELDS), spu, link_ids)
    record(session, actor, "sku.create", "sku", code, after={k: clean[k] for k in SKU_FIELDS})
    return sku


def new_sku_problems(
    session: Session, *, spu_code: str, code: str, specs: Mapping[str, AttrSpec] | None = None, **fields: Any
) -> list[FieldProblem]:
    """What ``create_sku`` would refuse, for a SKU whose SPU does not exist yet (nothing is written).

    Importers use it to report a row's SKU problems together with its SPU's.
    """
    p = _Problems()
    _check_new_code(p, code, "SKU", lambda c: repo.sku_by_code(session, c))
    state: dict[str, Any] = {
        "spu_code": spu_code,
        "name": "",
        "name_en": "",
        "sale_attributes": {},
        "currency": "CNY",
        "list_price_fen": 0,
        "sale_price_fen": 0,
        "unit_cost_fen": 0,
        "serial_tracked": False,
        "tags": [],
        "weight_g": None,
        "barcodes": [],
        "channel_prices": {},
        "accessories": [],
        "related": [],
        "lifecycle": lc.DRAFT,
    }
    unknown = set(fields) - set(state)
    if unknown:
        raise TypeError(f"unknown SKU fields {sorted(unknown)}")
    state.update(fields)
    _validate_new_sku(session, code, state, specs, p, spu_pending=True)
    return p.items


def update_sku(
    session: Session,
    actor: Principal,
    code: str,
    changes: SkuChanges,
    *,
    action: str = "sku.update",
    specs: Mapping[str, AttrSpec] | None = None,
    error: type[ValidationFailed] | type[InvalidTransition] = ValidationFailed,
    changed_out: list[str] | None = None,
) -> Sku:
    """Changes the given fields; lists (barcodes, tags, links) and maps replace the old ones whole.

    The result is validated as a whole (a price cut to 0 on an on-sale SKU is refused). No change,
    no write and no audit entry. ``changed_out``, when given, receives the changed field names.
    """
    sku = _get_sku(session, code)
    _reject_unknown_fields(changes, SKU_FIELDS, "a SKU")
    current = _sku_state(session, sku)
    p = _Problems()
    clean, spu, link_ids = _validate_sku(
        session,
        code,
        current | dict(changes),
        current=current,
        sku_id=sku.id,
        specs=_specs_or_load(session, specs),
        p=p,
    )
    if p:
        raise error(f"invalid SKU {code}: {len(p.items)} problem(s)", errors=p.items)
    assert spu is not None
    changed = _changed_fields(SKU_FIELDS, current, clean, changed_out)
    if not changed:
        return sku
    _write_sku(session, actor, code, sku, clean, changed, spu, link_ids)
    _record_update(session, actor, action, "sku", code, current, clean, changed)
    return sku


def change_lifecycle(session: Session, actor: Principal, code: str, target: str) -> Sku:
    """Moves a SKU along its lifecycle; ``InvalidTransition`` (409) lists every reason it cannot."""
    return update_sku(session, actor, code, {"lifecycle": target}, action="sku.lifecycle", error=InvalidTransition)


def set_channel_price(
    session: Session, actor: Principal, code: str, channel_code: str, price_fen: int, currency: str | None = None
) -> Sku:
    """The SKU's price on one channel, in the SKU's currency (another currency is refused)."""
    sku = _get_sku(session, code)
    if currency is not None and currency != sku.currency:
        raise invalid(("body.currency", "currency_mismatch", f"SKU {code} is priced in {sku.currency}"))
    prices = _sku_state(session, sku)["channel_prices"] | {channel_code: price_fen}
    return update_sku(session, actor, code, {"channel_prices": prices}, action="sku.channel_price")


def remove_channel_price(session: Session, actor: Principal, code: str, channel_code: str) -> Sku:
    sku = _get_sku(session, code)
    prices = _sku_state(session, sku)["channel_prices"]
    if channel_code not in prices:
        raise not_found("channel price", f"{code}@{channel_code}")
    del prices[channel_code]
    return update_sku(session, actor, code, {"channel_prices": prices}, action="sku.channel_price")


def set_sku_links(
    session: Session, actor: Principal, code: str, *, accessories: Sequence[str], related: Sequence[str]
) -> Sku:
    """Replaces both link lists; their order is the display order."""
    return update_sku(
        session, actor, code, {"accessories": list(accessories), "related": list(related)}, action="sku.links"
    )


def add_barcode(session: Session, actor: Principal, code: str, barcode: str) -> Sku:
    sku = _get_sku(session, code)
    barcodes = _sku_state(session, sku)["barcodes"]
    if barcode in barcodes:
        return sku
    return update_sku(session, actor, code, {"barcodes": [*barcodes, barcode]}, action="sku.barcode_add")


def remove_barcode(session: Session, actor: Principal, code: str, barcode: str) -> Sku:
    sku = _get_sku(session, code)
    barcodes = _sku_state(session, sku)["barcodes"]
    if barcode not in barcodes:
        raise not_found("barcode", f"{code}/{barcode}")
    return update_sku(
        session, actor, code, {"barcodes": [b for b in barcodes if b != barcode]}, action="sku.barcode_remove"
    )


def _get_sku(session: Session, code: str) -> Sku:
    sku = repo.sku_by_code(session, code)
    if sku is None:
        raise not_found("sku", code)
    return sku


# ---------------------------------------------------------------- queries


def _values_out(specs: Mapping[str, AttrSpec], values: Mapping[str, Any]) -> list[AttributeValueOut]:
    """Values with their definitions, in definition order (unknown codes last, as stored)."""
    out = [
        AttributeValueOut(code=s.code, name=s.name, name_en=s.name_en, kind=s.kind, unit=s.unit, value=values[s.code])
        for s in specs.values()
        if s.code in values
    ]
    out += [
        AttributeValueOut(code=c, name=c, name_en=c, kind="text", unit=None, value=v)
        for c, v in sorted(values.items())
        if c not in specs
    ]
    return out


def _summaries(session: Session, skus: Sequence[Sku]) -> list[SkuSummaryOut]:
    """Summaries for many SKUs in a fixed number of queries, whatever their number."""
    spus = repo.spus_by_ids(session, [s.spu_id for s in skus])
    categories = repo.categories_by_ids(session, [s.category_id for s in spus.values()])
    brands = repo.brands_by_ids(session, [s.brand_id for s in spus.values() if s.brand_id is not None])
    barcodes = repo.barcodes_of(session, [s.id for s in skus])
    out = []
    for sku in skus:
        spu = spus[sku.spu_id]
        category = categories[spu.category_id]
        brand = brands.get(spu.brand_id) if spu.brand_id is not None else None
        out.append(
            SkuSummaryOut(
                code=sku.code,
                name=sku.name,
                name_en=sku.name_en,
                spu_code=spu.code,
                spu_name=spu.name,
                category_code=category.code,
                category_name=category.name,
                brand_code=brand.code if brand else None,
                brand_name=brand.name if brand else None,
                sale_attributes=dict(sku.sale_attributes),
                currency=sku.currency,
                list_price_fen=sku.list_price_fen,
                sale_price_fen=sku.sale_price_fen,
                lifecycle=sku.lifecycle,
                serial_tracked=sku.serial_tracked,
                barcodes=barcodes[sku.id],
                tags=list(sku.tags),
            )
        )
    return out


def _detail(session: Session, sku: Sku) -> SkuDetailOut:
    summary = _summaries(session, [sku])[0]
    spu = session.get(Spu, sku.spu_id)
    assert spu is not None
    category, brand = _category_and_brand(session, spu)
    specs = attribute_specs(session)
    links = repo.links_of(session, [sku.id])[sku.id]
    names = repo.sku_names_by_ids(session, links["accessory"] + links["related"])
    prices = repo.channel_prices_of(session, [sku.id])[sku.id]
    return SkuDetailOut(
        **summary.model_dump(),
        unit_cost_fen=sku.unit_cost_fen,
        weight_g=sku.weight_g,
        spu_lifecycle=spu.lifecycle,
        description=spu.description,
        selling_points=list(spu.selling_points),
        category_path=_category_path(session, category) if category else [],
        brand=BrandOut.model_validate(brand) if brand else None,
        parameters=_values_out(specs, spu.parameters),
        attributes=_values_out(specs, sku.sale_attributes),
        channel_prices=[ChannelPriceOut(channel_code=c, price_fen=p, currency=cur) for c, (p, cur) in prices.items()],
        accessories=[LinkedSkuOut(code=names[i][0], name=names[i][1]) for i in links["accessory"] if i in names],
        related=[LinkedSkuOut(code=names[i][0], name=names[i][1]) for i in links["related"] if i in names],
        created_at=sku.created_at,
        updated_at=sku.updated_at,
    )


def get_sku_detail(session: Session, code: str) -> SkuDetailOut:
    return _detail(session, _get_sku(session, code))


def get_sku_by_barcode(session: Session, barcode: str) -> SkuDetailOut:
    sku = repo.sku_by_barcode(session, barcode.strip())
    if sku is None:
        raise not_found("barcode", barcode)
    return _detail(session, sku)


def _resolve_filters(
    session: Session, category_code: str | None, brand_code: str | None
) -> tuple[str | None, int | None]:
    p = _Problems()
    category_path = brand_id = None
    if category_code:
        category = repo.category_by_code(session, category_code)
        if category is None:
            p.add("query.category", "unknown_category", f"no category {category_code!r}")
        else:
            category_path = category.path
    if brand_code:
        brand = repo.brand_by_code(session, brand_code)
        if brand is None:
            p.add("query.brand", "unknown_brand", f"no brand {brand_code!r}")
        else:
            brand_id = brand.id
    p.raise_if_any("filter")
    return category_path, brand_id


def _sku_stmt(
    session: Session,
    q: str | None,
    category_code: str | None,
    brand_code: str | None,
    lifecycle: str | None,
    serial_tracked: bool | None,
) -> Any:
    if lifecycle is not None and lifecycle not in lc.LIFECYCLES:
        raise invalid(("query.lifecycle", "invalid_lifecycle", f"one of {', '.join(lc.LIFECYCLES)}"))
    category_path, brand_id = _resolve_filters(session, category_code, brand_code)
    return repo.sku_query(
        q=q.strip() if q else None,
        category_path=category_path,
        brand_id=brand_id,
        lifecycle=lifecycle,
        serial_tracked=serial_tracked,
    )


def list_skus(
    session: Session,
    *,
    q: str | None = None,
    category_code: str | None = None,
    brand_code: str | None = None,
    lifecycle: str | None = None,
    serial_tracked: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[SkuSummaryOut]:
    """SKUs in creation order, one page at a time.

    ``q`` matches part of the code or name, or a barcode exactly; ``category_code`` includes its
    whole subtree. Unknown category or brand codes are a ``ValidationFailed``, not an empty page.
    """
    stmt = _sku_stmt(session, q, category_code, brand_code, lifecycle, serial_tracked)
    page = paginate(session, stmt, [SortKey(Sku.id)], cursor=cursor, limit=limit)
    return Page(items=_summaries(session, page.items), next_cursor=page.next_cursor)


def count_skus(
    session: Session,
    *,
    q: str | None = None,
    category_code: str | None = None,
    brand_code: str | None = None,
    lifecycle: str | None = None,
    serial_tracked: bool | None = None,
) -> int:
    """How many SKUs ``list_skus`` would page through with the same filters."""
    return repo.count(session, _sku_stmt(session, q, category_code, brand_code, lifecycle, serial_tracked))


def sku_codes_exist(session: Session, codes: Iterable[str]) -> set[str]:
    return set(repo.sku_ids_by_codes(session, codes))


def cast_sku_changes(data: Mapping[str, Any]) -> SkuChanges:
    """A patch body (``model_dump(exclude_unset=True)``) as the changes ``update_sku`` takes."""
    return cast(SkuChanges, dict(data))


def cast_spu_changes(data: Mapping[str, Any]) -> SpuChanges:
    return cast(SpuChanges, dict(data))


# ---------------------------------------------------------------- the search index (customer service)


@dataclass(frozen=True, slots=True)
class SearchIndexRow:
    """One SKU with everything a text matcher needs to recognise it in a customer's message."""

    code: str
    name: str
    name_en: str
    spu_code: str
    spu_name: str
    spu_name_en: str
    brand_name: str
    brand_name_en: str
    category_name: str
    category_name_en: str
    model: str
    lifecycle: str
    sale_attributes: dict[str, Any]
    barcodes: tuple[str, ...]


def search_index_rows(session: Session) -> list[SearchIndexRow]:
    """Every SKU (any lifecycle) with its SPU, brand, category, model parameter and barcodes, in id
    order: two queries, whatever the catalog's size."""
    rows = session.execute(
        select(
            Sku.id,
            Sku.code,
            Sku.name,
            Sku.name_en,
            Spu.code,
            Spu.name,
            Spu.name_en,
            Brand.name,
            Brand.name_en,
            Category.name,
            Category.name_en,
            Spu.parameters,
            Sku.lifecycle,
            Sku.sale_attributes,
        )
        .join(Spu, Spu.id == Sku.spu_id)
        .join(Category, Category.id == Spu.category_id)
        .outerjoin(Brand, Brand.id == Spu.brand_id)
        .order_by(Sku.id)
    ).all()
    barcodes = repo.barcodes_of(session, [r[0] for r in rows])
    out: list[SearchIndexRow] = []
    for (
        sku_id,
        code,
        name,
        name_en,
        spu_code,
        spu_name,
        spu_name_en,
        brand,
        brand_en,
        cat,
        cat_en,
        params,
        life,
        attrs,
    ) in rows:
        model = (params or {}).get("model")
        out.append(
            SearchIndexRow(
                code=code,
                name=name,
                name_en=name_en or "",
                spu_code=spu_code,
                spu_name=spu_name,
                spu_name_en=spu_name_en or "",
                brand_name=brand or "",
                brand_name_en=brand_en or "",
                category_name=cat,
                category_name_en=cat_en or "",
                model=model if isinstance(model, str) else "",
                lifecycle=life,
                sale_attributes=dict(attrs or {}),
                barcodes=tuple(barcodes.get(sku_id, ())),
            )
        )
    return out


def catalog_fingerprint(session: Session) -> tuple[object, ...]:
    """Changes whenever a SKU, SPU, barcode, brand or attribute definition is added, changed or
    removed (counts and newest update times), in one query: what a cache of
    ``search_index_rows`` keys on."""
    from sqlalchemy import func

    from zhongtai.catalog.models import SkuBarcode

    row = session.execute(
        select(
            select(func.count(Sku.id)).scalar_subquery(),
            select(func.max(Sku.updated_at)).scalar_subquery(),
            select(func.count(Spu.id)).scalar_subquery(),
            select(func.max(Spu.updated_at)).scalar_subquery(),
            select(func.count()).select_from(SkuBarcode).scalar_subquery(),
            select(func.count(AttributeDef.id)).scalar_subquery(),
            select(func.count(Brand.id)).scalar_subquery(),
        )
    ).one()
    return tuple(row)


# ---------------------------------------------------------------- analytics export (read-only)


def export_skus(session: Session) -> pl.DataFrame:
    """Every SKU as the lake's ``skus`` table. ``category_path`` is the category's stored path of
    ids, "/<root id>/.../<own id>/", so "under category 7" is ``LIKE '%/7/%'``."""
    schema: dict[str, Any] = {
        "sku_id": pl.Int32,
        "code": pl.Utf8,
        "name": pl.Utf8,
        "name_en": pl.Utf8,
        "spu_id": pl.Int32,
        "category_id": pl.Int32,
        "category_path": pl.Utf8,
        "brand": pl.Utf8,
        "list_price_fen": pl.Int64,
        "sale_price_fen": pl.Int64,
        "unit_cost_fen": pl.Int64,
        "lifecycle": pl.Utf8,
        "created_at": pl.Datetime("us", "UTC"),
    }
    return pl.DataFrame(repo.sku_export_rows(session), schema=schema, orient="row")


def export_categories(session: Session) -> pl.DataFrame:
    """Every category as the lake's ``categories`` table."""
    schema: dict[str, Any] = {
        "category_id": pl.Int32,
        "parent_id": pl.Int32,
        "code": pl.Utf8,
        "name": pl.Utf8,
        "name_en": pl.Utf8,
        "path": pl.Utf8,
        "depth": pl.Int32,
    }
    return pl.DataFrame(repo.category_export_rows(session), schema=schema, orient="row")
