"""Probabilistic matching of people on weak attributes (names, birthday, address ...) with Splink.

A Fellegi-Sunter model, trained without labels on the data it scores: the u probabilities (how often
two random people agree on a field) from random pairs, the m probabilities (how often one person's
two records agree) by expectation maximisation over two or more blocking rules, so the fields one
rule blocks on are trained by another. Comparisons, blocking rules and training rules are built from
the kinds of attribute present, so a legacy file with only a name and a birthday gets a model of
its own.

Used by the batch matcher (``members.batch.stitch``: one row per deterministic cluster) and by the
live service's matching job (``score_frame`` over the active members). DuckDB is the default
backend; the same settings run on Spark (``backend="spark"``, needs ``pyspark`` and a
``SparkSession``) for data sets beyond one machine.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from zhongtai.members.identifiers import WeakKind, parse_birthday
from zhongtai.members.records import ScoredPair

if TYPE_CHECKING:
    from splink.internals.blocking_rule_creator import BlockingRuleCreator
    from splink.internals.comparison_creator import ComparisonCreator
    from splink.internals.database_api import DatabaseAPI

# Thresholds on Splink's match probability, tuned on the FEBRL dedup sets 1 and 2 only (never on
# the demo members or the scale set, which measure them): see docs/oneid.md, "Probabilistic model".
# At or above MATCH_THRESHOLD two members are merged; between REVIEW_THRESHOLD and it, the pair goes
# to the review queue.
MATCH_THRESHOLD = 0.6
REVIEW_THRESHOLD = 0.2

ID_COLUMN = "unique_id"
# Fewer attribute kinds than this and there is nothing to weigh against anything: no model.
MIN_KINDS = 2
# Pairs drawn at random to estimate u; more on bigger inputs (capped: it is a sample).
U_PAIRS_MIN = 1_000_000
U_PAIRS_MAX = 5_000_000
SEED = 42

Progress = Callable[[str], None]

log = logging.getLogger(__name__)


class MatchingUnavailable(RuntimeError):
    """The requested backend cannot run here (e.g. Spark without pyspark)."""


# ---------------------------------------------------------------------------------------------
# Cleaning


_SPACES = re.compile(r"\s+")
_NOT_DIGIT_OR_LETTER = re.compile(r"[^0-9a-z]")


def clean_text(value: str | None) -> str | None:
    """NFKC (full-width letters and digits become ASCII), lower case, inner spaces collapsed; empty
    is None. Chinese names and addresses are compared as given: no transliteration to pinyin, which
    would make 王 and 汪 (both wang) agree."""
    import unicodedata

    if value is None:
        return None
    s = _SPACES.sub(" ", unicodedata.normalize("NFKC", str(value))).strip().lower()
    return s or None


def clean_birthday(value: str | None) -> str | None:
    """ISO date when it parses; otherwise its digits (a typo such as 19561309 still compares by edit
    distance with the right date's 19560913 ... rather than being lost)."""
    s = clean_text(value)
    if s is None:
        return None
    parsed = parse_birthday(s)
    if parsed is not None:
        return parsed.isoformat()
    digits = re.sub(r"\D", "", s)
    return digits or None


def clean_code(value: str | None) -> str | None:
    """Identity numbers, postcodes, street numbers: letters and digits only."""
    s = clean_text(value)
    if s is None:
        return None
    return _NOT_DIGIT_OR_LETTER.sub("", s) or None


_CLEANERS: dict[WeakKind, Callable[[str | None], str | None]] = {
    WeakKind.BIRTHDAY: clean_birthday,
    WeakKind.ID_NUMBER: clean_code,
    WeakKind.POSTCODE: clean_code,
    WeakKind.STREET_NUMBER: clean_code,
}


def _clean_series(series: pl.Series, kind: WeakKind) -> pl.Series:
    cleaner = _CLEANERS.get(kind, clean_text)
    series = series.cast(pl.Utf8)
    # Map the distinct values only: a million rows have far fewer distinct birthdays or cities.
    distinct = series.drop_nulls().unique()
    mapping = {v: cleaner(v) for v in distinct.to_list()}
    return series.replace_strict(mapping, default=None, return_dtype=pl.Utf8)


def present_kinds(kinds: Iterable[WeakKind | str]) -> list[WeakKind]:
    """The kinds, validated, deduplicated, in WeakKind order (so settings do not depend on the order
    columns were given in)."""
    wanted = {WeakKind(k) for k in kinds}
    return [k for k in WeakKind if k in wanted]


def clean_frame(frame: pl.DataFrame, kinds: Iterable[WeakKind | str], *, id_column: str = "id") -> pl.DataFrame:
    """``unique_id`` (text) and one cleaned column per kind, named by the kind. Rows with no
    attribute at all are dropped: there is nothing to match them on."""
    ks = present_kinds(kinds)
    missing = [k.value for k in ks if k.value not in frame.columns]
    if id_column not in frame.columns:
        missing.insert(0, id_column)
    if missing:
        raise ValueError(f"the frame has no column(s) {', '.join(missing)}")
    out = pl.DataFrame({ID_COLUMN: frame[id_column].cast(pl.Utf8)})
    for k in ks:
        out = out.with_columns(_clean_series(frame[k.value], k).alias(k.value))
    if ks:
        out = out.filter(pl.any_horizontal(pl.col(k.value).is_not_null() for k in ks))
    return out


# ---------------------------------------------------------------------------------------------
# Settings


NAME_KINDS = (WeakKind.GIVEN_NAME, WeakKind.SURNAME, WeakKind.FULL_NAME)
_CJK = r"[\u3400-\u9fff\uf900-\ufaff]"


def compared_kinds(kinds: Iterable[WeakKind | str]) -> list[WeakKind]:
    """The kinds the model compares: with both a given name and a surname, the full name is left out
    (it says the same thing again, and counting one agreement three times makes namesakes merge)."""
    ks = present_kinds(kinds)
    if WeakKind.GIVEN_NAME in ks and WeakKind.SURNAME in ks:
        ks = [k for k in ks if k is not WeakKind.FULL_NAME]
    return ks


def cjk_kinds(frame: pl.DataFrame, kinds: Iterable[WeakKind | str]) -> frozenset[WeakKind]:
    """Name columns mostly written in Chinese characters (compared by characters, not Jaro-Winkler)."""
    out: set[WeakKind] = set()
    for k in present_kinds(kinds):
        if k in NAME_KINDS and k.value in frame.columns:
            values = frame[k.value].drop_nulls()
            if values.len() and values.str.contains(_CJK).mean() > 0.5:  # type: ignore[operator]
                out.add(k)
    return frozenset(out)


def comparisons(
    kinds: Iterable[WeakKind | str], *, cjk: frozenset[WeakKind] = frozenset()
) -> list[ComparisonCreator | dict[str, Any]]:
    """One Splink comparison per compared kind (``compared_kinds``)."""
    import splink.comparison_library as cl

    out: list[ComparisonCreator | dict[str, Any]] = []
    for k in compared_kinds(kinds):
        col = k.value
        if k in NAME_KINDS and k in cjk:
            # Chinese names are two to four characters: Jaro-Winkler says little on them. Exact (with
            # term frequencies: 王芳 agreeing says less than 欧阳娜娜), one character apart (a
            # look- or sound-alike typed by mistake, 张伟/张玮), anything else.
            out.append(_cjk_name_comparison(col))
        elif k in NAME_KINDS:
            # Exact (with term frequencies), then Jaro-Winkler 0.92 / 0.88 / 0.7.
            out.append(cl.NameComparison(col))
        elif k is WeakKind.BIRTHDAY:
            out.append(
                cl.DateOfBirthComparison(
                    col,
                    input_is_string=True,
                    datetime_format="%Y-%m-%d",
                    invalid_dates_as_null=False,
                )
            )
        elif k is WeakKind.ID_NUMBER:
            out.append(cl.LevenshteinAtThresholds(col, [1, 2]))
        elif k is WeakKind.STREET_NUMBER:
            out.append(cl.LevenshteinAtThresholds(col, [1]))
    place = _place_comparison(kinds)
    if place is not None:
        out.append(place)
    return out


def pinyin_key(value: str | None) -> str | None:
    """How a name sounds, toneless and without spaces: 王芳, "Wang Fang" and "wangfang" agree. The
    pinyin of a typed name is how marketplaces and web shops often show a Chinese customer."""
    if not value:
        return None
    from pypinyin import lazy_pinyin

    key = _NOT_DIGIT_OR_LETTER.sub("", "".join(lazy_pinyin(value)).lower())
    return key or None


def pinyin_column(kind: WeakKind) -> str:
    return f"{kind.value}_pinyin"


def with_pinyin(cleaned: pl.DataFrame, cjk: Iterable[WeakKind]) -> pl.DataFrame:
    """Adds the ``<kind>_pinyin`` column the Chinese-name comparison's pinyin level reads."""
    for kind in cjk:
        values = cleaned[kind.value]
        mapping = {v: pinyin_key(v) for v in values.drop_nulls().unique().to_list()}
        cleaned = cleaned.with_columns(
            values.replace_strict(mapping, default=None, return_dtype=pl.Utf8).alias(pinyin_column(kind))
        )
    return cleaned


def _cjk_name_comparison(col: str) -> ComparisonCreator:
    """Chinese names are two to four characters: Jaro-Winkler says little on them. Exact (with term
    frequencies: 王芳 agreeing says less than 欧阳娜娜), one character apart (a look- or sound-alike
    typed by mistake, 张伟/张玮), the same pinyin (王芳 / Wang Fang, and sound-alikes 汪芳), anything
    else. Each level's weight is learnt, so a same-pinyin agreement counts for what it proves."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    py = f"{col}_pinyin"
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col, term_frequency_adjustments=True),
            cll.LevenshteinLevel(col, 1),
            cll.CustomLevel(f'"{py}_l" = "{py}_r"', label_for_charts="same pinyin"),
            cll.ElseLevel(),
        ],
    )


PLACE_KINDS = (WeakKind.ADDRESS, WeakKind.POSTCODE, WeakKind.CITY, WeakKind.STATE)


def _place_comparison(kinds: Iterable[WeakKind | str]) -> ComparisonCreator | None:
    """Where a person lives, as ONE comparison: the address, postcode, city and province say the
    same thing at finer or coarser grain (a postcode fixes the city), and weighing each agreement on
    its own would count one fact several times. The most precise agreement available decides:
    address, similar address, postcode, postcode one digit off, city, state, nothing."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    ks = [k for k in present_kinds(kinds) if k in PLACE_KINDS]
    if not ks:
        return None
    address, postcode, city, state = (k.value if k in ks else None for k in PLACE_KINDS)
    levels: list[Any] = [cll.And(*(cll.NullLevel(k.value) for k in ks))]
    # Agreements on two fields are levels of their own, so their weight is learnt jointly: where
    # the postcode follows from the address it adds nothing, where it was typed apart it adds.
    if address:
        if postcode:
            levels.append(cll.And(cll.ExactMatchLevel(address), cll.ExactMatchLevel(postcode)))
        levels.append(cll.ExactMatchLevel(address))
        if postcode:
            levels.append(cll.And(cll.JaroLevel(address, 0.9), cll.ExactMatchLevel(postcode)))
        levels.append(cll.JaroLevel(address, 0.9))
    if postcode:
        if city:
            levels.append(cll.And(cll.ExactMatchLevel(postcode), cll.ExactMatchLevel(city)))
        levels += [cll.ExactMatchLevel(postcode), cll.LevenshteinLevel(postcode, 1)]
    if city:
        levels.append(cll.ExactMatchLevel(city).configure(tf_adjustment_column=city))
    if state:
        levels.append(cll.ExactMatchLevel(state))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name="place", comparison_description="address > postcode > city")


