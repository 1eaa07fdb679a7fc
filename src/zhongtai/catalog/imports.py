"""Bulk import of the catalog's row format (one row per SKU; see docs/catalog-import.md).

Rows upsert by ``sku_code`` (their SPU by ``spu_code``) through the same verbs as the API, so
every change is validated and audited the same way. Each row is all-or-nothing: it runs inside a
SAVEPOINT that is rolled back when any of its cells is wrong, and the problems are reported with
the row number and column. Accessory and related links are set in a second pass, once every row
has been written, so that a row may point at a SKU further down the file (and two SKUs at each
other).

Cell rules: a column missing from the file leaves that field as it is; an empty cell clears an
optional field (no brand, no barcodes, parameter removed, channel price removed, unit cost 0,
currency CNY) and is an error in a required one (names, category, list and sale price). An empty
``lifecycle`` leaves the lifecycle as it is (a new SKU starts as draft).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from zhongtai.auth.principal import Principal
from zhongtai.catalog import repository as repo
from zhongtai.catalog import service
from zhongtai.catalog.attributes import AttrSpec, parse_cell
from zhongtai.catalog.lifecycle import LIFECYCLES
from zhongtai.catalog.spreadsheet import EXTRA_CELLS
from zhongtai.errors import DomainError, FieldProblem
from zhongtai.money import Money

# The order in which export writes them; param:, attr: and price: columns go before the links.
SPU_COLUMNS = ("spu_code", "spu_name", "category_code", "brand_code")
SKU_COLUMNS = (
    "sku_code",
    "sku_name",
    "list_price",
    "sale_price",
    "unit_cost",
    "currency",
    "barcodes",
    "serial_tracked",
    "lifecycle",
    "selling_points",
    "tags",
)
LINK_COLUMNS = ("accessories", "related")
EXTRA_COLUMNS = ("spu_name_en", "sku_name_en", "description", "spu_tags", "weight_g")
FIXED_COLUMNS = SPU_COLUMNS + SKU_COLUMNS
KNOWN_COLUMNS = frozenset(FIXED_COLUMNS + LINK_COLUMNS + EXTRA_COLUMNS)
PREFIXES = ("param:", "attr:", "price:")
REQUIRED_COLUMNS = ("spu_code", "sku_code")
MAX_STORED_ERRORS = 1000

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "是", "真"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "否", "假", ""})
LIFECYCLE_WORDS = {"草稿": "draft", "在售": "on_sale", "上架": "on_sale", "下架": "off_sale", "停售": "off_sale"}

_SPU_FIELD_COLUMNS = {
    "code": "spu_code",
    "name": "spu_name",
    "name_en": "spu_name_en",
    "category_code": "category_code",
    "brand_code": "brand_code",
    "description": "description",
    "selling_points": "selling_points",
    "tags": "spu_tags",
    "parameters": "param:",
}
_SKU_FIELD_COLUMNS = {
    "code": "sku_code",
    "spu_code": "spu_code",
    "name": "sku_name",
    "name_en": "sku_name_en",
    "list_price_fen": "list_price",
    "sale_price_fen": "sale_price",
    "unit_cost_fen": "unit_cost",
    "currency": "currency",
    "serial_tracked": "serial_tracked",
    "tags": "tags",
    "weight_g": "weight_g",
    "barcodes": "barcodes",
    "accessories": "accessories",
    "related": "related",
    "lifecycle": "lifecycle",
    "sale_attributes": "attr:",
    "channel_prices": "price:",
}


@dataclass(frozen=True, slots=True)
class ImportProblem:
    row: int
    column: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed_rows: set[int] = field(default_factory=set)
    errors: list[ImportProblem] = field(default_factory=list)
    error_count: int = 0

    @property
    def failed(self) -> int:
        return len(self.failed_rows)

    @property
    def written(self) -> int:
        return self.rows - self.failed

    def add(self, problem: ImportProblem) -> None:
        self.failed_rows.add(problem.row)
        self.error_count += 1
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append(problem)

    def as_result(self) -> dict[str, Any]:
        """The job's result: exact counts, at most 1000 problems (``error_count`` has them all)."""
        return {
            "rows": self.rows,
            "written": self.written,
            "failed": self.failed,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "error_count": self.error_count,
            "errors_truncated": self.error_count > len(self.errors),
            "errors": [e.as_dict() for e in sorted(self.errors, key=lambda e: (e.row, e.column))],
        }


