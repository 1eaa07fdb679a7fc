"""Question-pair matching: does a user's question ask the same thing as a knowledge-base question?

Pair features (TF-IDF cosines, BM25, overlaps, longest common substring, lengths, numbers and
negations that differ) plus a stacked linear model over the pair's character and word
interactions (which characters both share, which words only one side has: the model learns that
花呗 vs 借呗 breaks a match while 怎么 vs 如何 does not, from the training pairs, not a hand list)
go into LightGBM. The decision threshold maximises the positive class's F1 on a validation slice
of the training pairs.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]  # no stubs in the lock

from zhongtai.service import text

FloatArray = npt.NDArray[np.float64]
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NEGATIONS = ("不", "没", "无", "未", "别", "非", "否")


class MatchTrainingError(ValueError):
    """The pairs cannot train a matcher (too few, one class only)."""


@dataclass(frozen=True, slots=True)
class MatchParams:
    c: float = 1.0
    """Inverse regularisation of the stacked interaction model."""
    validation_share: float = 0.2
    num_leaves: int = 15
    rounds: int = 400
    learning_rate: float = 0.05
    seed: int = 7
    min_pairs_for_trees: int = 2000
    """Below this many training pairs the final model is a logistic regression, not LightGBM."""


@dataclass(frozen=True, slots=True)
class MatchPrediction:
    probability: float
    matches: bool


def _lcs_ratio(a: str, b: str) -> float:
    """Longest common substring over the shorter length (dynamic programming, short texts)."""
    if not a or not b:
        return 0.0
    best, prev = 0, [0] * (len(b) + 1)
    for ch in a:
        cur = [0] * (len(b) + 1)
        for j, other in enumerate(b, start=1):
            if ch == other:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best / min(len(a), len(b))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


class _Bm25:
    """Okapi BM25 between two given texts with document statistics from the training sentences
    (bm25s ranks a corpus; a pair needs the score of one query against one named document)."""

    def __init__(self, corpus: Sequence[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        df: Counter[str] = Counter()
        for doc in corpus:
            df.update(set(doc))
        n = max(len(corpus), 1)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.default_idf = math.log(1 + (n + 0.5) / 0.5)
        self.avg = sum(len(d) for d in corpus) / n if corpus else 1.0
        self.k1, self.b = k1, b

    def score(self, query: list[str], doc: list[str]) -> float:
        tf = Counter(doc)
        norm = self.k1 * (1 - self.b + self.b * len(doc) / max(self.avg, 1e-9))
        return sum(
            self.idf.get(t, self.default_idf) * tf[t] * (self.k1 + 1) / (tf[t] + norm) for t in set(query) if t in tf
        )

    def normalised(self, a: list[str], b: list[str]) -> float:
        """Symmetric score scaled by each side's self-score, so it lies in [0, 1]."""
        ab, ba = self.score(a, b), self.score(b, a)
        aa, bb = self.score(a, a), self.score(b, b)
        return 0.5 * ((ab / aa if aa else 0.0) + (ba / bb if bb else 0.0))


def _row_cosine(u: Any, v: Any) -> FloatArray:
    # TF-IDF rows are L2-normalised, so the cosine is the row-wise dot product.
    return np.asarray(u.multiply(v).sum(axis=1), dtype=float).ravel()


