"""Batch matching of a person file (a legacy member list, a marketplace export): ``zhongtai members match``.

``read_records`` maps a CSV or Parquet file's columns to identity attributes; ``stitch`` clusters the
records the way the live identity graph (``members.identity``) would:

1. Deterministic, on strong identifiers (phone, e-mail ...): records sharing one are one person.
   The same guard rails as the live graph (``identifiers``): an identifier seen with more distinct
   partners of one kind than ``MAX_PARTNERS`` allows (a store's own phone typed for walk-in
   customers) is quarantined and links nothing; a link that would grow a cluster beyond
   ``MAX_COMPONENT_IDENTIFIERS`` strong identifiers is not made but listed for review.
2. Probabilistic, on weak attributes (``members.matching``, Splink), over one row per deterministic
   cluster (each attribute's most common value in the cluster): pairs at or above
   ``MATCH_THRESHOLD`` merge, pairs between ``REVIEW_THRESHOLD`` and it are listed for review.

A cluster's id is the smallest record id in it (numerically when every id is a number), so a rerun
on the same file gives the same ids. ``write_result`` writes ``<id>, cluster_id`` and the review
pairs beside it.

The work is in Polars frames and flat integer arrays: a million records stitch in seconds, the
probabilistic step being the bulk of the time (see docs/oneid.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from zhongtai.members import matching
from zhongtai.members.identifiers import (
    MAX_COMPONENT_IDENTIFIERS,
    MAX_PARTNERS,
    IdentifierIn,
    IdKind,
    WeakKind,
    over_partner_cap,
    parse_identifiers,
)
from zhongtai.members.records import PersonRecord, ScoredPair, StitchResult

Progress = Callable[[str], None]

# What a file column may hold: a weak attribute, or a strong identifier of any kind. An openid
# belongs to one WeChat app, so its column is mapped as ``openid@APP`` (e.g. ``openid@miniapp``).
FILE_KINDS: dict[str, IdKind | WeakKind] = {k.value: k for k in (*WeakKind, *IdKind)}

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class InputProblem(ValueError):
    """The file or the column mapping cannot be used; the message says why (the CLI shows it)."""

    def __init__(self, message: str, *, param: str = "") -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class ColumnKind:
    kind: IdKind | WeakKind
    app: str = ""


def parse_kind(text: str) -> ColumnKind:
    """``phone``, ``full_name``, ``openid@miniapp`` ... (case-insensitive)."""
    name, _, app = text.strip().partition("@")
    kind = FILE_KINDS.get(name.lower())
    if kind is None:
        choices = ", ".join(sorted(k for k in FILE_KINDS if k != IdKind.OPENID.value))
        raise InputProblem(f"unknown kind {text!r}; one of {choices}, openid@APP", param="--attr")
    if kind is IdKind.OPENID and not app:
        raise InputProblem("an openid column names its WeChat app: openid@APP (e.g. openid@miniapp)", param="--attr")
    if app and kind is not IdKind.OPENID:
        raise InputProblem(f"only openid takes an @APP, not {name}", param="--attr")
    return ColumnKind(kind, app)


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(slots=True)
class LoadedRecords:
    records: list[PersonRecord]
    # Values dropped because they are not valid identifiers of their kind, per column.
    invalid: dict[str, int] = field(default_factory=dict)


def file_format(path: Path) -> str:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputProblem(f"{path.name}: a .csv or .parquet file, please", param="path")
    return fmt


def _read_frame(path: Path) -> pl.DataFrame:
    fmt = file_format(path)
    if not path.is_file():
        raise InputProblem(f"{path} does not exist", param="path")
    if fmt == "csv":
        # Everything as text: phone numbers must not turn into integers, ids keep leading zeros.
        return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    frame = pl.read_parquet(path)
    return frame.with_columns(pl.all().cast(pl.Utf8))


def load_records(
    path: str | Path,
    id_col: str,
    attrs: Mapping[str, str | ColumnKind],
    *,
    default_country: str = "86",
) -> LoadedRecords:
    """The file's rows as ``PersonRecord``s. ``attrs`` maps columns to kinds (weak attributes and
    strong identifiers, see ``FILE_KINDS``); several columns may share a kind (two phone columns are
    two identifiers, two address columns are joined). Strong values are normalised (+86 phones,
    lower-case e-mail); invalid ones are dropped and counted in ``invalid``."""
    path = Path(path)
    kinds = {col: kind if isinstance(kind, ColumnKind) else parse_kind(str(kind)) for col, kind in attrs.items()}
    frame = _read_frame(path)
    missing = [c for c in (id_col, *kinds) if c not in frame.columns]
    if missing:
        raise InputProblem(
            f"{path.name} has no column {', '.join(repr(c) for c in missing)}; its columns: {', '.join(frame.columns)}",
            param="--id" if id_col in missing else "--attr",
        )
    ids = frame[id_col].str.strip_chars()
    if ids.null_count() or (ids == "").any():
        raise InputProblem(f"column {id_col!r} has empty record ids", param="--id")
    duplicated = ids.filter(ids.is_duplicated()).unique().head(5).to_list()
    if duplicated:
        raise InputProblem(f"column {id_col!r} has duplicate record ids, e.g. {', '.join(duplicated)}", param="--id")

    invalid: dict[str, int] = {}
    strong_cols: list[list[IdentifierIn | None]] = []
    for col, ck in kinds.items():
        if isinstance(ck.kind, IdKind):
            values, bad = _normalised_column(frame[col], ck.kind, ck.app, default_country)
            strong_cols.append(values)
            if bad:
                invalid[col] = bad
    weak: dict[WeakKind, list[str | None]] = {}
    for col, ck in kinds.items():
        if isinstance(ck.kind, WeakKind):
            kind = ck.kind
            texts = frame[col].str.strip_chars().to_list()
            weak[kind] = texts if kind not in weak else [_join(a, b) for a, b in zip(weak[kind], texts, strict=True)]

    records: list[PersonRecord] = []
    source = path.name
    weak_items = list(weak.items())
    for i, record_id in enumerate(ids.to_list()):
        identifiers: list[IdentifierIn] = []
        for values in strong_cols:
            ident = values[i]
            if ident is not None and ident not in identifiers:
                identifiers.append(ident)
        attributes = {kind: v for kind, col_values in weak_items if (v := col_values[i])}
        records.append(PersonRecord(record_id, identifiers, attributes, source))
    return LoadedRecords(records, invalid)


def read_records(
    path: str | Path, id_col: str, attrs: Mapping[str, str | ColumnKind], *, default_country: str = "86"
) -> list[PersonRecord]:
    """``load_records`` without the count of invalid values."""
    return load_records(path, id_col, attrs, default_country=default_country).records


def _join(a: str | None, b: str | None) -> str | None:
    return " ".join(v for v in (a, b) if v) or None


def _normalised_column(
    column: pl.Series, kind: IdKind, app: str, default_country: str
) -> tuple[list[IdentifierIn | None], int]:
    """Each value normalised (distinct values once), None where empty or invalid; and the count of
    invalid (non-empty) values."""
    raw = column.str.strip_chars()
    mapping: dict[str, IdentifierIn | None] = {}
    for value in raw.drop_nulls().unique().to_list():
        if not value:
            continue
        parsed, _problems = parse_identifiers([(kind.value, value, app)], default_country=default_country)
        mapping[value] = parsed[0] if parsed else None
    values = [mapping.get(v) if v else None for v in raw.to_list()]
    bad = sum(1 for v in raw.to_list() if v and mapping.get(v) is None)
    return values, bad


# ---------------------------------------------------------------------------------------------
# Stitching


def stitch(
    records: Sequence[PersonRecord],
    *,
    probabilistic: bool = True,
    progress: Progress | None = None,
    backend: str | Any = "duckdb",
    spark_session: Any = None,
) -> StitchResult:
    """Clusters ``records`` (deterministic on strong identifiers with the guard rails, then
    probabilistic on weak attributes when ``probabilistic`` and the records have two or more kinds
    of them). See the module docstring."""
    report = progress or (lambda _step: None)
    n = len(records)
    record_ids = [r.record_id for r in records]
    rank = _id_rank(record_ids)

    report("linking strong identifiers")
    det = _deterministic(records)
    # Deterministic cluster of each record: the root of its first linking identifier, or a cluster
    # of its own (numbered after the identifiers) when it has none.
    root = det.record_root
    cluster_rank = _min_per_group(root, rank)
    det_cluster_of_rec = [cluster_rank[r] for r in root]  # rank of the cluster's smallest record
    by_rank = [""] * n  # record id by rank
    for rid, r in zip(record_ids, rank, strict=True):
        by_rank[r] = rid
    deterministic_clusters = len(cluster_rank)
    # Strong identifiers per deterministic cluster, for the component cap of probabilistic merges.
    identifiers_in: dict[int, int] = {}
    for kid_root, count in det.root_sizes.items():
        if kid_root in cluster_rank:  # not a quarantined identifier's own node
            identifiers_in[cluster_rank[kid_root]] = count

    final = list(range(n))  # union-find over ranks (cluster ids are ranks of their smallest record)
    merged_pairs: list[ScoredPair] = []
    review: list[tuple[int, int, float]] = []
    for rec, other_kid in det.blocked:
        other = cluster_rank.get(det.kid_root[other_kid])
        if other is not None:
            review.append((det_cluster_of_rec[rec], other, 1.0))

    if probabilistic:
        kinds = sorted({k for r in records for k in r.attributes}, key=list(WeakKind).index)
        if len(kinds) >= matching.MIN_KINDS:
            report("aggregating weak attributes per cluster")
            frame = _cluster_attributes(records, det_cluster_of_rec, by_rank, kinds)
            pairs = matching.score_frame(
                frame,
                kinds,
                id_column="id",
                threshold=matching.REVIEW_THRESHOLD,
                backend=backend,
                spark_session=spark_session,
                progress=report,
            )
            report("merging matches")
            rank_of = {rid: i for i, rid in enumerate(by_rank)} if pairs else {}
            size = dict(identifiers_in)
            for pair in pairs:
                a, b = rank_of[pair.left], rank_of[pair.right]
                if pair.probability < matching.MATCH_THRESHOLD:
                    review.append((a, b, pair.probability))
                    continue
                ra, rb = _find(final, a), _find(final, b)
                if ra == rb:
                    continue
                joined = size.get(ra, 0) + size.get(rb, 0)
                if joined > MAX_COMPONENT_IDENTIFIERS:
                    review.append((a, b, pair.probability))
                    continue
                lo, hi = min(ra, rb), max(ra, rb)
                final[hi] = lo
                size[lo] = joined
                merged_pairs.append(pair)

    report("assigning cluster ids")
    final_rank = [_find(final, c) for c in det_cluster_of_rec]
    cluster_of = {rid: by_rank[c] for rid, c in zip(record_ids, final_rank, strict=True)}
    review_pairs: list[ScoredPair] = []
    seen: set[tuple[int, int]] = set()
    for a, b, p in review:
        fa, fb = _find(final, a), _find(final, b)
        edge = (min(a, b), max(a, b))
        if fa == fb or edge in seen:
            continue
        seen.add(edge)
        review_pairs.append(ScoredPair(by_rank[edge[0]], by_rank[edge[1]], p))
    review_pairs.sort(key=lambda s: -s.probability)
    return StitchResult(
        cluster_of=cluster_of,
        quarantined=det.quarantined,
        merged_pairs=merged_pairs,
        review_pairs=review_pairs,
        deterministic_clusters=deterministic_clusters,
    )


def _find(parent: list[int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _id_rank(record_ids: Sequence[str]) -> list[int]:
    """Each id's position in id order: numeric when every id is a number (so 9 < 10), else text."""
    ids = pl.Series("id", record_ids, dtype=pl.Utf8)
    numeric = ids.str.contains(r"^\d{1,18}$").all()
    frame = pl.DataFrame({"id": ids})
    keys = [pl.col("id").cast(pl.Int64), pl.col("id")] if numeric else [pl.col("id")]
    order = frame.with_row_index("i").sort(keys)["i"]
    rank = pl.Series("rank", range(len(record_ids)), dtype=pl.Int64).scatter(order, range(len(record_ids)))
    return rank.to_list()