# ---------------------------------------------------------------- cells


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split("|") if part.strip()]


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{text!r} is not true/false/是/否")


def parse_fen(text: str) -> int:
    """Yuan with at most two decimals ('5999', '5,999.00', '¥12.5') to fen."""
    try:
        return Money.parse_yuan(text).amount_minor
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"{text!r} is not an amount in yuan with at most two decimals") from exc


def parse_lifecycle(text: str) -> str:
    word = text.strip()
    word = LIFECYCLE_WORDS.get(word, word.lower())
    if word not in LIFECYCLES:
        raise ValueError(f"{text!r} is not one of {', '.join(LIFECYCLES)}")
    return word


def column_for(field_path: str, mapping: Mapping[str, str]) -> str:
    """'body.parameters.screen_size' -> 'param:screen_size', 'body.barcodes.1' -> 'barcodes'."""
    parts = field_path.split(".")
    if parts and parts[0] == "body":
        parts = parts[1:]
    if not parts:
        return ""
    column = mapping.get(parts[0], parts[0])
    if column.endswith(":"):
        return column + parts[1] if len(parts) > 1 else column.rstrip(":")
    return column


@dataclass
class ParsedRow:
    spu_code: str
    sku_code: str
    spu: dict[str, Any]
    sku: dict[str, Any]
    # {column: value or None to remove}
    parameters: dict[str, Any]
    sale_attributes: dict[str, Any]
    channel_prices: dict[str, int | None]
    links: dict[str, list[str]]
    problems: list[tuple[str, str, str]]


def parse_row(row: Mapping[str, str | None], specs: Mapping[str, AttrSpec]) -> ParsedRow:
    """A row's cells as typed SPU and SKU fields, and every problem with a cell on its own."""
    problems: list[tuple[str, str, str]] = []
    cells = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
    spu: dict[str, Any] = {}
    sku: dict[str, Any] = {}
    parsed = ParsedRow(
        spu_code=cells.get("spu_code", ""),
        sku_code=cells.get("sku_code", ""),
        spu=spu,
        sku=sku,
        parameters={},
        sale_attributes={},
        channel_prices={},
        links={},
        problems=problems,
    )
    for column in REQUIRED_COLUMNS:
        if not cells.get(column):
            problems.append((column, "required", f"{column} is required"))

    def convert(column: str, target: dict[str, Any], key: str, fn: Callable[[str], Any]) -> None:
        if column in cells:
            try:
                target[key] = fn(cells[column])
            except ValueError as exc:
                problems.append((column, "invalid_value", str(exc)))

    for column, value in cells.items():
        if column in KNOWN_COLUMNS or (column == EXTRA_CELLS and not value):
            continue
        prefix, _, code = column.partition(":")
        if column == EXTRA_CELLS:
            problems.append((column, "extra_cells", "the row has more cells than the header has columns"))
        elif f"{prefix}:" not in PREFIXES or not code:
            problems.append((column, "unknown_column", f"unknown column {column!r}"))
        elif prefix == "param":
            parsed.parameters[code] = parse_cell(specs[code], value) if value and code in specs else (value or None)
        elif prefix == "attr":
            parsed.sale_attributes[code] = (
                parse_cell(specs[code], value) if value and code in specs else (value or None)
            )
        else:
            try:
                parsed.channel_prices[code] = parse_fen(value) if value else None
            except ValueError as exc:
                problems.append((column, "invalid_amount", str(exc)))

    for column, key in (
        ("spu_name", "name"),
        ("spu_name_en", "name_en"),
        ("category_code", "category_code"),
        ("description", "description"),
    ):
        convert(column, spu, key, str)
    convert("brand_code", spu, "brand_code", lambda v: v or None)
    convert("selling_points", spu, "selling_points", split_list)
    convert("spu_tags", spu, "tags", split_list)

    for column, key in (("sku_name", "name"), ("sku_name_en", "name_en")):
        convert(column, sku, key, str)
    for column in ("list_price", "sale_price"):
        if column in cells and not cells[column]:
            problems.append((column, "required", f"{column} is required"))
        else:
            convert(column, sku, f"{column}_fen", parse_fen)
    convert("unit_cost", sku, "unit_cost_fen", lambda v: parse_fen(v) if v else 0)
    convert("currency", sku, "currency", lambda v: v.upper() or "CNY")
    convert("barcodes", sku, "barcodes", split_list)
    convert("serial_tracked", sku, "serial_tracked", parse_bool)
    convert("tags", sku, "tags", split_list)
    convert("weight_g", sku, "weight_g", _parse_weight)
    if cells.get("lifecycle"):
        convert("lifecycle", sku, "lifecycle", parse_lifecycle)
    for column in LINK_COLUMNS:
        if column in cells:
            parsed.links[column] = split_list(cells[column])
    return parsed


