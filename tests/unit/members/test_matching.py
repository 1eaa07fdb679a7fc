"""The probabilistic model's pieces: cleaning, the comparisons, blocking and training rules."""

from __future__ import annotations

import polars as pl
import pytest

from zhongtai.members import matching
from zhongtai.members.identifiers import WeakKind as W

FEBRL_KINDS = [W.GIVEN_NAME, W.SURNAME, W.STREET_NUMBER, W.ADDRESS, W.CITY, W.POSTCODE, W.STATE, W.BIRTHDAY]
FEBRL_KINDS.append(W.ID_NUMBER)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  ＷＡＮＧ　Ｆａｎｇ ", "wang fang"),  # full-width letters and the ideographic space
        ("王芳", "王芳"),  # Chinese names compared as given
        ("Mary  Ann\tSmith", "mary ann smith"),
        ("   ", None),
        (None, None),
    ],
)
def test_clean_text_normalises_width_case_and_spaces(raw: str | None, clean: str | None) -> None:
    assert matching.clean_text(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("1990年5月17日", "1990-05-17"),
        ("19900517", "1990-05-17"),
        ("1990/5/17", "1990-05-17"),
        ("19901317", "19901317"),  # not a date: its digits, still comparable by edit distance
        ("", None),
    ],
)
def test_clean_birthday_gives_iso_dates_or_digits(raw: str, clean: str | None) -> None:
    assert matching.clean_birthday(raw) == clean


def test_clean_code_keeps_letters_and_digits() -> None:
    assert matching.clean_code("200 031") == "200031"
    assert matching.clean_code("11010519491231002X") == "11010519491231002x"
    assert matching.clean_code(" - ") is None


def test_clean_frame_names_columns_by_kind_and_drops_empty_rows() -> None:
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "full_name": ["王芳", None, "  "],
            "birthday": ["1990年5月17日", None, ""],
        }
    )

    cleaned = matching.clean_frame(frame, ["birthday", "full_name"])

    assert cleaned.columns == ["unique_id", "full_name", "birthday"]
    assert cleaned.rows() == [("1", "王芳", "1990-05-17")]


def test_clean_frame_names_missing_columns() -> None:
    with pytest.raises(ValueError, match="city"):
        matching.clean_frame(pl.DataFrame({"id": [1], "full_name": ["a"]}), ["full_name", "city"])


def test_full_name_is_not_compared_when_given_name_and_surname_are() -> None:
    assert W.FULL_NAME not in matching.compared_kinds([W.FULL_NAME, W.GIVEN_NAME, W.SURNAME, W.CITY])
    assert matching.compared_kinds([W.FULL_NAME, W.CITY]) == [W.FULL_NAME, W.CITY]


def test_blocking_rules_come_from_the_kinds_present() -> None:
    febrl = matching.blocking_rules(FEBRL_KINDS)
    assert (W.GIVEN_NAME, W.SURNAME) in febrl
    # a typo in the surname still meets the given name and birthday, a typo in both names the id number
    assert (W.GIVEN_NAME, W.BIRTHDAY) in febrl
    assert (W.ID_NUMBER,) in febrl
    assert len(febrl) >= 5
    # no rule blocks on one coarse field
    assert not any(rule in ((W.CITY,), (W.STATE,), (W.POSTCODE,)) for rule in febrl)

    chinese = matching.blocking_rules([W.FULL_NAME, W.BIRTHDAY, W.CITY])
    assert chinese == [(W.FULL_NAME,), (W.BIRTHDAY, W.CITY)]
    assert matching.blocking_rules([W.BIRTHDAY, W.STATE]) == [(W.BIRTHDAY, W.STATE)]  # the fallback pair


def test_training_rules_let_one_rule_train_what_another_blocks_on() -> None:
    rules = matching.training_rules(FEBRL_KINDS)
    assert rules[0] == (W.GIVEN_NAME, W.SURNAME)
    assert len(rules) >= 2
    assert not set(rules[1]) & {W.GIVEN_NAME, W.SURNAME}


def test_settings_have_one_comparison_per_field_and_one_for_the_place() -> None:
    spec = matching.model_spec(FEBRL_KINDS)

    settings = matching.build_settings(spec).get_settings("duckdb").as_dict()

    names = [c["output_column_name"] for c in settings["comparisons"]]
    assert names == ["given_name", "surname", "birthday", "id_number", "street_number", "place"]
    assert len(settings["blocking_rules_to_generate_predictions"]) == len(spec.blocking)
    assert settings["link_type"] == "dedupe_only"


def test_chinese_name_columns_are_compared_by_characters() -> None:
    frame = pl.DataFrame({"full_name": ["王芳", "张伟", "Li Na", None], "city": ["上海市"] * 4})
    cjk = matching.cjk_kinds(frame, [W.FULL_NAME, W.CITY])
    assert cjk == frozenset({W.FULL_NAME})

    spec = matching.model_spec([W.FULL_NAME, W.CITY], cjk=cjk)
    levels = matching.build_settings(spec).get_settings("duckdb").as_dict()["comparisons"][0]["comparison_levels"]
    assert any("levenshtein" in str(level.get("sql_condition", "")).lower() for level in levels)
    assert not any("jaro" in str(level.get("sql_condition", "")).lower() for level in levels)


def test_a_rule_generating_too_many_pairs_is_narrowed() -> None:
    # given: one name shared by 200 rows (19,900 pairs) in four cities
    frame = pl.DataFrame(
        {
            "full_name": ["张伟"] * 200 + [f"n{i}" for i in range(50)],
            "city": ["上海市", "北京市", "广州市", "深圳市"] * 50 + ["上海市"] * 50,
        }
    )
    assert matching.rule_pairs(frame, (W.FULL_NAME,)) == 19_900

    # when the budget is 10,000 pairs a rule
    rules = matching.within_budget(frame, [(W.FULL_NAME,)], 10_000)

    # then the name is blocked on together with the city (4 x 1,225 pairs)
    assert rules == [(W.FULL_NAME, W.CITY)]
    assert matching.within_budget(frame, [(W.FULL_NAME,)], 100) == []


def test_nothing_is_scored_with_fewer_than_two_kinds() -> None:
    rows = [{"record_id": str(i), "full_name": "王芳", "city": ""} for i in range(5)]
    assert matching.score_rows(rows) == []


def test_spark_without_pyspark_or_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import pyspark  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        with pytest.raises(matching.MatchingUnavailable, match="pyspark"):
            matching.check_backend("spark")
    else:
        # given a machine without a Java runtime
        monkeypatch.setenv("PATH", "/nonexistent")
        monkeypatch.delenv("JAVA_HOME", raising=False)
        with pytest.raises(matching.MatchingUnavailable, match="Java runtime"):
            matching.check_backend("spark")
    with pytest.raises(ValueError, match="unknown backend"):
        matching.make_db_api("oracle")


def test_pinyin_key_joins_characters_and_their_pinyin() -> None:
    from zhongtai.members.matching import pinyin_key

    assert pinyin_key("王芳") == pinyin_key("Wang Fang") == pinyin_key("wangfang") == "wangfang"
    assert pinyin_key("欧阳娜娜") == "ouyangnana"
    assert pinyin_key("") is None