def _min_per_group(groups: Sequence[int], rank: Sequence[int]) -> dict[int, int]:
    frame = pl.DataFrame({"g": groups, "rank": rank}, schema={"g": pl.Int64, "rank": pl.Int64})
    out = frame.group_by("g").agg(pl.col("rank").min())
    return dict(zip(out["g"].to_list(), out["rank"].to_list(), strict=True))


@dataclass(slots=True)
class _Deterministic:
    record_root: list[int]
    kid_root: list[int]
    root_sizes: dict[int, int]
    quarantined: set[str]
    # (record index, identifier id) links refused by the component cap
    blocked: list[tuple[int, int]]


def _deterministic(records: Sequence[PersonRecord]) -> _Deterministic:
    rec_idx: list[int] = []
    keys: list[str] = []
    kinds: list[str] = []
    for i, r in enumerate(records):
        for ident in r.identifiers:
            rec_idx.append(i)
            keys.append(ident.key)
            kinds.append(ident.kind.value)
    n = len(records)
    ids = pl.DataFrame(
        {"rec": rec_idx, "key": keys, "kind": kinds}, schema={"rec": pl.Int64, "key": pl.Utf8, "kind": pl.Utf8}
    ).unique(["rec", "key"], maintain_order=True)
    nodes = ids.select("key", "kind").unique("key", maintain_order=True).with_row_index("kid")
    ids = ids.join(nodes.select("key", pl.col("kid").cast(pl.Int64)), on="key", how="left", maintain_order="left")
    key_of = nodes["key"].to_list()
    k = len(key_of)

    # Guard rail: distinct partners of each kind, over every record an identifier appears in.
    partners = (
        ids.select("rec", "kid")
        .join(ids.select("rec", pl.col("kid").alias("pkid"), pl.col("kind").alias("pkind")), on="rec")
        .filter(pl.col("kid") != pl.col("pkid"))
        .group_by("kid", "pkind")
        .agg(pl.col("pkid").n_unique().alias("n"))
    )
    lowest_cap = min(MAX_PARTNERS.values())
    suspects = partners.filter(pl.col("kid").is_in(partners.filter(pl.col("n") > lowest_cap)["kid"].implode()))
    per_kid: dict[int, dict[str, int]] = {}
    for kid, pkind, count in suspects.iter_rows():
        per_kid.setdefault(kid, {})[pkind] = count
    quarantined_kids = {kid for kid, counts in per_kid.items() if over_partner_cap(counts)}

    active = ids.filter(~pl.col("kid").is_in(sorted(quarantined_kids))) if quarantined_kids else ids
    active = active.with_columns(pl.col("kid").first().over("rec").alias("anchor"))
    anchors = active.group_by("rec").agg(pl.col("anchor").first())
    edges = active.filter(pl.col("kid") != pl.col("anchor")).select("rec", "anchor", "kid")

    parent = list(range(k))
    size = [1] * k
    blocked: list[tuple[int, int]] = []
    for rec, a, b in edges.iter_rows():
        ra = a
        while parent[ra] != ra:
            parent[ra] = parent[parent[ra]]
            ra = parent[ra]
        rb = b
        while parent[rb] != rb:
            parent[rb] = parent[parent[rb]]
            rb = parent[rb]
        if ra == rb:
            continue
        if size[ra] + size[rb] > MAX_COMPONENT_IDENTIFIERS:
            blocked.append((rec, b))
            continue
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
    kid_root = [_find(parent, x) for x in range(k)]

    # Records without a linking identifier form a cluster of their own, numbered after the nodes.
    record_root = list(range(k, k + n))
    for rec, anchor in anchors.iter_rows():
        record_root[rec] = kid_root[anchor]
    root_sizes = {x: size[x] for x in set(kid_root)}
    return _Deterministic(record_root, kid_root, root_sizes, {key_of[x] for x in quarantined_kids}, blocked)