# Blocking rules generating the candidate pairs, each used when all its kinds are present. Several,
# so a typo in one field does not lose the pair: two records typed differently in the surname still
# meet on the given name and birthday. None blocks on one low-cardinality field (city, state) alone.
BLOCKING: tuple[tuple[WeakKind, ...], ...] = (
    (WeakKind.GIVEN_NAME, WeakKind.SURNAME),
    (WeakKind.FULL_NAME,),
    (WeakKind.ID_NUMBER,),
    (WeakKind.SURNAME, WeakKind.BIRTHDAY),
    (WeakKind.GIVEN_NAME, WeakKind.BIRTHDAY),
    (WeakKind.BIRTHDAY, WeakKind.CITY),
    (WeakKind.BIRTHDAY, WeakKind.POSTCODE),
    (WeakKind.POSTCODE, WeakKind.STREET_NUMBER),
    (WeakKind.SURNAME, WeakKind.POSTCODE),
    (WeakKind.GIVEN_NAME, WeakKind.POSTCODE),
    (WeakKind.ADDRESS, WeakKind.POSTCODE),
    (WeakKind.ADDRESS, WeakKind.CITY),
)
# Expectation maximisation runs once per rule below (the first two present): the fields a rule
# blocks on cannot be trained by it, so one rule on names and one on something else.
TRAINING: tuple[tuple[tuple[WeakKind, ...], ...], ...] = (
    ((WeakKind.GIVEN_NAME, WeakKind.SURNAME), (WeakKind.FULL_NAME,), (WeakKind.SURNAME,)),
    (
        (WeakKind.BIRTHDAY,),
        (WeakKind.ID_NUMBER,),
        (WeakKind.POSTCODE, WeakKind.STREET_NUMBER),
        (WeakKind.ADDRESS,),
        (WeakKind.POSTCODE,),
    ),
)
# Near-certain rules (few false positives) for the prior: the share of random pairs that match.
DETERMINISTIC: tuple[tuple[WeakKind, ...], ...] = (
    (WeakKind.GIVEN_NAME, WeakKind.SURNAME, WeakKind.BIRTHDAY),
    (WeakKind.FULL_NAME, WeakKind.BIRTHDAY),
    (WeakKind.ID_NUMBER, WeakKind.BIRTHDAY),
    (WeakKind.ID_NUMBER, WeakKind.SURNAME),
    (WeakKind.FULL_NAME, WeakKind.ADDRESS),
)
DETERMINISTIC_RECALL = 0.6