def _parse_weight(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a whole number of grams")
    return int(text)


def _merge(current: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for code, value in updates.items():
        if value is None:
            merged.pop(code, None)
        else:
            merged[code] = value
    return merged


# ---------------------------------------------------------------- the importer


class CatalogImporter:
    """Runs an import in as many transactions as the caller likes.

    ``apply_rows(session, start, stop)`` writes rows (first pass); ``apply_links`` sets links
    (second pass). ``import_rows`` runs both in one session; the job commits every few hundred
    rows so that a large file neither holds locks for long nor loses everything on a crash.
    """

    def __init__(
        self, actor: Principal, rows: Sequence[Mapping[str, str | None]], row_numbers: Sequence[int] | None = None
    ) -> None:
        self.actor = actor
        self.rows = rows
        self.row_numbers = list(row_numbers) if row_numbers is not None else [i + 2 for i in range(len(rows))]
        self.report = ImportReport(rows=len(rows))
        self.specs: dict[str, AttrSpec] = {}
        self.file_sku_codes: set[str] = set()
        self._seen: dict[str, int] = {}
        # What the first pass did with each written row: created | updated | unchanged.
        self._outcome: dict[int, str] = {}
        # (row number, sku code, {column: codes}) of written rows that carry link columns.
        self.pending_links: list[tuple[int, str, dict[str, list[str]]]] = []

    def prepare(self, session: Session) -> None:
        self.specs = service.attribute_specs(session)
        self.file_sku_codes = {(r.get("sku_code") or "").strip() for r in self.rows} - {""}

    def _fail(self, number: int, problems: Iterable[tuple[str, str, str]]) -> None:
        for column, code, message in problems:
            self.report.add(ImportProblem(number, column, code, message))

    def apply_rows(self, session: Session, start: int, stop: int) -> None:
        for index in range(start, min(stop, len(self.rows))):
            self._apply_row(session, self.row_numbers[index], self.rows[index])

    def _apply_row(self, session: Session, number: int, row: Mapping[str, str | None]) -> None:
        parsed = parse_row(row, self.specs)
        problems = list(parsed.problems)
        if parsed.sku_code:
            first = self._seen.setdefault(parsed.sku_code, number)
            if first != number:
                problems.append(("sku_code", "duplicate_row", f"SKU {parsed.sku_code} is already in row {first}"))
        forward = False  # a link to a SKU that only a later row creates
        for column, codes in parsed.links.items():
            known = service.sku_codes_exist(session, codes)
            missing = [c for c in codes if c not in known and c not in self.file_sku_codes]
            if missing:
                problems.append((column, "unknown_sku", f"no SKU {', '.join(missing)} in the catalog or the file"))
            forward = forward or any(c not in known for c in codes)
        if not forward:
            # Every linked SKU exists already: the links are written with the rest of the row.
            parsed.sku.update(parsed.links)
            parsed.links = {}
        if not parsed.spu_code or not parsed.sku_code:
            self._fail(number, problems)
            return
        # The row is tried even when a cell is already known to be bad, so that the report lists
        # every problem of the row at once; the savepoint then undoes whatever it wrote.
        savepoint = session.begin_nested()
        spu_changed: list[str] = []
        sku_changed: list[str] = []
        found: list[tuple[str, str, str]] = []
        try:
            created = self._upsert(session, parsed, spu_changed, sku_changed, found)
        except Exception:
            savepoint.rollback()
            raise
        # A cell that could not be read was left out of the write; what the service then says
        # about its column is a consequence, not a second problem.
        unreadable = {column for column, _code, _message in problems}
        for problem in found:
            if problem[0] not in unreadable and problem not in problems:
                problems.append(problem)
        if problems:
            savepoint.rollback()
            self._fail(number, problems)
            return
        savepoint.commit()
        outcome = "created" if created else "updated" if spu_changed or sku_changed else "unchanged"
        self._count(number, outcome)
        if parsed.links:
            self.pending_links.append((number, parsed.sku_code, parsed.links))

    def _count(self, number: int, outcome: str | None) -> None:
        before = self._outcome.pop(number, None)
        if before is not None:
            setattr(self.report, before, getattr(self.report, before) - 1)
        if outcome is not None:
            self._outcome[number] = outcome
            setattr(self.report, outcome, getattr(self.report, outcome) + 1)

    def _upsert(
        self,
        session: Session,
        parsed: ParsedRow,
        spu_changed: list[str],
        sku_changed: list[str],
        problems: list[tuple[str, str, str]],
    ) -> bool:
        """Writes the row's SPU then SKU; fills ``problems`` instead of raising. True if the SKU is new."""
        spu = repo.spu_by_code(session, parsed.spu_code)
        spu_ok = True
        try:
            if spu is None:
                service.create_spu(
                    session,
                    self.actor,
                    code=parsed.spu_code,
                    name=parsed.spu.get("name", ""),
                    category_code=parsed.spu.get("category_code", ""),
                    brand_code=parsed.spu.get("brand_code"),
                    name_en=parsed.spu.get("name_en", ""),
                    description=parsed.spu.get("description", ""),
                    selling_points=parsed.spu.get("selling_points", []),
                    tags=parsed.spu.get("tags", []),
                    parameters=_merge({}, parsed.parameters),
                    specs=self.specs,
                )
                spu_changed.append("created")
            else:
                changes = dict(parsed.spu)
                if parsed.parameters:
                    changes["parameters"] = _merge(spu.parameters, parsed.parameters)
                service.update_spu(
                    session,
                    self.actor,
                    parsed.spu_code,
                    service.cast_spu_changes(changes),
                    specs=self.specs,
                    changed_out=spu_changed,
                )
        except DomainError as exc:
            spu_ok = False
            problems.extend(_problems_of(exc, _SPU_FIELD_COLUMNS))

        sku = repo.sku_by_code(session, parsed.sku_code)
        if sku is None:
            fields: dict[str, Any] = {"name": ""} | parsed.sku
            for column, key in (("list_price", "list_price_fen"), ("sale_price", "sale_price_fen")):
                if key not in parsed.sku:
                    problems.append((column, "required", f"{column} is required for a new SKU"))
            # Stand-ins for missing prices that raise no problem of their own.
            fields.setdefault("sale_price_fen", 0)
            fields.setdefault("list_price_fen", fields["sale_price_fen"])
            fields["sale_attributes"] = _merge({}, parsed.sale_attributes)
            fields["channel_prices"] = {c: p for c, p in parsed.channel_prices.items() if p is not None}
        if not spu_ok and repo.spu_by_code(session, parsed.spu_code) is None:
            if sku is None:  # check the SKU's own cells against a stand-in SPU
                found = service.new_sku_problems(
                    session, spu_code=parsed.spu_code, code=parsed.sku_code, specs=self.specs, **fields
                )
                problems.extend((column_for(p.field, _SKU_FIELD_COLUMNS), p.code, p.message) for p in found)
            return sku is None
        try:
            if sku is None:
                service.create_sku(
                    session, self.actor, spu_code=parsed.spu_code, code=parsed.sku_code, specs=self.specs, **fields
                )
                return True
            changes = dict(parsed.sku)
            changes["spu_code"] = parsed.spu_code
            if parsed.sale_attributes:
                changes["sale_attributes"] = _merge(sku.sale_attributes, parsed.sale_attributes)
            if parsed.channel_prices:
                current = repo.channel_prices_of(session, [sku.id])[sku.id]
                changes["channel_prices"] = _merge({c: p for c, (p, _cur) in current.items()}, parsed.channel_prices)
            service.update_sku(
                session,
                self.actor,
                parsed.sku_code,
                service.cast_sku_changes(changes),
                specs=self.specs,
                changed_out=sku_changed,
            )
        except DomainError as exc:
            problems.extend(_problems_of(exc, _SKU_FIELD_COLUMNS))
        return sku is None

    def apply_links(self, session: Session, start: int, stop: int) -> None:
        for number, sku_code, links in self.pending_links[start:stop]:
            changes = dict(links)
            savepoint = session.begin_nested()
            changed: list[str] = []
            try:
                service.update_sku(
                    session,
                    self.actor,
                    sku_code,
                    service.cast_sku_changes(changes),
                    action="sku.links",
                    specs=self.specs,
                    changed_out=changed,
                )
            except DomainError as exc:
                savepoint.rollback()
                problems = [
                    (column, code, f"{message} (links not set; the row's other cells were imported)")
                    for column, code, message in _problems_of(exc, _SKU_FIELD_COLUMNS)
                ]
                self._count(number, None)
                self._fail(number, problems)
                continue
            savepoint.commit()
            if changed and self._outcome.get(number) == "unchanged":
                self._count(number, "updated")


def _problems_of(exc: DomainError, mapping: Mapping[str, str]) -> list[tuple[str, str, str]]:
    if exc.errors:
        return [(column_for(p.field, mapping), p.code, p.message) for p in exc.errors]
    return [("", exc.code, exc.detail or exc.title)]


def import_rows(
    session: Session,
    actor: Principal,
    rows: Iterable[Mapping[str, str | None]],
    progress: Callable[[int, int], None] | None = None,
    *,
    row_numbers: Sequence[int] | None = None,
) -> ImportReport:
    """Imports rows in the caller's transaction (demo loader, tests, small files).

    Rows are numbered 2, 3, ... (the header is row 1) unless ``row_numbers`` says otherwise.
    Valid rows are written (flushed, not committed), bad rows leave no trace and are reported.
    """
    materialised = list(rows)
    importer = CatalogImporter(actor, materialised, row_numbers)
    importer.prepare(session)
    total = len(materialised)
    for index in range(total):
        importer.apply_rows(session, index, index + 1)
        if progress is not None:
            progress(index + 1, total)
    importer.apply_links(session, 0, len(importer.pending_links))
    return importer.report


def field_problems(report: ImportReport) -> list[FieldProblem]:
    """The report's problems as field problems ('rows.12.sale_price'), for console messages."""
    return [FieldProblem(f"rows.{e.row}.{e.column}", e.code, e.message) for e in report.errors]