def _cluster_attributes(
    records: Sequence[PersonRecord], cluster_of_rec: Sequence[int], by_rank: Sequence[str], kinds: Sequence[WeakKind]
) -> pl.DataFrame:
    """One row per deterministic cluster with weak attributes: ``id`` (the cluster id) and per kind
    the most common non-empty value among its records (ties: the smallest value)."""
    cl: list[int] = []
    kd: list[str] = []
    vals: list[str] = []
    for r, c in zip(records, cluster_of_rec, strict=True):
        for kind, value in r.attributes.items():
            value = value.strip() if value else ""
            if value:
                cl.append(c)
                kd.append(kind.value)
                vals.append(value)
    long = pl.DataFrame({"c": cl, "kind": kd, "value": vals}, schema={"c": pl.Int64, "kind": pl.Utf8, "value": pl.Utf8})
    best = (
        long.group_by("c", "kind", "value")
        .len()
        .sort(["c", "kind", "len", "value"], descending=[False, False, True, False])
        .group_by("c", "kind", maintain_order=True)
        .first()
    )
    wide = best.pivot(on="kind", index="c", values="value")
    for kind in kinds:
        if kind.value not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Utf8).alias(kind.value))
    ids = pl.Series("id", by_rank, dtype=pl.Utf8)
    return wide.select(ids.gather(wide["c"]).alias("id"), *(pl.col(k.value) for k in kinds))


