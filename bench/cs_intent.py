"""Customer-service understanding: ``zhongtai service nlu evaluate`` and ``zhongtai service match
evaluate`` on public Chinese data, beside plain baselines computed in the same run.

    python bench/cs_intent.py --data ../shared/data [--seed 42]

* SMP2017-ECDT intent (31 intents, Chinese user utterances): train on ``train.parquet``
  (columns query, label), score on ``dev.parquet``. Baseline: TF-IDF of character 1-3 grams +
  logistic regression (scikit-learn defaults otherwise).
* ATEC question matching (Ant Financial, pairs sentence1/sentence2/label): a seeded stratified
  80/20 split of ``train.parquet`` is written to temp Parquet files and the command trains on the
  80 % and scores the 20 %. Baseline: character 1-3 gram TF-IDF of each sentence, pair features
  [|u-v|, u*v, cosine] + logistic regression (class_weight balanced), decision at 0.5.

Both commands run through the installed entry point (``.venv/bin/zhongtai``), as a user would;
their last output line is JSON. Tuning of the models' parameters was done on validation slices of
the training files only (never on SMP dev or the ATEC 20 %). Writes ``bench/results/cs_intent.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import accuracy_score, f1_score  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

from zhongtai.service.intents import IntentParams
from zhongtai.service.matching import MatchParams

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "zhongtai"


def run_cli(args: list[str]) -> tuple[dict[str, Any], float, str]:
    started = time.perf_counter()
    done = subprocess.run([str(CLI), *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"zhongtai {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1]), seconds, "\n".join(lines[:-1])


def smp_baseline(train: pl.DataFrame, dev: pl.DataFrame) -> tuple[float, float]:
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    model = LogisticRegression(max_iter=2000).fit(vec.fit_transform(train["query"].to_list()), train["label"])
    predicted = model.predict(vec.transform(dev["query"].to_list()))
    truth = dev["label"].to_list()
    return float(accuracy_score(truth, predicted)), float(f1_score(truth, predicted, average="macro"))


def atec_baseline(train: pl.DataFrame, test: pl.DataFrame) -> float:
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    vec.fit(train["sentence1"].to_list() + train["sentence2"].to_list())

    def features(frame: pl.DataFrame) -> Any:
        u, v = vec.transform(frame["sentence1"].to_list()), vec.transform(frame["sentence2"].to_list())
        cosine = sp.csr_matrix(np.asarray(u.multiply(v).sum(axis=1)))
        return sp.hstack([abs(u - v), u.multiply(v), cosine]).tocsr()

    model = LogisticRegression(max_iter=2000, class_weight="balanced").fit(features(train), train["label"])
    return float(f1_score(test["label"].to_list(), model.predict(features(test))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    smp_dir, atec_file = args.data / "smp2017_ecdt_intent", args.data / "atec_qmatch" / "train.parquet"

    smp_train, smp_dev = pl.read_parquet(smp_dir / "train.parquet"), pl.read_parquet(smp_dir / "dev.parquet")
    smp, smp_seconds, smp_text = run_cli(
        [
            "service",
            "nlu",
            "evaluate",
            "--train",
            str(smp_dir / "train.parquet"),
            "--test",
            str(smp_dir / "dev.parquet"),
            "--text-col",
            "query",
            "--label-col",
            "label",
        ]
    )
    print(smp_text)
    started = time.perf_counter()
    smp_base_acc, smp_base_f1 = smp_baseline(smp_train, smp_dev)
    smp_base_seconds = time.perf_counter() - started
    print(f"SMP2017 dev: accuracy {smp['accuracy']:.4f} (baseline {smp_base_acc:.4f}), {smp_seconds:.1f} s")

    atec = pl.read_parquet(atec_file).select("sentence1", "sentence2", "label")
    train_idx, test_idx = train_test_split(
        np.arange(atec.height), test_size=0.2, random_state=args.seed, stratify=atec["label"].to_numpy()
    )
    atec_train, atec_test = atec[np.sort(train_idx)], atec[np.sort(test_idx)]
    with tempfile.TemporaryDirectory(prefix="cs_intent_") as tmp:
        train_path, test_path = Path(tmp) / "train.parquet", Path(tmp) / "test.parquet"
        atec_train.write_parquet(train_path)
        atec_test.write_parquet(test_path)
        match, match_seconds, match_text = run_cli(
            ["service", "match", "evaluate", "--train", str(train_path), "--test", str(test_path)]
        )
    print(match_text)
    started = time.perf_counter()
    atec_base = atec_baseline(atec_train, atec_test)
    atec_base_seconds = time.perf_counter() - started
    print(f"ATEC 20 %: F1 {match['f1']:.4f} (baseline {atec_base:.4f}), {match_seconds:.1f} s")

    result = {
        "figures": {
            "smp2017_dev_accuracy": smp["accuracy"],
            "smp2017_dev_baseline": round(smp_base_acc, 6),
            "smp2017_dev_macro_f1": smp["macro_f1"],
            "smp2017_dev_baseline_macro_f1": round(smp_base_f1, 6),
            "smp2017_seconds": round(smp_seconds, 2),
            "smp2017_fit_seconds": smp["fit_seconds"],
            "smp2017_baseline_seconds": round(smp_base_seconds, 2),
            "atec_f1": match["f1"],
            "atec_precision": match["precision"],
            "atec_recall": match["recall"],
            "atec_accuracy": match["accuracy"],
            "atec_f1_baseline": round(atec_base, 6),
            "atec_seconds": round(match_seconds, 2),
            "atec_fit_seconds": match["fit_seconds"],
            "atec_baseline_seconds": round(atec_base_seconds, 2),
        },
        "params": {
            "seed": args.seed,
            "smp_train": smp_train.height,
            "smp_dev": smp_dev.height,
            "atec_train_pairs": atec_train.height,
            "atec_test_pairs": atec_test.height,
            "atec_split": "stratified 80/20 of atec_qmatch/train.parquet",
            "command": "python bench/cs_intent.py --data ../shared/data",
            "intent_model": asdict(IntentParams()),
            "match_model": asdict(MatchParams()),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
    }
    out = ROOT / "bench" / "results" / "cs_intent.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result["figures"]))


if __name__ == "__main__":
    main()