def _rules(candidates: Iterable[tuple[WeakKind, ...]], kinds: Iterable[WeakKind | str]) -> list[tuple[WeakKind, ...]]:
    have = set(present_kinds(kinds))
    return [rule for rule in candidates if set(rule) <= have]


def blocking_rules(kinds: Iterable[WeakKind | str]) -> list[tuple[WeakKind, ...]]:
    """The blocking rules (as kinds) for the kinds present. With none of the combinations available
    (e.g. only a birthday and a city), the pair of the two most selective kinds present."""
    ks = present_kinds(kinds)
    rules = _rules(BLOCKING, ks)
    if not rules and len(ks) >= MIN_KINDS:
        rules = [tuple(ks[:2])]
    return rules


def training_rules(kinds: Iterable[WeakKind | str]) -> list[tuple[WeakKind, ...]]:
    """Expectation maximisation rules (as kinds): the first of each group present."""
    ks = present_kinds(kinds)
    out: list[tuple[WeakKind, ...]] = []
    for group in TRAINING:
        found = _rules(group, ks)
        if found:
            out.append(found[0])
    return out or _fallback_training(ks)


def _fallback_training(ks: list[WeakKind]) -> list[tuple[WeakKind, ...]]:
    # Whatever is there: each kind alone trains every other one.
    singles: list[tuple[WeakKind, ...]] = [(k,) for k in ks if k not in (WeakKind.CITY, WeakKind.STATE)]
    return singles[:3]


