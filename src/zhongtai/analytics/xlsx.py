"""Dashboards to XLSX: one sheet per table, a header row, numbers as numbers.

Money is exported in yuan with two decimals (the fen integers divided by 100 once, here); rates
as percentages; everything else as it is. The first sheet says which filters produced the file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from fastapi.responses import Response

Kind = Literal["text", "int", "money", "rate", "number", "date"]
Cell = str | int | float | date | datetime | None


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind = "text"


@dataclass
class Sheet:
    title: str  # at most 31 characters, no []:*?/\ (Excel's rules)
    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]] = field(default_factory=list)


FORMATS: dict[Kind, str] = {
    "text": "@",
    "int": "#,##0",
    "money": "#,##0.00",
    "rate": "0.0%",
    "number": "#,##0.00",
    "date": "yyyy-mm-dd",
}


def _value(kind: Kind, value: Cell) -> Cell:
    if value is None:
        return None
    if kind == "money" and isinstance(value, int | float):
        return round(value / 100, 2)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: the caller passes local times
    return value


def workbook(sheets: Sequence[Sheet], *, about: Sequence[tuple[str, str]] = ()) -> bytes:
    """The sheets as an .xlsx file; ``about`` (label, value) pairs go on a first sheet."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    bold = Font(bold=True)
    if about:
        info = book.create_sheet("filters")
        for label, value in about:
            info.append([label, value])
    for spec in sheets:
        sheet = book.create_sheet(spec.title[:31])
        sheet.freeze_panes = "A2"
        header: list[Any] = []
        for col in spec.columns:
            head = WriteOnlyCell(sheet, value=col.header)
            head.font = bold
            header.append(head)
        sheet.append(header)
        for row in spec.rows:
            cells: list[Any] = []
            for col, raw in zip(spec.columns, row, strict=True):
                cell = WriteOnlyCell(sheet, value=_value(col.kind, raw))  # type: ignore[arg-type]
                cell.number_format = FORMATS[col.kind]
                cells.append(cell)
            sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def dated_filename(name: str, start: date, end: date) -> str:
    """``sales-2026-11-01-2026-11-30.xlsx``: what the file holds and for which days."""
    return f"{name}-{start.isoformat()}-{end.isoformat()}.xlsx"


def xlsx_response(data: bytes, filename: str) -> Response:
    """A workbook as a download (API and console alike); never cached, it holds business figures."""
    return Response(
        data,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