@dataclass
class PairMatcher:
    params: MatchParams = field(default_factory=MatchParams)
    threshold: float = 0.5
    _char_vec: Any = None
    _word_vec: Any = None
    _diff_vec: Any = None
    _stack: Any = None
    _cross_stack: Any = None
    _cross_vec: Any = None
    _final: Any = None
    _bm25_chars: _Bm25 | None = None
    _bm25_words: _Bm25 | None = None

    # --- features -----------------------------------------------------------------------------

    def _interactions(self, a: Sequence[str], b: Sequence[str]) -> Any:
        """Sparse pair view for the linear model: shared character n-grams (u*v), differing ones
        (|u-v|) and the words only one side has."""
        ca, cb = self._char_vec.transform(a), self._char_vec.transform(b)
        diff_docs = [" ".join(sorted(set(x) ^ set(y))) for x, y in zip(_words(a), _words(b), strict=True)]
        return sp.hstack([ca.multiply(cb), abs(ca - cb), self._diff_vec.transform(diff_docs)]).tocsr()

    def _crossings(self, a: Sequence[str], b: Sequence[str]) -> Any:
        return self._cross_vec.transform([_word_crossings(x, y) for x, y in zip(_words(a), _words(b), strict=True)])

    def _dense(self, a: Sequence[str], b: Sequence[str]) -> FloatArray:
        assert self._bm25_chars is not None
        assert self._bm25_words is not None
        ca, cb = self._char_vec.transform(a), self._char_vec.transform(b)
        wa, wb = self._word_vec.transform(a), self._word_vec.transform(b)
        char_cos, word_cos = _row_cosine(ca, cb), _row_cosine(wa, wb)
        rows = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            nx, ny = text.normalise(x).replace(" ", ""), text.normalise(y).replace(" ", "")
            xw, yw = text.words(x), text.words(y)
            xc, yc = list(nx), list(ny)
            nums_x, nums_y = set(_NUMBER.findall(nx)), set(_NUMBER.findall(ny))
            neg_x = sum(nx.count(n) for n in _NEGATIONS)
            neg_y = sum(ny.count(n) for n in _NEGATIONS)
            rows.append(
                [
                    char_cos[i],
                    word_cos[i],
                    self._bm25_chars.normalised(xc, yc),
                    self._bm25_words.normalised(xw, yw),
                    _jaccard(set(xw), set(yw)),
                    _jaccard(set(xc), set(yc)),
                    _jaccard(set(text.char_ngrams(nx, 2, 2)), set(text.char_ngrams(ny, 2, 2))),
                    _lcs_ratio(nx, ny),
                    abs(len(nx) - len(ny)),
                    abs(len(nx) - len(ny)) / max(len(nx), len(ny), 1),
                    min(len(nx), len(ny)),
                    len(nums_x & nums_y),
                    len(nums_x ^ nums_y),
                    float(neg_x > 0) + float(neg_y > 0),
                    float((neg_x > 0) != (neg_y > 0)),
                    len(set(xw) ^ set(yw)),
                ]
            )
        return np.asarray(rows, dtype=float)

    # --- training -----------------------------------------------------------------------------

    def _fit_vectorisers(self, a: Sequence[str], b: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import (  # type: ignore[import-untyped]
            HashingVectorizer,
            TfidfVectorizer,
        )

        sentences = list(a) + list(b)
        self._char_vec = TfidfVectorizer(analyzer=_chars, sublinear_tf=True, min_df=2)
        self._char_vec.fit(sentences)
        self._word_vec = TfidfVectorizer(analyzer=text.words, sublinear_tf=True)
        self._word_vec.fit(sentences)
        self._diff_vec = TfidfVectorizer(analyzer=str.split, min_df=2)
        self._diff_vec.fit([" ".join(sorted(set(x) ^ set(y))) for x, y in zip(_words(a), _words(b), strict=True)])
        # Hashed, not a vocabulary: the crossings are many and mostly rare, and a hashed unseen
        # crossing costs nothing. L2-normalised: a pair with many substitutions spreads its evidence.
        self._cross_vec = HashingVectorizer(analyzer=_identity, n_features=2**18, alternate_sign=False, norm="l2")
        self._bm25_chars = _Bm25([list(text.normalise(s).replace(" ", "")) for s in sentences])
        self._bm25_words = _Bm25([text.words(s) for s in sentences])

    def fit(self, a: Sequence[str], b: Sequence[str], labels: Sequence[int]) -> PairMatcher:
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
        from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split  # type: ignore[import-untyped]

        y = np.asarray(labels, dtype=np.int64)
        if len(a) != len(b) or len(a) != len(y):
            raise MatchTrainingError("sentence1, sentence2 and label differ in length")
        counts = np.bincount(y, minlength=2)
        if len(counts) > 2 or counts.min() < 4:
            raise MatchTrainingError("labels must be 0/1 with at least 4 pairs of each")
        self._fit_vectorisers(a, b)
        inter = self._interactions(a, b)
        folds = StratifiedKFold(n_splits=min(5, int(counts.min())), shuffle=True, random_state=self.params.seed)
        # Out-of-fold scores, so that the final model sees the linear models' scores as they will
        # be on new pairs.
        stack = LogisticRegression(C=self.params.c, max_iter=2000)
        oof = cross_val_predict(stack, inter, y, cv=folds, method="predict_proba")[:, 1]
        self._stack = stack.fit(inter, y)
        crossings = self._crossings(a, b)
        cross_stack = LogisticRegression(C=self.params.c, max_iter=2000)
        cross_oof = cross_val_predict(cross_stack, crossings, y, cv=folds, method="predict_proba")[:, 1]
        self._cross_stack = cross_stack.fit(crossings, y)
        features = np.column_stack([self._dense(a, b), oof, cross_oof])
        fit_idx, val_idx = train_test_split(
            np.arange(len(y)), test_size=self.params.validation_share, stratify=y, random_state=self.params.seed
        )
        if len(y) < self.params.min_pairs_for_trees:
            self._fit_linear(features, y, fit_idx, val_idx)
        else:
            self._fit_trees(features, y, fit_idx, val_idx)
        return self

    def _fit_linear(
        self,
        features: FloatArray,
        y: npt.NDArray[np.int64],
        fit_idx: npt.NDArray[np.int64],
        val_idx: npt.NDArray[np.int64],
    ) -> None:
        """Few pairs: a scaled logistic regression, monotone in the similarities, so an identical
        question still scores above an unrelated one where trees would only see noise."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
        from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

        def model() -> Any:
            return make_pipeline(StandardScaler(), LogisticRegression(C=self.params.c, max_iter=2000))

        probe = model().fit(features[fit_idx], y[fit_idx])
        val_scores = np.asarray(probe.predict_proba(features[val_idx])[:, 1], dtype=float)
        self.threshold = best_f1_threshold(val_scores, y[val_idx])
        self._final = model().fit(features, y)

    def _fit_trees(
        self,
        features: FloatArray,
        y: npt.NDArray[np.int64],
        fit_idx: npt.NDArray[np.int64],
        val_idx: npt.NDArray[np.int64],
    ) -> None:
        import lightgbm as lgb

        booster_params = {
            "objective": "binary",
            "learning_rate": self.params.learning_rate,
            "num_leaves": self.params.num_leaves,
            "min_data_in_leaf": 20,
            "feature_fraction": 0.9,
            "num_threads": 2,
            "seed": self.params.seed,
            "verbose": -1,
        }
        probe = lgb.train(
            booster_params,
            lgb.Dataset(features[fit_idx], y[fit_idx]),
            num_boost_round=self.params.rounds,
            valid_sets=[lgb.Dataset(features[val_idx], y[val_idx])],
            callbacks=[lgb.early_stopping(50, verbose=False)],
        )
        rounds = max(int(probe.best_iteration or self.params.rounds), 10)
        val_scores = np.asarray(probe.predict(features[val_idx], num_iteration=rounds), dtype=float)
        self.threshold = best_f1_threshold(val_scores, y[val_idx])
        # Refit on every training pair with the validated number of rounds and keep the threshold.
        self._final = _Booster(lgb.train(booster_params, lgb.Dataset(features, y), num_boost_round=rounds))

    # --- prediction ---------------------------------------------------------------------------

    def predict_proba(self, a: Sequence[str], b: Sequence[str]) -> FloatArray:
        if self._final is None:
            raise RuntimeError("PairMatcher.fit() first")
        if not a:
            return np.zeros(0)
        stacked = self._stack.predict_proba(self._interactions(a, b))[:, 1]
        crossed = self._cross_stack.predict_proba(self._crossings(a, b))[:, 1]
        features = np.column_stack([self._dense(a, b), stacked, crossed])
        return np.asarray(self._final.predict_proba(features)[:, 1], dtype=float)

    def predict(self, a: Sequence[str], b: Sequence[str]) -> list[MatchPrediction]:
        return [MatchPrediction(float(p), bool(p >= self.threshold)) for p in self.predict_proba(a, b)]

    def save(self, path: Path) -> None:
        if self._final is None:
            raise RuntimeError("PairMatcher.fit() first")
        joblib.dump(self, path)

    @staticmethod
    def load(path: Path) -> PairMatcher:
        loaded = joblib.load(path)
        if not isinstance(loaded, PairMatcher):
            raise TypeError(f"{path} does not hold a PairMatcher")
        return loaded


class _Booster:
    """A trained LightGBM booster with the scikit-learn ``predict_proba`` shape."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict_proba(self, features: FloatArray) -> FloatArray:
        positive = np.asarray(self.booster.predict(features), dtype=float)
        return np.column_stack([1 - positive, positive])


def best_f1_threshold(scores: FloatArray, y: npt.NDArray[np.int64]) -> float:
    """The score cut that maximises the positive class's F1 (ties: the higher cut)."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_y = scores[order], y[order]
    true_pos = np.cumsum(sorted_y)
    predicted = np.arange(1, len(y) + 1)
    positives = max(int(y.sum()), 1)
    f1 = 2 * true_pos / (predicted + positives)
    # Only cut between distinct scores: everything at or above the cut is called a match.
    last_of_run = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    f1 = np.where(last_of_run, f1, -1.0)
    best = int(np.argmax(f1))
    return float(sorted_scores[best])


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _word_crossings(x: list[str], y: list[str]) -> list[str]:
    """Each word only one side has, crossed with each word only the other side has ("如何|怎么",
    "借呗|花呗"), plus the lone extra words when one side adds words and the other none: the
    linear model learns from the pairs which substitutions keep the meaning."""
    only_x, only_y = set(x) - set(y), set(y) - set(x)
    crossed = ["|".join(sorted((p, q))) for p in only_x for q in only_y]
    if not only_x or not only_y:
        crossed.extend("+" + w for w in only_x | only_y)
    return crossed


def _chars(doc: str) -> list[str]:
    return text.char_ngrams(doc, 1, 3)


def _words(docs: Sequence[str]) -> list[list[str]]:
    return [text.words(d) for d in docs]
