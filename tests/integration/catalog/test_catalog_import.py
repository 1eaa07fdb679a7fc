"""Bulk import and export: row-level all-or-nothing, exact reports, lossless round trips."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.factories import SYSTEM, console_login, key_headers, make_catalog_basics, make_key, make_user
from zhongtai.auth.models import AuditEntry
from zhongtai.catalog import service
from zhongtai.catalog.barcodes import with_check_digit
from zhongtai.catalog.export import export_columns, export_rows
from zhongtai.catalog.imports import import_rows, parse_fen
from zhongtai.catalog.models import Sku, Spu
from zhongtai.catalog.spreadsheet import parse_csv, parse_xlsx
from zhongtai.db import Database
from zhongtai.jobs import run_pending

API = "/api/v1"
COLUMNS = [
    "spu_code",
    "spu_name",
    "category_code",
    "brand_code",
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
    "param:screen_size",
    "attr:color",
    "attr:storage",
    "price:jd",
    "accessories",
    "related",
]
COLORS = ["曜石黑", "冰川白", "远峰蓝"]


def _row(i: int, **overrides: str) -> dict[str, str]:
    spu = i // 6
    row = {
        "spu_code": f"P{spu:04d}",
        "spu_name": f"极客手机 {spu}",
        "category_code": "phones",
        "brand_code": "acme",
        "sku_code": f"S{i:05d}",
        "sku_name": f"极客手机 {spu} {COLORS[i % 3]} {['128GB', '256GB'][i // 3 % 2]}",
        "list_price": "4999",
        "sale_price": "4599.50",
        "unit_cost": "3200",
        "currency": "CNY",
        "barcodes": with_check_digit(f"690{i:09d}"),
        "serial_tracked": "是" if i % 2 else "否",
        "lifecycle": "on_sale",
        "selling_points": "长续航|快充",
        "tags": "新品",
        "param:screen_size": "6.1",
        "attr:color": COLORS[i % 3],
        "attr:storage": ["128GB", "256GB"][i // 3 % 2],
        "price:jd": "4499",
        "accessories": "",
        "related": "",
    }
    row.update(overrides)
    return row


def _csv(rows: list[dict[str, str]], columns: list[str] = COLUMNS, encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def _upload(client: TestClient, h: dict[str, str], data: bytes, name: str) -> int:
    resp = client.post(f"{API}/catalog/imports", files={"file": (name, data)}, headers=h)
    assert resp.status_code == 202, resp.text
    return int(resp.json()["job_id"])


def _run(client: TestClient, db: Database, h: dict[str, str], job_id: int) -> dict[str, Any]:
    assert run_pending(db) == 1
    job = client.get(f"{API}/jobs/{job_id}", headers=h).json()
    assert job["status"] == "succeeded", job
    assert job["progress"] == job["total"]
    result: dict[str, Any] = job["result"]
    return result


def _count(db: Database, model: Any) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_a_thousand_rows_with_three_bad_ones(client: TestClient, db: Database) -> None:
    # given 1,000 rows of which exactly three are wrong: a price with three decimals, a colour
    # that is not an option, and a barcode that row 2 already uses
    make_catalog_basics(db)
    h = key_headers(make_key(db, role="ops"))
    rows = [_row(i) for i in range(1000)]
    rows[100] = _row(100, sale_price="4599.555")
    rows[500] = _row(500, **{"attr:color": "土豪金"})
    rows[900] = _row(900, barcodes=rows[0]["barcodes"])
    # when the file is uploaded and the job runs
    result = _run(client, db, h, _upload(client, h, _csv(rows), "catalog.csv"))
    # then the report names exactly those rows (header is row 1) with column and code
    assert (result["rows"], result["written"], result["failed"]) == (1000, 997, 3)
    assert [(e["row"], e["column"], e["code"]) for e in result["errors"]] == [
        (102, "sale_price", "invalid_value"),
        (502, "attr:color", "not_an_option"),
        (902, "barcodes", "taken"),
    ]
    # and the other 997 rows are in the catalog, nothing of the bad ones
    assert _count(db, Sku) == 997
    with db.transaction(write=False) as s:
        assert service.count_skus(s, q="S00100") == 0
        assert service.count_skus(s, q="S00101") == 1
        assert service.count_skus(s, category_code="3c", serial_tracked=True) == 500  # odd rows; bad ones are even
        detail = service.get_sku_detail(s, "S00001")
        assert detail.lifecycle == "on_sale"
        assert detail.spu_lifecycle == "on_sale"
        assert detail.channel_prices[0].price_fen == 449_900
        assert detail.sale_price_fen == 459_950
        created = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "sku.create"))
        assert created == 997


def test_a_bad_spu_cell_fails_its_row_with_every_problem(db: Database) -> None:
    make_catalog_basics(db)
    rows = [
        _row(0, category_code="nope", sale_price="5999", **{"param:screen_size": "big"}),
        _row(6, spu_name="", lifecycle="draft", list_price=""),
    ]
    with db.transaction() as s:
        report = import_rows(s, SYSTEM, rows)
    assert sorted((e.row, e.column, e.code) for e in report.errors) == [
        (2, "category_code", "unknown_category"),
        (2, "param:screen_size", "not_a_number"),
        (2, "sale_price", "above_list_price"),
        (3, "list_price", "required"),
        (3, "spu_name", "required"),
    ]
    assert _count(db, Spu) == 0
    assert _count(db, Sku) == 0


def test_links_may_point_down_the_file_and_at_each_other(db: Database) -> None:
    make_catalog_basics(db)
    rows = [
        _row(0, accessories="S00002|S00001", related="S00001"),
        _row(1, related="S00000"),
        _row(2),
        _row(3, accessories="GHOST"),
    ]
    with db.transaction() as s:
        report = import_rows(s, SYSTEM, rows)
    assert [(e.row, e.column, e.code) for e in report.errors] == [(5, "accessories", "unknown_sku")]
    with db.transaction(write=False) as s:
        detail = service.get_sku_detail(s, "S00000")
        assert [a.code for a in detail.accessories] == ["S00002", "S00001"]
        assert [a.code for a in detail.related] == ["S00001"]
        assert [a.code for a in service.get_sku_detail(s, "S00001").related] == ["S00000"]


def test_duplicate_sku_rows_and_unknown_columns_are_reported(db: Database) -> None:
    make_catalog_basics(db)
    rows = [_row(0), _row(0), {**_row(1), "colour": "x"}]
    with db.transaction() as s:
        report = import_rows(s, SYSTEM, rows)
    assert [(e.row, e.column, e.code) for e in report.errors] == [
        (3, "sku_code", "duplicate_row"),
        (4, "colour", "unknown_column"),
    ]
    assert (report.written, report.failed, report.created) == (1, 2, 1)


def _catalog_with_everything(db: Database) -> None:
    make_catalog_basics(db)
    rows = [_row(i) for i in range(12)]
    rows[0] = _row(0, accessories="S00011|S00010", related="S00001", tags="", barcodes="")
    rows[1] = _row(1, lifecycle="off_sale", **{"price:jd": "", "param:screen_size": "6.0"})
    rows[6] = _row(6, lifecycle="draft", selling_points="", **{"param:screen_size": "", "attr:storage": ""})
    rows[7] = _row(7, lifecycle="draft", brand_code="", unit_cost="", sale_price="0.01", barcodes="INT-7|0123456789012")
    with db.transaction() as s:
        report = import_rows(s, SYSTEM, rows)
        assert report.failed == 0, report.errors
        service.update_spu(s, SYSTEM, "P0000", {"description": "第一行\n第二行, 含逗号", "tags": ["爆款"]})
        service.update_sku(s, SYSTEM, "S00002", {"weight_g": 188, "name_en": "Acme Phone"})


def _money_as_fen(row: dict[str, str]) -> dict[str, object]:
    money = {"list_price", "sale_price", "unit_cost"}
    return {k: parse_fen(v) if v and (k in money or k.startswith("price:")) else v for k, v in row.items()}


def _audit_count(db: Database) -> int:
    return _count(db, AuditEntry)


def test_csv_export_then_import_changes_nothing(client: TestClient, db: Database) -> None:
    # given a catalog using every column (links, empty cells, Chinese, a multi-line description)
    _catalog_with_everything(db)
    h = key_headers(make_key(db, role="ops"))
    # when it is exported as CSV and imported again
    exported = client.get(f"{API}/catalog/export", params={"format": "csv"}, headers=h)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    audit_before = _audit_count(db)
    result = _run(client, db, h, _upload(client, h, exported.content, "export.csv"))
    # then every row is unchanged, nothing was written, and a second export is identical
    assert (result["rows"], result["unchanged"], result["failed"]) == (12, 12, 0), result["errors"]
    assert _audit_count(db) == audit_before + 1  # only the job.enqueue entry
    again = client.get(f"{API}/catalog/export", params={"format": "csv"}, headers=h)
    assert again.content == exported.content


def test_export_imported_into_an_empty_catalog_reproduces_it(
    client: TestClient, db: Database, tmp_path: Path, sqlite_template: Path
) -> None:
    # given an exported catalog
    _catalog_with_everything(db)
    h = key_headers(make_key(db, role="ops"))
    exported = client.get(f"{API}/catalog/export", headers=h).content
    # when it is imported into a fresh database that has only the reference data
    shutil.copy(sqlite_template, tmp_path / "fresh.db")
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        make_catalog_basics(fresh)
        parsed = parse_csv(exported)
        with fresh.transaction() as s:
            report = import_rows(s, SYSTEM, parsed.rows, row_numbers=parsed.row_numbers)
        assert report.failed == 0, report.errors
        # then the fresh catalog exports to the same rows
        with fresh.transaction(write=False) as s:
            assert export_columns(s) == parsed.columns
            reproduced = list(export_rows(s))
            mismatches = [
                (x["sku_code"], k, x.get(k, ""), y[k])
                for x, y in zip(reproduced, parsed.rows, strict=True)
                for k in y
                if x.get(k, "") != y[k]
            ]
            assert mismatches == []
            assert service.get_sku_detail(s, "S00001").lifecycle == "off_sale"
            assert service.get_sku_detail(s, "S00002").weight_g == 188
    finally:
        fresh.dispose()


def test_xlsx_round_trip_and_an_edited_cell(client: TestClient, db: Database) -> None:
    # given a catalog exported as XLSX
    _catalog_with_everything(db)
    h = key_headers(make_key(db, role="ops"))
    resp = client.get(f"{API}/catalog/export", params={"format": "xlsx"}, headers=h)
    assert resp.status_code == 200
    assert resp.content.startswith(b"PK")
    csv_rows = parse_csv(client.get(f"{API}/catalog/export", headers=h).content).rows
    # then it holds the same rows as the CSV export (amounts are numbers in Excel: 4599.5 is 4599.50)
    assert [_money_as_fen(r) for r in parse_xlsx(resp.content).rows] == [_money_as_fen(r) for r in csv_rows]
    # when it is imported unchanged, nothing changes
    result = _run(client, db, h, _upload(client, h, resp.content, "catalog.xlsx"))
    assert (result["unchanged"], result["failed"]) == (12, 0), result["errors"]
    # when one sale price is edited in Excel and the workbook is imported
    workbook = load_workbook(io.BytesIO(resp.content))
    sheet = workbook.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    sheet.cell(row=4, column=header.index("sale_price") + 1, value=3999.9)
    edited = io.BytesIO()
    workbook.save(edited)
    result = _run(client, db, h, _upload(client, h, edited.getvalue(), "edited.xlsx"))
    # then exactly that SKU changed
    assert (result["updated"], result["unchanged"], result["failed"]) == (1, 11, 0)
    with db.transaction(write=False) as s:
        assert service.get_sku_detail(s, "S00002").sale_price_fen == 399_990


def test_gbk_csv_from_chinese_excel_imports(client: TestClient, db: Database) -> None:
    make_catalog_basics(db)
    h = key_headers(make_key(db, role="ops"))
    data = _csv([_row(0), _row(1)], encoding="gbk")
    result = _run(client, db, h, _upload(client, h, data, "商品.csv"))
    assert (result["written"], result["failed"]) == (2, 0), result["errors"]
    with db.transaction(write=False) as s:
        assert service.get_sku_detail(s, "S00000").name == "极客手机 0 曜石黑 128GB"


def test_upload_checks_and_unreadable_files(client: TestClient, db: Database) -> None:
    h = key_headers(make_key(db, role="ops"))
    bad_type = client.post(f"{API}/catalog/imports", files={"file": ("x.txt", b"a")}, headers=h)
    assert bad_type.status_code == 422
    assert bad_type.json()["errors"][0]["code"] == "unsupported_format"
    fake_xlsx = client.post(f"{API}/catalog/imports", files={"file": ("x.xlsx", b"not a zip")}, headers=h)
    assert fake_xlsx.status_code == 422
    reader = key_headers(make_key(db, role="integrator"))
    assert client.post(f"{API}/catalog/imports", files={"file": ("x.csv", b"a")}, headers=reader).status_code == 403
    # a file whose header repeats a column fails the job with the reason
    job_id = _upload(client, h, b"sku_code,sku_code\r\nA,B\r\n", "dup.csv")
    run_pending(db)
    job = client.get(f"{API}/jobs/{job_id}", headers=h).json()
    assert job["status"] == "failed"
    assert "1 problem" in job["error"] or "invalid" in job["error"]


def test_import_runs_as_the_user_who_uploaded_it(client: TestClient, db: Database) -> None:
    make_catalog_basics(db)
    make_user(db, "planner", "ops")
    headers = console_login(client, "planner")
    resp = client.post(f"{API}/catalog/imports", files={"file": ("c.csv", _csv([_row(0)]))}, headers=headers)
    assert resp.status_code == 202, resp.text
    run_pending(db)
    with db.transaction(write=False) as s:
        actor = s.execute(
            select(AuditEntry.actor_type, AuditEntry.actor_name).where(AuditEntry.action == "sku.create")
        ).one()
    assert tuple(actor) == ("user", "planner")


def test_the_documented_example_imports_cleanly(db: Database) -> None:
    # given the CSV example of docs/catalog-import.md
    doc = (Path(__file__).parents[3] / "docs" / "catalog-import.md").read_text(encoding="utf-8")
    example = doc.split("```csv\n", 1)[1].split("```", 1)[0]
    make_catalog_basics(db)
    # when it is imported
    parsed = parse_csv(example.encode())
    with db.transaction() as s:
        report = import_rows(s, SYSTEM, parsed.rows, row_numbers=parsed.row_numbers)
    # then it does what the document says
    assert report.errors == []
    assert (report.created, report.failed) == (3, 0)
    with db.transaction(write=False) as s:
        black = service.get_sku_detail(s, "X1-BLK-128")
        assert black.spu_lifecycle == "on_sale"
        assert [a.code for a in black.accessories] == ["CASE-X1"]
        assert [r.code for r in black.related] == ["X1-WHT-128"]
        assert black.channel_prices[0].price_fen == 449_900