# ---------------------------------------------------------------------------------------------
# Writing


def review_path(out_path: str | Path) -> Path:
    out = Path(out_path)
    return out.with_name(out.stem + ".review.csv")


def write_result(result: StitchResult, out_path: str | Path, *, id_column: str = "record_id") -> Path:
    """``<id_column>, cluster_id`` per record (CSV or Parquet by the suffix of ``out_path``), and the
    review pairs as CSV beside it (``review_path``): ``left, right, probability, left_cluster,
    right_cluster``; returns the review file's path. A pair with probability 1.0 is a strong
    identifier link refused by the component cap."""
    out = Path(out_path)
    fmt = file_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame(
        {id_column: list(result.cluster_of), "cluster_id": list(result.cluster_of.values())},
        schema={id_column: pl.Utf8, "cluster_id": pl.Utf8},
    )
    if fmt == "csv":
        frame.write_csv(out)
    else:
        frame.write_parquet(out)
    pairs = result.review_pairs
    review = pl.DataFrame(
        {
            "left": [p.left for p in pairs],
            "right": [p.right for p in pairs],
            "probability": [round(p.probability, 6) for p in pairs],
            "left_cluster": [result.cluster_of.get(p.left, p.left) for p in pairs],
            "right_cluster": [result.cluster_of.get(p.right, p.right) for p in pairs],
        },
        schema={
            "left": pl.Utf8,
            "right": pl.Utf8,
            "probability": pl.Float64,
            "left_cluster": pl.Utf8,
            "right_cluster": pl.Utf8,
        },
    )
    path = review_path(out)
    review.write_csv(path)
    return path