# A blocking rule may generate at most this many pairs (or PAIRS_PER_ROW a row on big inputs);
# beyond, it is narrowed by one of REFINE (a name and a city rather than a name alone: 张伟 is
# hundreds of people in a million records). Keeps scoring linear in the rows, not quadratic.
MAX_RULE_PAIRS = 1_000_000
PAIRS_PER_ROW = 5
REFINE = (WeakKind.BIRTHDAY, WeakKind.CITY, WeakKind.POSTCODE, WeakKind.STATE)


def rule_pairs(frame: pl.DataFrame, rule: Sequence[WeakKind]) -> int:
    """Pairs a blocking rule generates on a cleaned frame (equal, non-null values on every field)."""
    cols = [k.value for k in rule]
    sizes = frame.select(cols).drop_nulls().group_by(cols).len()["len"].cast(pl.Int64)
    return int((sizes * (sizes - 1) // 2).sum())


def within_budget(
    frame: pl.DataFrame, rules: Iterable[tuple[WeakKind, ...]], budget: int
) -> list[tuple[WeakKind, ...]]:
    """The rules, each replaced by its narrower versions (one more field of REFINE) when it
    generates more than ``budget`` pairs; dropped when none fits."""
    have = {k for k in WeakKind if k.value in frame.columns}
    out: list[tuple[WeakKind, ...]] = []
    for rule in rules:
        options = [rule] if rule_pairs(frame, rule) <= budget else []
        if not options:
            finer = [(*rule, k) for k in REFINE if k in have and k not in rule]
            options = [f for f in finer if rule_pairs(frame, f) <= budget]
        out += [o for o in options if o not in out and not any(set(o) >= set(x) for x in out)]
    return out


@dataclass(frozen=True, slots=True)
class ModelSpec:
    kinds: list[WeakKind]
    cjk: frozenset[WeakKind]
    blocking: list[tuple[WeakKind, ...]]
    training: list[tuple[WeakKind, ...]]
    deterministic: list[tuple[WeakKind, ...]]


def model_spec(kinds: Iterable[WeakKind | str], *, cjk: frozenset[WeakKind] = frozenset()) -> ModelSpec:
    """The model for the kinds present, before looking at the data."""
    ks = present_kinds(kinds)
    if len(compared_kinds(ks)) < MIN_KINDS:
        raise ValueError(f"probabilistic matching needs at least {MIN_KINDS} weak attribute kinds, got {len(ks)}")
    return ModelSpec(ks, cjk, blocking_rules(ks), training_rules(ks), _rules(DETERMINISTIC, ks))


def plan_model(cleaned: pl.DataFrame, kinds: Iterable[WeakKind | str]) -> ModelSpec:
    """``model_spec`` fitted to a cleaned frame: Chinese-character name columns detected, blocking
    and training rules kept within the pair budget."""
    spec = model_spec(kinds, cjk=cjk_kinds(cleaned, kinds))
    budget = max(MAX_RULE_PAIRS, PAIRS_PER_ROW * cleaned.height)
    blocking = within_budget(cleaned, spec.blocking, budget)
    training: list[tuple[WeakKind, ...]] = []
    for group in TRAINING:
        for rule in _rules(group, spec.kinds):
            fitted = within_budget(cleaned, [rule], budget)
            if fitted:
                training.append(fitted[0])
                break
    training = training or within_budget(cleaned, _fallback_training(spec.kinds), budget)
    return ModelSpec(spec.kinds, spec.cjk, blocking, training, spec.deterministic)


def _block_on(rule: Sequence[WeakKind]) -> BlockingRuleCreator:
    from splink import block_on

    return block_on(*(k.value for k in rule))


def build_settings(spec: ModelSpec) -> Any:
    """The Splink ``SettingsCreator`` of a model (columns named by kind, id ``unique_id``)."""
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=ID_COLUMN,
        comparisons=comparisons(spec.kinds, cjk=spec.cjk),
        blocking_rules_to_generate_predictions=[_block_on(rule) for rule in spec.blocking],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


# ---------------------------------------------------------------------------------------------
# Backend


def check_backend(backend: str) -> None:
    """Fails early (``MatchingUnavailable``, ``ValueError``) when ``backend`` cannot run here."""
    if backend == "duckdb":
        return
    if backend != "spark":
        raise ValueError(f"unknown backend {backend!r}: duckdb or spark")
    try:
        import pyspark  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError as exc:
        raise MatchingUnavailable(
            "the spark backend needs pyspark (pip install pyspark) and a Java runtime; "
            "it is not installed here, use --backend duckdb"
        ) from exc
    if not java_available():
        raise MatchingUnavailable(
            "the spark backend needs a Java runtime (java on PATH or JAVA_HOME); none was found, use --backend duckdb"
        )


def java_available() -> bool:
    home = os.environ.get("JAVA_HOME", "")
    return shutil.which("java") is not None or (bool(home) and Path(home, "bin", "java").exists())


def make_db_api(backend: str | DatabaseAPI[Any] = "duckdb", *, spark_session: Any = None) -> DatabaseAPI[Any]:
    """``duckdb`` (default, in memory), ``spark`` (needs ``pyspark``; uses ``spark_session`` or the
    active/default ``SparkSession``), or a ready Splink ``DatabaseAPI``."""
    if not isinstance(backend, str):
        return backend
    if backend == "duckdb":
        from splink import DuckDBAPI

        return DuckDBAPI(":memory:")
    if backend == "spark":
        check_backend(backend)
        from splink.backends.spark import SparkAPI

        session = spark_session or spark_session_for_matching()
        # Splink checkpoints intermediate tables; a session without a checkpoint directory fails.
        if session.sparkContext.getCheckpointDir() is None:
            session.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="zhongtai-splink-"))
        return SparkAPI(spark_session=session)  # type: ignore[no-untyped-call, unused-ignore]
    raise ValueError(f"unknown backend {backend!r}: duckdb or spark")


