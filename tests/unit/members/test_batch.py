"""Batch stitching: the deterministic guard rails, cluster ids, files in and out, and the whole
pipeline (with the probabilistic model) on a small generated population."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from zhongtai.members import batch, matching
from zhongtai.members.identifiers import MAX_COMPONENT_IDENTIFIERS, IdentifierIn, IdKind, WeakKind
from zhongtai.members.records import PersonRecord, ScoredPair


def phone(n: int) -> IdentifierIn:
    return IdentifierIn(IdKind.PHONE, f"+86139{n:08d}")


def email(name: str) -> IdentifierIn:
    return IdentifierIn(IdKind.EMAIL, f"{name}@example.cn")


def card(n: int) -> IdentifierIn:
    return IdentifierIn(IdKind.CARD, f"C{n:06d}")


def rec(record_id: str, *identifiers: IdentifierIn, **attributes: str) -> PersonRecord:
    return PersonRecord(record_id, list(identifiers), {WeakKind(k): v for k, v in attributes.items()})


STORE_PHONE = phone(88888888)


def test_a_store_phone_shared_by_five_people_is_quarantined_and_links_no_one() -> None:
    # given: five customers, each on their own card, typed in with the shop's phone
    records = [rec(str(i), card(i), STORE_PHONE) for i in range(1, 6)]

    result = batch.stitch(records, probabilistic=False)

    assert result.quarantined == {STORE_PHONE.key}
    assert sorted(result.cluster_of.values()) == ["1", "2", "3", "4", "5"]


def test_a_phone_within_the_partner_cap_still_links() -> None:
    # a family's landline-like phone seen with three cards: at the cap, not over it
    records = [rec(str(i), card(i), STORE_PHONE) for i in range(1, 4)]

    result = batch.stitch(records, probabilistic=False)

    assert result.quarantined == set()
    assert set(result.cluster_of.values()) == {"1"}


def test_a_persons_two_phones_merge_through_a_shared_identifier() -> None:
    # given: one person's records with their mobile, their work phone, their e-mail
    records = [
        rec("10", phone(1), email("li")),
        rec("11", phone(2), email("li")),
        rec("12", phone(2)),
        rec("13", phone(3)),  # someone else
    ]

    result = batch.stitch(records, probabilistic=False)

    assert result.cluster_of == {"10": "10", "11": "10", "12": "10", "13": "13"}
    assert result.deterministic_clusters == 2


def test_the_cluster_id_is_the_smallest_record_id_numerically_when_ids_are_numbers() -> None:
    records = [rec("10", phone(1)), rec("9", phone(1)), rec("100", phone(1))]
    assert set(batch.stitch(records, probabilistic=False).cluster_of.values()) == {"9"}

    records = [rec("b-2", phone(1)), rec("a-10", phone(1))]
    assert set(batch.stitch(records, probabilistic=False).cluster_of.values()) == {"a-10"}


def test_a_link_growing_a_cluster_past_the_component_cap_goes_to_review() -> None:
    # given: a chain of records, each joining the previous phone to a new one
    n = MAX_COMPONENT_IDENTIFIERS + 3
    records = [rec(str(i), phone(i), phone(i + 1)) for i in range(1, n)]

    result = batch.stitch(records, probabilistic=False)

    sizes: defaultdict[str, int] = defaultdict(int)
    for cluster in result.cluster_of.values():
        sizes[cluster] += 1
    assert max(sizes.values()) <= MAX_COMPONENT_IDENTIFIERS
    assert len(sizes) == 2
    assert result.review_pairs
    assert all(p.probability == 1.0 for p in result.review_pairs)
    assert {result.cluster_of[result.review_pairs[0].left], result.cluster_of[result.review_pairs[0].right]} == set(
        sizes
    )


def test_records_without_identifiers_or_attributes_stay_alone() -> None:
    result = batch.stitch([rec("1"), rec("2")], probabilistic=True)
    assert result.cluster_of == {"1": "1", "2": "2"}
    assert result.merged_pairs == []
    assert result.review_pairs == []


# --- files --------------------------------------------------------------------------------------

ROWS = {
    "member_no": ["7", "8", "9", "10"],
    "mobile": ["138-0013-8001", "+86 138 0013 8001", "12345", ""],
    "work_phone": ["", "13900139002", "", ""],
    "mail": ["Li@Example.CN", "", "bad@", ""],
    "name": ["李娜", "李娜", "王芳", ""],
    "addr1": ["人民路1号", "", "", ""],
    "addr2": ["3栋", "", "", ""],
    "wx": ["", "", "oAbc123456", ""],
}
ATTRS = {
    "mobile": "phone",
    "work_phone": "phone",
    "mail": "email",
    "name": "full_name",
    "addr1": "address",
    "addr2": "address",
    "wx": "openid@miniapp",
}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_records_normalises_identifiers_and_counts_the_invalid(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"members{suffix}"
    frame = pl.DataFrame(ROWS)
    frame.write_csv(path) if suffix == ".csv" else frame.write_parquet(path)

    loaded = batch.load_records(path, "member_no", ATTRS)

    first, second, third, fourth = loaded.records
    assert first.record_id == "7"
    assert first.source == path.name
    assert [i.key for i in first.identifiers] == ["phone:+8613800138001", "email:li@example.cn"]
    assert [i.key for i in second.identifiers] == ["phone:+8613800138001", "phone:+8613900139002"]
    assert [i.key for i in third.identifiers] == ["openid@miniapp:oAbc123456"]
    assert first.attributes == {WeakKind.FULL_NAME: "李娜", WeakKind.ADDRESS: "人民路1号 3栋"}
    assert fourth.identifiers == []
    assert fourth.attributes == {}
    assert loaded.invalid == {"mobile": 1, "mail": 1}
    assert batch.read_records(path, "member_no", ATTRS) == loaded.records


def test_read_records_explains_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    pl.DataFrame(ROWS).write_csv(path)

    with pytest.raises(batch.InputProblem, match="no column 'phone'") as missing:
        batch.load_records(path, "member_no", {"phone": "phone"})
    assert missing.value.param == "--attr"
    with pytest.raises(batch.InputProblem, match="unknown kind 'mobile'"):
        batch.load_records(path, "member_no", {"mobile": "mobile"})
    with pytest.raises(batch.InputProblem, match="openid@APP"):
        batch.load_records(path, "member_no", {"wx": "openid"})
    with pytest.raises(batch.InputProblem, match="empty record ids"):
        batch.load_records(path, "name", {"mobile": "phone"})
    pl.DataFrame({"id": ["a1", "a1", "a2"]}).write_csv(tmp_path / "dup.csv")
    with pytest.raises(batch.InputProblem, match=r"duplicate record ids, e\.g\. a1") as duplicate:
        batch.load_records(tmp_path / "dup.csv", "id", {})
    assert duplicate.value.param == "--id"
    with pytest.raises(batch.InputProblem, match=r"\.csv or \.parquet"):
        batch.load_records(tmp_path / "members.xlsx", "member_no", {})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_result_writes_clusters_and_the_review_pairs_beside(tmp_path: Path, suffix: str) -> None:
    records = [rec("1", phone(1)), rec("2", phone(1)), rec("3", phone(3))]
    result = batch.stitch(records, probabilistic=False)
    result.review_pairs.append(ScoredPair("1", "3", 0.42))  # as the matcher would
    out = tmp_path / "out" / f"clusters{suffix}"

    review = batch.write_result(result, out, id_column="member_no")

    written = pl.read_csv(out) if suffix == ".csv" else pl.read_parquet(out)
    assert written.cast(pl.Utf8).rows() == [("1", "1"), ("2", "1"), ("3", "3")]
    assert written.columns == ["member_no", "cluster_id"]
    assert review == tmp_path / "out" / "clusters.review.csv"
    assert pl.read_csv(review, infer_schema=False).rows() == [("1", "3", "0.42", "1", "3")]


# --- the whole pipeline on a small generated population ------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文辉力鹏飞宇轩浩然子涵欣怡"
CITIES = ("上海市", "北京市", "广州市", "深圳市", "杭州市", "成都市")


def population(persons: int, seed: int = 3) -> tuple[list[PersonRecord], dict[str, int]]:
    """People with 1-3 records: a POS record (phone, name, birthday, city) and online records
    (their own buyer id, the name, sometimes mistyped, the birthday, the city); a third of the
    online records also carry the phone."""
    rng = random.Random(seed)
    records: list[PersonRecord] = []
    truth: dict[str, int] = {}
    for p in range(persons):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        born = (date(1960, 1, 1) + timedelta(days=rng.randrange(15_000))).isoformat()
        city = rng.choice(CITIES)
        mobile = phone(p)
        for k in range(rng.choice((1, 2, 2, 3))):
            rid = str(len(records) + 1)
            shown = name
            if k and rng.random() < 0.15:
                i = rng.randrange(1, len(name))
                shown = name[:i] + rng.choice(GIVEN) + name[i + 1 :]
            if k == 0:
                ids = [mobile]
            else:
                ids = [IdentifierIn(IdKind.JD_PIN, f"jd_{p}_{k}")] + ([mobile] if rng.random() < 0.33 else [])
            records.append(rec(rid, *ids, full_name=shown, birthday=born, city=city))
            truth[rid] = p
    return records, truth


def pairwise(cluster_of: dict[str, str], truth: dict[str, int]) -> tuple[float, float]:
    def pairs(labels: dict[str, object]) -> set[tuple[str, str]]:
        groups: dict[object, list[str]] = defaultdict(list)
        for rid, label in labels.items():
            groups[label].append(rid)
        return {p for members in groups.values() for p in itertools.combinations(sorted(members), 2)}

    predicted, actual = pairs(dict(cluster_of)), pairs(dict(truth))
    tp = len(predicted & actual)
    return tp / max(1, len(predicted)), tp / max(1, len(actual))


def test_stitch_finds_people_across_channels_with_the_probabilistic_model() -> None:
    # given: 200 people over ~400 records, half of whose online records share no identifier
    records, truth = population(200)
    deterministic = batch.stitch(records, probabilistic=False)
    _, det_recall = pairwise(deterministic.cluster_of, truth)

    # when
    steps: list[str] = []
    result = batch.stitch(records, progress=steps.append)

    # then: precise, and finding most of what the strong identifiers alone miss
    precision, recall = pairwise(result.cluster_of, truth)
    assert precision >= 0.9
    assert recall >= 0.85 > det_recall
    assert result.merged_pairs
    assert all(p.probability >= matching.MATCH_THRESHOLD for p in result.merged_pairs)
    assert all(p.probability >= matching.REVIEW_THRESHOLD for p in result.review_pairs)
    assert result.deterministic_clusters == deterministic.deterministic_clusters
    assert steps[0] == "linking strong identifiers"
    assert "scoring candidate pairs" in steps


def test_the_same_stitching_runs_on_spark(spark: Any) -> None:
    # given a local Spark session, as a cluster would hand one over (tests/conftest.py)
    records, truth = population(120, seed=5)
    # when the batch matcher stitches on Spark instead of DuckDB
    result = batch.stitch(records, backend="spark", spark_session=spark)

    # then it finds the same people, through the same model and thresholds
    precision, recall = pairwise(result.cluster_of, truth)
    assert precision >= 0.9
    assert recall >= 0.85
    assert result.merged_pairs
    assert all(p.probability >= matching.MATCH_THRESHOLD for p in result.merged_pairs)
