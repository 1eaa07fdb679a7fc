"""Parsing knowledge-base files (YAML tree, CSV rows) into specs: every problem with its path or row."""

from __future__ import annotations

import pytest

from zhongtai.service import kb


def _tree(**sub: object) -> dict[str, object]:
    base: dict[str, object] = {"code": "shipping.fee", "name": "运费", "examples": ["包邮吗", "运费多少"]}
    base.update(sub)
    return {
        "scenarios": [
            {"code": "presale", "name": "售前", "intents": [{"code": "shipping", "name": "配送", "subintents": [base]}]}
        ]
    }


def _fields(p: kb._Problems) -> dict[str, str]:
    return {f.field: f.code for f in p.items}


def test_a_valid_tree_parses() -> None:
    p = kb._Problems()
    specs = kb.parse_tree(p, _tree(answers=[{"text": "满99包邮"}, {"text": "30分钟达", "scene": "instant"}]))
    assert p.items == []
    sub = specs[0].intents[0].subintents[0]
    assert (sub.code, sub.action, sub.examples) == ("shipping.fee", "answer", ["包邮吗", "运费多少"])
    assert [(a.text, a.scene) for a in sub.answers] == [("满99包邮", ""), ("30分钟达", "instant")]


def test_every_bad_field_is_named_with_its_path() -> None:
    p = kb._Problems()
    kb.parse_tree(
        p,
        _tree(
            code="Bad Code",
            name="",
            action="dance",
            slots=["order_number", "shoe_size"],
            examples=["好", "", "x" * 201, "a|b"],
            enabled="maybe",
            colour="red",
            answers=[
                {"text": ""},
                {"text": "ok", "scene": "night", "links": [{"title": "t", "url": "ftp://x"}], "cards": [{"nosku": 1}]},
            ],
        ),
    )
    prefix = "scenarios.0.intents.0.subintents.0"
    assert _fields(p) == {
        f"{prefix}.code": "invalid_code",
        f"{prefix}.name": "required",
        f"{prefix}.action": "unknown_action",
        f"{prefix}.slots.1": "unknown_slot",
        f"{prefix}.examples.1": "empty",
        f"{prefix}.examples.2": "too_long",
        f"{prefix}.examples.3": "invalid_character",
        f"{prefix}.enabled": "invalid_type",
        f"{prefix}.colour": "unknown_field",
        f"{prefix}.answers.0.text": "required",
        f"{prefix}.answers.1.scene": "unknown_scene",
        f"{prefix}.answers.1.links.0.url": "invalid_url",
        f"{prefix}.answers.1.cards.0": "invalid_card",
    }


def test_examples_are_deduplicated_after_normalisation() -> None:
    p = kb._Problems()
    # 繁體 / full-width / case / extra spaces all normalise to the first spelling.
    cleaned = kb.clean_examples(p, "examples", ["包郵嗎", "包邮吗", "ＯＫ 吗", "ok  吗", "  运费  多少 ", 666])
    assert p.items == []
    assert cleaned == ["包郵嗎", "ＯＫ 吗", "运费 多少", "666"]


def test_too_many_examples_is_one_problem() -> None:
    p = kb._Problems()
    kb.clean_examples(p, "examples", [f"问题{i}" for i in range(kb.MAX_EXAMPLES + 1)])
    assert _fields(p) == {"examples": "too_many"}


def test_duplicate_codes_and_two_variants_for_one_channel_are_reported() -> None:
    p = kb._Problems()
    tree = _tree(answers=[{"text": "a", "channel": "pos"}, {"text": "b", "channel": "pos"}])
    scenario = tree["scenarios"][0]  # type: ignore[index]
    scenario["intents"][0]["subintents"].append({"code": "shipping.fee", "name": "又一个", "examples": ["x"]})
    kb.parse_tree(p, tree)
    assert _fields(p) == {
        "scenarios.0.intents.0.subintents.0.answers.1": "duplicate_variant",
        "scenarios.0.intents.0.subintents.1.code": "duplicate",
    }


def test_channel_codes_are_checked_later_against_the_database() -> None:
    p = kb._Problems()
    kb.parse_tree(p, _tree(answers=[{"text": "a", "channel": "marketplace"}, {"text": "b", "channel": "jd"}]))
    # A kind is known without the database; a code waits for check_references().
    assert p.items == []
    assert p._channels == [("scenarios.0.intents.0.subintents.0.answers.1.channel", "jd")]


def test_not_a_tree() -> None:
    p = kb._Problems()
    assert kb.parse_tree(p, ["a list"]) == []
    assert _fields(p) == {"file": "invalid_format"}


HEADER = ",".join(kb.CSV_COLUMNS) + "\n"


def test_csv_rows_of_one_subintent_become_its_variants() -> None:
    data = (
        "\ufeff"
        + HEADER
        + "presale,售前,shipping,配送,shipping.fee,运费,answer,,包邮吗|运费多少,,,满99包邮,,\n"
        + 'presale,售前,shipping,配送,shipping.fee,运费,answer,,包邮吗|运费多少,,instant,"30分钟达，满49免配送费",,帮助 https://example.com/help\n'
        + 'insale,售中,order,订单,insale.logistics,物流,logistics,order_number,查物流,,,"{carrier}配送中",,\n'
    ).encode()
    p = kb._Problems()
    specs = kb.parse_csv(p, data)
    assert p.items == []
    fee = specs[0].intents[0].subintents[0]
    assert fee.examples == ["包邮吗", "运费多少"]
    assert [(a.scene, a.text, a.links) for a in fee.answers] == [
        ("", "满99包邮", []),
        ("instant", "30分钟达，满49免配送费", [{"title": "帮助", "url": "https://example.com/help"}]),
    ]
    logistics = specs[1].intents[0].subintents[0]
    assert (logistics.action, logistics.slots) == ("logistics", ["order_number"])


def test_csv_problems_name_the_row_and_column() -> None:
    data = (
        HEADER
        + "presale,售前,shipping,配送,shipping.fee,运费,answer,,包邮吗,,,满99包邮,,\n"
        + "presale,售前,shipping,配送,shipping.fee,运费费,answer,,包邮吗,web_shop,,,,\n"
        + "presale,售前,shipping,配送,,运费,answer,,包邮吗,,,x,,\n"
        + "presale,售前,shipping,配送,shipping.area,范围,fly,,新疆能发吗,,moon,能,,\n"
    ).encode()
    p = kb._Problems()
    kb.parse_csv(p, data)
    assert _fields(p) == {
        "rows.3.subintent_name": "inconsistent",
        "rows.3.answer": "required",
        "rows.4.subintent_code": "required",
        "rows.5.action": "unknown_action",
        "rows.5.scene": "unknown_scene",
    }


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"scenario_code,answer\n", "missing_columns"), (b"\xff\xfe\x00bad", "invalid_encoding")],
)
def test_csv_that_is_not_the_format(data: bytes, code: str) -> None:
    p = kb._Problems()
    assert kb.parse_csv(p, data) == []
    assert [f.code for f in p.items] == [code]