def spark_session_for_matching(master: str | None = None) -> Any:
    """The active Spark session, or a new one with Splink's string-similarity UDF jar (shipped
    inside the splink package, so nothing is downloaded). On a cluster, pass your own session with
    ``spark.jars`` set to ``splink.backends.spark.similarity_jar_location()``."""
    from pyspark.sql import SparkSession  # type: ignore[import-not-found, unused-ignore]
    from splink.backends.spark import similarity_jar_location

    builder = SparkSession.builder.appName("zhongtai-oneid").config("spark.jars", similarity_jar_location())
    if master:
        builder = builder.master(master)
    return builder.getOrCreate()


@contextmanager
def _quiet_splink() -> Iterator[None]:
    """Splink narrates every training step at INFO; the CLI has its own progress display."""
    logger = logging.getLogger("splink")
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


# ---------------------------------------------------------------------------------------------
# Scoring


def score_frame(
    frame: Any,
    kinds: Iterable[WeakKind | str],
    *,
    id_column: str = "id",
    threshold: float = REVIEW_THRESHOLD,
    backend: str | DatabaseAPI[Any] = "duckdb",
    spark_session: Any = None,
    progress: Progress | None = None,
) -> list[ScoredPair]:
    """Pairs of rows of ``frame`` that are probably one person, with Splink's match probability
    (>= ``threshold``), best first.

    ``frame`` (Polars, pandas or Arrow) has ``id_column`` and one column per kind, named by the kind
    (``full_name``, ``birthday``, ``city`` ...), raw text: it is cleaned here. The model is trained
    on the frame itself, so it needs a few hundred rows to say anything; fewer than two kinds, or
    fewer than two rows with attributes, give no pairs."""
    report = progress or (lambda _step: None)
    ks = present_kinds(kinds)
    if len(compared_kinds(ks)) < MIN_KINDS:
        return []
    report("cleaning attributes")
    cleaned = clean_frame(_as_polars(frame), ks, id_column=id_column)
    if cleaned.height < 2:
        return []
    spec = plan_model(cleaned, ks)
    if not spec.blocking:
        return []
    cleaned = with_pinyin(cleaned, spec.cjk)
    db_api = make_db_api(backend, spark_session=spark_session)
    table: Any = cleaned.to_pandas() if type(db_api).__name__ == "SparkAPI" else cleaned.to_arrow()
    with _quiet_splink():
        return _train_and_predict(table, cleaned.height, spec, db_api, threshold, report)


