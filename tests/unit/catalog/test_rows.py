from __future__ import annotations

import io

import pytest

from zhongtai.catalog.attributes import AttrSpec
from zhongtai.catalog.imports import column_for, parse_bool, parse_fen, parse_row
from zhongtai.catalog.spreadsheet import csv_chunks, parse_csv, parse_file, parse_xlsx, write_xlsx
from zhongtai.errors import ValidationFailed

SPECS = {
    "screen_size": AttrSpec("screen_size", "屏幕尺寸", "number", "spu", unit="英寸"),
    "color": AttrSpec("color", "颜色", "enum", "sku", options=("曜石黑",)),
}


def _row(**cells: str) -> dict[str, str]:
    base = {"spu_code": "P1", "sku_code": "S1"}
    base.update({k.replace("__", ":"): v for k, v in cells.items()})
    return base


@pytest.mark.parametrize(("text", "fen"), [("5999", 599900), ("5,999.00", 599900), ("¥12.5", 1250), ("0.01", 1)])
def test_yuan_cells_become_fen(text: str, fen: int) -> None:
    assert parse_fen(text) == fen


@pytest.mark.parametrize("text", ["12.345", "abc", "NaN", ""])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="yuan"):
        parse_fen(text)


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("是", True), ("FALSE", False), ("否", False), ("", False)]
)
def test_booleans_in_english_and_chinese(text: str, value: bool) -> None:
    assert parse_bool(text) is value


def test_a_row_parses_into_spu_and_sku_fields() -> None:
    # given a row with lists, money, a parameter, a sale attribute and a channel price
    row = _row(
        spu_name="手机",
        list_price="5999",
        sale_price="5,499.50",
        barcodes="6901234567892| INT-1 ",
        serial_tracked="是",
        lifecycle="在售",
        param__screen_size="6.1",
        attr__color="曜石黑",
        price__jd="",
        tags="新品|新品|旗舰",
    )
    # when parsed
    parsed = parse_row(row, SPECS)
    # then every cell has its typed value; an empty price cell means "remove"
    assert parsed.problems == []
    assert parsed.spu == {"name": "手机"}
    assert parsed.sku["list_price_fen"] == 599900
    assert parsed.sku["sale_price_fen"] == 549950
    assert parsed.sku["barcodes"] == ["6901234567892", "INT-1"]
    assert parsed.sku["serial_tracked"] is True
    assert parsed.sku["lifecycle"] == "on_sale"
    assert parsed.sku["tags"] == ["新品", "新品", "旗舰"]  # the service removes duplicates
    assert parsed.parameters == {"screen_size": 6.1}
    assert parsed.sale_attributes == {"color": "曜石黑"}
    assert parsed.channel_prices == {"jd": None}


def test_every_bad_cell_of_a_row_is_reported() -> None:
    row = _row(sku_code="", list_price="12.345", sale_price="", serial_tracked="maybe", lifecycle="sold", colour="x")
    parsed = parse_row(row, SPECS)
    assert {(c, code) for c, code, _ in parsed.problems} == {
        ("sku_code", "required"),
        ("list_price", "invalid_value"),
        ("sale_price", "required"),
        ("serial_tracked", "invalid_value"),
        ("lifecycle", "invalid_value"),
        ("colour", "unknown_column"),
    }


def test_service_fields_map_back_to_columns() -> None:
    mapping = {"parameters": "param:", "list_price_fen": "list_price", "barcodes": "barcodes"}
    assert column_for("body.parameters.screen_size", mapping) == "param:screen_size"
    assert column_for("body.list_price_fen", mapping) == "list_price"
    assert column_for("body.barcodes.2", mapping) == "barcodes"


def test_csv_with_bom_numbers_rows_like_a_spreadsheet() -> None:
    # given a UTF-8 CSV with a BOM, a blank line and a quoted multi-line cell
    data = '\ufeffspu_code,sku_code,description\r\nP1,S1,"两行\n说明"\r\n,,\r\nP1,S2,x\r\n'.encode()
    # when parsed
    parsed = parse_csv(data)
    # then the BOM is gone from the header and the blank row is skipped but counted
    assert parsed.columns == ["spu_code", "sku_code", "description"]
    assert [r["sku_code"] for r in parsed.rows] == ["S1", "S2"]
    assert parsed.row_numbers == [2, 4]
    assert parsed.rows[0]["description"] == "两行\n说明"


def test_gbk_csv_from_chinese_excel_is_read() -> None:
    data = "spu_code,sku_code,spu_name\r\nP1,S1,华为手机\r\n".encode("gbk")
    assert parse_csv(data).rows[0]["spu_name"] == "华为手机"


def test_tab_separated_utf16_is_read() -> None:
    data = "spu_code\tsku_code\nP1\tS1\n".encode("utf-16")
    assert parse_csv(data).rows == [{"spu_code": "P1", "sku_code": "S1"}]


def test_header_problems_refuse_the_file() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_csv(b"sku_code,sku_code\nA,B\n")
    assert caught.value.errors[0].code == "duplicate_column"
    with pytest.raises(ValidationFailed):
        parse_csv(b"")
    with pytest.raises(ValidationFailed):
        parse_file(b"x", "catalog.txt")


def test_cells_beyond_the_header_are_kept_for_reporting() -> None:
    parsed = parse_csv(b"spu_code,sku_code\nP1,S1,surprise\n")
    row = parsed.rows[0]
    assert "surprise" in row.values()
    assert [code for _, code, _ in parse_row(row, SPECS).problems] == ["extra_cells"]


def test_xlsx_written_then_read_gives_the_same_rows() -> None:
    # given rows with money, a barcode with a leading zero and Chinese text
    columns = ["spu_code", "sku_code", "sale_price", "barcodes", "spu_name", "price:jd"]
    rows = [
        {
            "spu_code": "P1",
            "sku_code": "S1",
            "sale_price": "5999.00",
            "barcodes": "0123456789012",
            "spu_name": "手机",
            "price:jd": "12.35",
        },
        {"spu_code": "P1", "sku_code": "S2", "sale_price": "0.10", "barcodes": "", "spu_name": "手机", "price:jd": ""},
    ]
    out = io.BytesIO()
    # when written as XLSX and read back
    write_xlsx(columns, rows, out)
    parsed = parse_xlsx(out.getvalue())
    # then the text is intact and the amounts are the same money
    assert parsed.columns == columns
    assert parsed.rows[0]["barcodes"] == "0123456789012"
    assert parsed.rows[0]["spu_name"] == "手机"
    assert [parse_fen(r["sale_price"]) for r in parsed.rows] == [599900, 10]
    assert parse_fen(parsed.rows[0]["price:jd"]) == 1235
    assert parsed.rows[1]["price:jd"] == ""


def test_csv_written_then_read_gives_the_same_rows() -> None:
    columns = ["spu_code", "sku_code", "description"]
    rows = [{"spu_code": f"P{i}", "sku_code": f"S{i}", "description": "含,逗号\n和换行"} for i in range(450)]
    data = b"".join(csv_chunks(columns, rows))
    assert data.startswith(b"\xef\xbb\xbf")
    assert parse_csv(data).rows == rows
