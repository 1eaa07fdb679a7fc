from __future__ import annotations

from pathlib import Path

import pytest

from zhongtai.service.intents import IntentClassifier, IntentTrainingError


def _split(examples: dict[str, list[str]]) -> tuple[list[str], list[str], list[str], list[str]]:
    """The first 9 paraphrases of each intent train, the last 3 are held out."""
    train_q, train_y, test_q, test_y = [], [], [], []
    for label, questions in examples.items():
        train_q += questions[:9]
        train_y += [label] * 9
        test_q += questions[9:]
        test_y += [label] * 3
    return train_q, train_y, test_q, test_y


def test_classifier_learns_intents_and_gives_probabilities(intent_examples: dict[str, list[str]]) -> None:
    # given a classifier trained on 9 paraphrases of each of 5 intents
    train_q, train_y, test_q, test_y = _split(intent_examples)
    model = IntentClassifier().fit(train_q, train_y)
    # when it predicts the held-out paraphrases
    predictions = model.predict(test_q)
    # then most top labels are right, and every confidence is a probability with ranked alternatives
    right = sum(p.label == y for p, y in zip(predictions, test_y, strict=True))
    assert right >= 12, [(q, p.label) for q, p in zip(test_q, predictions, strict=True)]
    for p in predictions:
        assert 0.0 <= p.confidence <= 1.0
        assert p.label not in {a.label for a in p.alternatives}
        assert all(a.confidence <= p.confidence for a in p.alternatives)
    assert model.predict_proba(test_q).sum(axis=1) == pytest.approx([1.0] * len(test_q))


def test_near_verbatim_question_gets_high_confidence(intent_examples: dict[str, list[str]]) -> None:
    # given a trained classifier
    train_q, train_y, _, _ = _split(intent_examples)
    model = IntentClassifier().fit(train_q, train_y)
    # when a training question is asked again in traditional characters
    prediction = model.predict_one("怎麼申請退貨")
    # then it is recognised with more confidence than an unrelated remark
    assert prediction.label == "return"
    assert prediction.confidence > model.predict_one("今天天气不错").confidence


def test_saved_model_predicts_the_same(tmp_path: Path, intent_examples: dict[str, list[str]]) -> None:
    # given a trained classifier saved to a file
    train_q, train_y, test_q, _ = _split(intent_examples)
    model = IntentClassifier().fit(train_q, train_y)
    model.save(tmp_path / "intents.joblib")
    # when it is loaded back
    loaded = IntentClassifier.load(tmp_path / "intents.joblib")
    # then its predictions are identical
    assert loaded.predict(test_q) == model.predict(test_q)


def test_one_intent_cannot_train() -> None:
    # given examples of a single intent
    # when training / then it is refused with a reason
    with pytest.raises(IntentTrainingError, match="two intents"):
        IntentClassifier().fit(["退货", "我要退货"], ["return", "return"])
