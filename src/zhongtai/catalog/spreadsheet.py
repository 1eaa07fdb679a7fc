"""Reading and writing the catalog's row format as CSV or XLSX. No database here.

CSV is read as UTF-8 (with or without a BOM), UTF-16 with a BOM, or else GB18030 (a superset of
GBK, which Chinese Excel writes by default); comma- or tab-separated. CSV is written as UTF-8 with
a BOM so that Excel opens it with the Chinese intact. Rows are numbered as a spreadsheet shows
them: the header is row 1, so the first product is row 2; blank rows are skipped but counted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO

from zhongtai.errors import invalid

MAX_ROWS = 100_000
EXTRA_CELLS = "(cells beyond the header)"


@dataclass
class ParsedFile:
    columns: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)


def file_format(filename: str) -> str:
    """'csv' or 'xlsx' from a file name; anything else is a ``ValidationFailed``."""
    lowered = filename.lower()
    for fmt in ("csv", "xlsx"):
        if lowered.endswith(f".{fmt}"):
            return fmt
    raise invalid(("body.file", "unsupported_format", "upload a .csv or .xlsx file"))


def parse_file(data: bytes, filename: str) -> ParsedFile:
    return parse_xlsx(data) if file_format(filename) == "xlsx" else parse_csv(data)


def decode_csv(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise invalid(("body.file", "unreadable_file", "the CSV is neither UTF-8 nor GBK text")) from exc


def parse_csv(data: bytes) -> ParsedFile:
    text = decode_csv(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _table(reader)
    except csv.Error as exc:
        raise invalid(("body.file", "unreadable_file", f"not a valid CSV file: {exc}")) from exc


def parse_xlsx(data: bytes) -> ParsedFile:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors on bad files
        raise invalid(("body.file", "unreadable_file", "not a valid .xlsx workbook")) from exc
    try:
        sheet = workbook.worksheets[0]
        return _table([_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True))
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Excel keeps every number as a float: 5999.0 is the integer a user typed.
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _table(lines: Iterable[Sequence[str]]) -> ParsedFile:
    iterator = iter(lines)
    header: list[str] | None = None
    for line in iterator:
        if any(cell.strip() for cell in line):
            header = [cell.strip().lstrip("\ufeff") for cell in line]
            break
    if header is None:
        raise invalid(("body.file", "empty_file", "the file has no header row"))
    while header and not header[-1]:
        header.pop()
    problems = [
        ("body.file", "duplicate_column", f"column {name!r} appears twice")
        for name in sorted({h for h in header if h and header.count(h) > 1})
    ]
    if any(not h for h in header):
        problems.append(("body.file", "unnamed_column", "a column between others has no name"))
    if problems:
        raise invalid(*problems)
    parsed = ParsedFile(columns=header)
    number = 1
    for line in iterator:
        number += 1
        cells = [c.strip() for c in line]
        if not any(cells):
            continue
        if len(parsed.rows) >= MAX_ROWS:
            raise invalid(("body.file", "too_many_rows", f"at most {MAX_ROWS} rows per file"))
        row = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)}
        extra = [c for c in cells[len(header) :] if c]
        if extra:
            row[EXTRA_CELLS] = "|".join(extra)
        parsed.rows.append(row)
        parsed.row_numbers.append(number)
    return parsed


# ---------------------------------------------------------------- writing


def csv_chunks(columns: Sequence[str], rows: Iterable[dict[str, str]], *, rows_per_chunk: int = 200) -> Iterator[bytes]:
    """UTF-8 with a BOM, CRLF line ends (what Excel writes), yielded a few hundred rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    yield b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for i, row in enumerate(rows, start=1):
        writer.writerow([row.get(c, "") for c in columns])
        if i % rows_per_chunk == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


MONEY_COLUMNS = frozenset({"list_price", "sale_price", "unit_cost"})


def write_xlsx(columns: Sequence[str], rows: Iterable[dict[str, str]], out: IO[bytes]) -> None:
    """One sheet; money as numbers with two decimals, everything else as text (barcodes keep
    their leading zeros and never turn into 6.9E+12)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("catalog")
    sheet.freeze_panes = "A2"
    sheet.append(list(columns))
    for row in rows:
        cells: list[object] = []
        for column in columns:
            value = row.get(column, "")
            if value and (column in MONEY_COLUMNS or column.startswith("price:")):
                # A float reads back as the same shortest repr, so '12.35' stays 12.35.
                cell = WriteOnlyCell(sheet, value=float(Decimal(value)))
                cell.number_format = "0.00"
            else:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "@"
            cells.append(cell)
        sheet.append(cells)
    workbook.save(out)