def _as_polars(frame: Any) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if type(frame).__module__.startswith("pandas"):
        return pl.from_pandas(frame)
    result = pl.from_arrow(frame)
    if not isinstance(result, pl.DataFrame):
        raise TypeError("score_frame takes a Polars, pandas or Arrow table")
    return result


def _train_and_predict(
    table: Any, rows: int, spec: ModelSpec, db_api: DatabaseAPI[Any], threshold: float, report: Progress
) -> list[ScoredPair]:
    from splink import Linker
    from splink.internals.exceptions import SplinkException

    linker = Linker(table, build_settings(spec), db_api=db_api, set_up_basic_logging=False)
    training = linker.training
    if spec.deterministic:
        report("estimating the prior")
        try:
            training.estimate_probability_two_random_records_match(
                [_block_on(rule) for rule in spec.deterministic], recall=DETERMINISTIC_RECALL
            )
        except (SplinkException, ValueError, ZeroDivisionError) as exc:
            # No deterministic pair at all (tiny inputs): keep Splink's default prior.
            log.info("prior not estimated: %s", exc)
    report("estimating u (random pairs)")
    # Every pair on small inputs; on big ones a sample growing with them.
    max_pairs = min(rows * (rows - 1) // 2, U_PAIRS_MAX, max(U_PAIRS_MIN, rows * 10))
    training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=SEED)
    for rule in spec.training:
        report(f"estimating m (EM, blocked on {' + '.join(k.value for k in rule)})")
        try:
            training.estimate_parameters_using_expectation_maximisation(_block_on(rule), fix_u_probabilities=True)
        except SplinkException as exc:
            # Too few pairs under this rule to train on: the other rules (or Splink's default m
            # values) stand in.
            log.info("EM blocked on %s skipped: %s", rule, exc)
    report("scoring candidate pairs")
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    try:
        pairs = predictions.as_pandas_dataframe()  # type: ignore[no-untyped-call]
    finally:
        predictions.drop_table_from_database_and_remove_from_cache()
    left = pairs[f"{ID_COLUMN}_l"].astype(str).tolist()
    right = pairs[f"{ID_COLUMN}_r"].astype(str).tolist()
    prob = pairs["match_probability"].astype(float).tolist()
    out = [ScoredPair(a, b, p) for a, b, p in zip(left, right, prob, strict=True)]
    out.sort(key=lambda s: (-s.probability, s.left, s.right))
    return out


def score_rows(
    rows: Sequence[dict[str, Any]],
    *,
    id_column: str = "record_id",
    threshold: float = REVIEW_THRESHOLD,
    backend: str | DatabaseAPI[Any] = "duckdb",
    progress: Progress | None = None,
) -> list[ScoredPair]:
    """``score_frame`` over dict rows (``{"record_id": "17", "full_name": "王芳", "birthday": ...}``):
    the kinds are the keys that name a weak attribute kind and hold a value in some row."""
    weak = {k.value for k in WeakKind}
    columns = [c for c in dict.fromkeys(c for row in rows for c in row) if c in weak]
    kinds = [c for c in columns if any(row.get(c) for row in rows)]
    if not rows or len(compared_kinds(kinds)) < MIN_KINDS:
        return []
    frame = pl.DataFrame(
        {
            id_column: [str(row[id_column]) for row in rows],
            **{c: [None if row.get(c) in (None, "") else str(row[c]) for row in rows] for c in kinds},
        },
        schema={id_column: pl.Utf8, **dict.fromkeys(kinds, pl.Utf8)},
    )
    return score_frame(frame, kinds, id_column=id_column, threshold=threshold, backend=backend, progress=progress)
