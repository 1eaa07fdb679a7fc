from __future__ import annotations

import numpy as np
import pytest

from zhongtai.service.matching import MatchTrainingError, PairMatcher, best_f1_threshold


def test_best_threshold_maximises_positive_f1() -> None:
    # given scores where every positive scores above every negative but one
    scores = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.1])
    y = np.array([1, 1, 0, 1, 0, 0], dtype=np.int64)
    # when the threshold is chosen
    threshold = best_f1_threshold(scores, y)
    # then it keeps all three positives (F1 6/7) rather than the two sure ones (F1 4/5)
    assert threshold == pytest.approx(0.4)


def test_matcher_separates_paraphrases_from_other_questions(match_pairs: list[tuple[str, str, int]]) -> None:
    # given a matcher trained on paraphrase pairs (1) and cross-intent pairs (0)
    a, b, y = zip(*match_pairs, strict=True)
    model = PairMatcher().fit(list(a), list(b), list(y))
    # when it scores pairs it has seen and new ones
    proba = model.predict_proba(list(a), list(b))
    fresh = model.predict(["我要退货", "我要退货"], ["我要退货", "能开发票吗"])
    # then matching pairs score higher on average, probabilities lie in [0, 1], and an identical
    # question scores above an unrelated one
    labels = np.array(y)
    assert proba[labels == 1].mean() > proba[labels == 0].mean()
    assert ((proba >= 0) & (proba <= 1)).all()
    assert fresh[0].probability > fresh[1].probability
    assert 0.0 <= model.threshold <= 1.0


def test_matcher_needs_both_classes() -> None:
    # given only matching pairs
    # when training / then it is refused
    with pytest.raises(MatchTrainingError):
        PairMatcher().fit(["a", "b", "c", "d"], ["a", "b", "c", "d"], [1, 1, 1, 1])
