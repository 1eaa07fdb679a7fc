"""Reading a stock-count file (CSV or XLSX): one row per location × SKU with the counted units.

Pure parsing, no database: the job resolves codes and applies the rows. Headers are matched
case-insensitively and accept the Chinese names people type in Excel; CSV may be UTF-8 (with or
without BOM, as Excel writes it) or GB18030 (what Excel writes on a Chinese Windows).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from zhongtai.inventory.schemas import CountRowError

MAX_ROWS = 200_000
HEADER_ALIASES = {
    "location_code": {"location_code", "location", "库位编码", "门店编码", "仓库编码", "地点编码"},
    "sku_code": {"sku_code", "sku", "sku编码", "商品编码"},
    "counted": {"counted", "count", "quantity", "盘点数量", "实盘数量", "数量"},
}


@dataclass(frozen=True, slots=True)
class ParsedRow:
    row: int  # 1-based line of the file, the header being row 1
    location_code: str
    sku_code: str
    counted: int


@dataclass(slots=True)
class ParsedFile:
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[CountRowError] = field(default_factory=list)


class UnreadableFile(ValueError):
    pass


def _header_map(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, raw in enumerate(header):
        name = str(raw or "").strip().lower()
        for key, aliases in HEADER_ALIASES.items():
            if name in aliases and key not in found:
                found[key] = i
    missing = [k for k in HEADER_ALIASES if k not in found]
    if missing:
        raise UnreadableFile(f"missing column(s): {', '.join(missing)} (header: location_code, sku_code, counted)")
    return found


def _table_rows(name: str, data: bytes) -> list[list[str]]:
    if name.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a damaged file
            raise UnreadableFile(f"not a readable XLSX file: {exc}") from exc
        ws = wb.worksheets[0]
        out = [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
        wb.close()
        return out
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnreadableFile("CSV must be UTF-8 or GB18030 text")
    return [list(r) for r in csv.reader(io.StringIO(text))]


def _as_int(value: str) -> int | None:
    text = value.strip().replace(",", "")
    if text.endswith(".0"):  # Excel numbers come back as "12.0"
        text = text[:-2]
    try:
        return int(text)
    except ValueError:
        return None


def parse_count_file(name: str, data: bytes) -> ParsedFile:
    """Rows and per-row errors; raises ``UnreadableFile`` when the file itself is unusable."""
    table = _table_rows(name, data)
    while table and not any(c.strip() for c in table[-1]):
        table.pop()
    if not table:
        raise UnreadableFile("the file is empty")
    cols = _header_map(table[0])
    if len(table) - 1 > MAX_ROWS:
        raise UnreadableFile(f"at most {MAX_ROWS} rows per file")
    out = ParsedFile()
    for n, raw in enumerate(table[1:], start=2):
        if not any(c.strip() for c in raw):
            continue
        cells = {k: (raw[i].strip() if i < len(raw) else "") for k, i in cols.items()}
        bad = False
        for key in ("location_code", "sku_code"):
            if not cells[key]:
                out.errors.append(CountRowError(row=n, field=key, code="required", message=f"{key} is empty"))
                bad = True
        counted = _as_int(cells["counted"])
        if counted is None:
            out.errors.append(
                CountRowError(
                    row=n, field="counted", code="not_an_integer", message=f"{cells['counted']!r} is not a whole number"
                )
            )
            bad = True
        elif counted < 0:
            out.errors.append(CountRowError(row=n, field="counted", code="negative", message="a count is 0 or more"))
            bad = True
        if not bad and counted is not None:
            out.rows.append(ParsedRow(n, cells["location_code"], cells["sku_code"], counted))
    return out
