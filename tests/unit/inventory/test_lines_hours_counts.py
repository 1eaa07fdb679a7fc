"""Pure checks: reservation lines, opening hours, count files. No database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from openpyxl import Workbook

from zhongtai.inventory.counts import UnreadableFile, parse_count_file
from zhongtai.inventory.hours import is_open_at, opening_hours_problems, timezone_problems
from zhongtai.inventory.schemas import ReserveLine
from zhongtai.inventory.service import reserve_line_problems


def _codes(problems: list) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(p.field, p.code) for p in problems}


def test_valid_lines_have_no_problems() -> None:
    lines = [
        ReserveLine(sku_code="CASE", location_id=1, quantity=2),
        ReserveLine(sku_id=7, location_code="S-A", quantity=1, serials=["IMEI1"]),
    ]
    assert reserve_line_problems(lines) == []


def test_every_problem_of_every_line_is_reported() -> None:
    # Given lines with several mistakes each
    lines = [
        ReserveLine(sku_code="CASE", sku_id=3, location_id=1, quantity=1),  # two SKU keys
        ReserveLine(sku_code="PHONE", quantity=2, serials=["A"]),  # no location, 1 serial for 2
        ReserveLine(sku_code="PHONE", location_code="S-A", quantity=2, serials=["B", "B"]),  # duplicate serial
        ReserveLine(sku_code="CASE", location_id=1, quantity=1),  # same as line 0 (by code)
    ]
    # When validated
    problems = reserve_line_problems(lines)
    # Then each is listed, with its line's path
    assert _codes(problems) == {
        ("body.lines.0.sku_code", "sku_required"),
        ("body.lines.1.location_id", "location_required"),
        ("body.lines.1.serials", "serial_count"),
        ("body.lines.2.serials", "duplicate_serial"),
        ("body.lines.3.sku_code", "duplicate_line"),
    }


def test_a_serial_in_two_lines_of_the_same_sku_is_refused() -> None:
    lines = [
        ReserveLine(sku_code="PHONE", location_code="S-A", quantity=1, serials=["X"]),
        ReserveLine(sku_code="PHONE", location_code="S-B", quantity=1, serials=["X"]),
    ]
    assert ("body.lines.1.serials", "duplicate_serial") in _codes(reserve_line_problems(lines))


def test_quantity_below_one_is_refused_by_the_schema() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        ReserveLine(sku_code="CASE", location_id=1, quantity=0)


def test_opening_hours_list_every_bad_day() -> None:
    problems = opening_hours_problems(
        {"mon": ["10:00", "22:00"], "tue": ["22:00", "10:00"], "fun": ["10:00", "11:00"], "wed": ["9", "x"], "sun": []}
    )
    assert _codes(problems) == {
        ("body.opening_hours.tue", "closes_before_opening"),
        ("body.opening_hours.fun", "unknown_weekday"),
        ("body.opening_hours.wed", "invalid_interval"),
    }
    assert opening_hours_problems({"sat": ["00:00", "24:00"]}) == []
    assert _codes(opening_hours_problems([])) == {("body.opening_hours", "invalid_type")}


def test_open_at_uses_the_locations_own_zone() -> None:
    hours = {"mon": ["10:00", "22:00"]}
    # Monday 2025-06-16 02:30 UTC is 10:30 in Shanghai, 04:30 in Berlin
    when = datetime(2025, 6, 16, 2, 30, tzinfo=UTC)
    assert is_open_at(hours, "Asia/Shanghai", when)
    assert not is_open_at(hours, "Europe/Berlin", when)
    assert not is_open_at(hours, "Asia/Shanghai", datetime(2025, 6, 17, 2, 30, tzinfo=UTC))  # Tuesday: closed
    assert is_open_at({}, "Asia/Shanghai", when)  # no hours: round the clock


def test_unknown_time_zone() -> None:
    assert _codes(timezone_problems("Mars/Olympus")) == {("body.timezone", "unknown_timezone")}
    assert timezone_problems("Asia/Shanghai") == []


def test_count_csv_with_chinese_headers_bom_and_bad_rows() -> None:
    # Given a CSV as Excel writes it (BOM), with Chinese headers and three bad rows
    data = '\ufeff库位编码,SKU编码,盘点数量\nS-A,CASE,12\nS-A,,3\nS-A,TV,-1\nS-A,PHONE,abc\n\nS-B,TV,"1,200"\n'.encode()
    # When parsed
    parsed = parse_count_file("count.csv", data)
    # Then the good rows come with their file row numbers and every bad row is reported
    assert [(r.row, r.location_code, r.sku_code, r.counted) for r in parsed.rows] == [
        (2, "S-A", "CASE", 12),
        (7, "S-B", "TV", 1200),
    ]
    assert {(e.row, e.field, e.code) for e in parsed.errors} == {
        (3, "sku_code", "required"),
        (4, "counted", "negative"),
        (5, "counted", "not_an_integer"),
    }


def test_count_csv_in_gb18030() -> None:
    data = "location_code,sku_code,counted\n门店一,CASE,5\n".encode("gb18030")
    assert parse_count_file("c.csv", data).rows[0].location_code == "门店一"


def test_count_xlsx() -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["location_code", "sku_code", "counted"])
    ws.append(["S-A", "CASE", 7])
    ws.append(["S-A", "TV", 2.0])
    import io

    buf = io.BytesIO()
    wb.save(buf)
    parsed = parse_count_file("count.xlsx", buf.getvalue())
    assert [(r.sku_code, r.counted) for r in parsed.rows] == [("CASE", 7), ("TV", 2)]


def test_missing_columns_make_the_file_unreadable() -> None:
    with pytest.raises(UnreadableFile, match="counted"):
        parse_count_file("c.csv", b"location_code,sku_code\nS-A,CASE\n")
    with pytest.raises(UnreadableFile, match="empty"):
        parse_count_file("c.csv", b"\n\n")
