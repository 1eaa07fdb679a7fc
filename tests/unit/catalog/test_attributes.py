from __future__ import annotations

import pytest

from zhongtai.catalog.attributes import AttrSpec, format_value, parse_cell, validate_values
from zhongtai.catalog.barcodes import barcode_problem, gtin_check_digit, with_check_digit
from zhongtai.catalog.lifecycle import sku_on_sale_problems, transition_problems

SPECS = {
    "screen_size": AttrSpec("screen_size", "屏幕尺寸", "number", "spu", unit="英寸"),
    "material": AttrSpec("material", "材质", "text", "spu"),
    "color": AttrSpec("color", "颜色", "enum", "sku", options=("曜石黑", "冰川白")),
}


def test_valid_values_pass_through_normalised() -> None:
    # given parameters of every kind
    values = {"screen_size": 6.1, "material": "  铝合金 "}
    # when they are validated
    clean, problems = validate_values(SPECS, values, level="spu", field="body.parameters")
    # then nothing is wrong and text is trimmed
    assert problems == []
    assert clean == {"screen_size": 6.1, "material": "铝合金"}


def test_every_bad_value_is_reported_with_its_path() -> None:
    # given one bad value of each kind, an unknown code and a sale attribute used as a parameter
    values = {"screen_size": "big", "material": "  ", "color": "曜石黑", "weight": 180}
    # when validated as SPU parameters
    clean, problems = validate_values(SPECS, values, level="spu", field="body.parameters")
    # then each one is a problem, named by its field path
    assert clean == {}
    assert {(p.field, p.code) for p in problems} == {
        ("body.parameters.screen_size", "not_a_number"),
        ("body.parameters.material", "blank"),
        ("body.parameters.color", "wrong_level"),
        ("body.parameters.weight", "unknown_attribute"),
    }


@pytest.mark.parametrize("value", [True, "6.1", float("nan"), None])
def test_number_rejects_booleans_strings_and_nan(value: object) -> None:
    _, problems = validate_values(SPECS, {"screen_size": value}, level="spu", field="f")
    assert [p.code for p in problems] == ["not_a_number"]


def test_enum_value_must_be_an_option() -> None:
    _, problems = validate_values(SPECS, {"color": "土豪金"}, level="sku", field="body.sale_attributes")
    assert [(p.field, p.code) for p in problems] == [("body.sale_attributes.color", "not_an_option")]
    assert "曜石黑" in problems[0].message


@pytest.mark.parametrize(("text", "value"), [("256", 256), ("6.1", 6.1), ("-3", -3), ("6.0", 6.0), ("abc", "abc")])
def test_number_cells_parse_to_int_or_float(text: str, value: object) -> None:
    parsed = parse_cell(SPECS["screen_size"], text)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize("value", [256, 6.1, 6.0, 1e-7, "曜石黑"])
def test_format_then_parse_gives_the_same_value(value: object) -> None:
    spec = SPECS["screen_size"] if not isinstance(value, str) else SPECS["color"]
    back = parse_cell(spec, format_value(value))
    assert back == value
    assert type(back) is type(value)


def test_gtin_check_digits() -> None:
    assert gtin_check_digit("690123456789") == 2
    assert with_check_digit("690123456789") == "6901234567892"
    assert barcode_problem("6901234567892") is None
    assert barcode_problem("6901234567893") == ("bad_check_digit", "6901234567893: check digit should be 2")
    assert barcode_problem("INT-0042") is None  # internal labels are not GTINs
    assert barcode_problem("has space")[0] == "invalid_barcode"  # type: ignore[index]


def test_lifecycle_transitions() -> None:
    assert transition_problems("draft", "on_sale") == []
    assert transition_problems("on_sale", "off_sale") == []
    assert transition_problems("off_sale", "on_sale") == []
    assert transition_problems("on_sale", "on_sale") == []
    assert transition_problems(None, "off_sale") == []  # a new row may start anywhere
    assert [p.code for p in transition_problems("on_sale", "draft")] == ["invalid_transition"]
    assert [p.code for p in transition_problems("draft", "off_sale")] == ["invalid_transition"]
    assert [p.code for p in transition_problems("draft", "sold_out")] == ["invalid_lifecycle"]


def test_on_sale_needs_a_price_and_a_spu_that_is_not_withdrawn() -> None:
    assert sku_on_sale_problems(sale_price_fen=100, spu_lifecycle="draft") == []
    problems = sku_on_sale_problems(sale_price_fen=0, spu_lifecycle="off_sale")
    assert [(p.field, p.code) for p in problems] == [
        ("body.sale_price_fen", "no_sale_price"),
        ("body.lifecycle", "spu_off_sale"),
    ]
