"""EntitySpanF1 counts what seqeval counts, including ill-formed BIO sequences."""

import random

import numpy as np
import pytest

from bertlab.tasks.entity_span_f1 import EntitySpanF1

seqeval_metrics = pytest.importorskip("seqeval.metrics")

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-PER.NAM", "I-PER.NAM"]


def test_matches_seqeval_on_random_sequences_with_ignored_positions():
    rng = random.Random(0)
    for _ in range(20):
        metric = EntitySpanF1(TAGS)
        true_words, pred_words = [], []
        for _ in range(3):
            n = rng.randint(1, 12)
            y_true = [rng.randrange(len(TAGS)) for _ in range(n)]
            y_pred = [rng.randrange(len(TAGS)) if rng.random() < 0.5 else t for t in y_true]
            ignored = [rng.random() < 0.3 for _ in range(n)]
            true_words.append([TAGS[t] for t, i in zip(y_true, ignored) if not i])
            pred_words.append([TAGS[t] for t, i in zip(y_pred, ignored) if not i])
            pad = 14 - n
            metric.update_state(
                np.array([[-1 if i else t for t, i in zip(y_true, ignored)] + [-1] * pad]),
                np.array([y_pred + [rng.randrange(len(TAGS)) for _ in range(pad)]]))
        np.testing.assert_allclose(float(metric.result()),
                                   seqeval_metrics.f1_score(true_words, pred_words), atol=1e-6)
        np.testing.assert_allclose(float(metric.precision()),
                                   seqeval_metrics.precision_score(true_words, pred_words),
                                   atol=1e-6)
        np.testing.assert_allclose(float(metric.recall()),
                                   seqeval_metrics.recall_score(true_words, pred_words),
                                   atol=1e-6)


def test_exact_span_and_type_and_logits_input():
    metric = EntitySpanF1(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    # gold: PER[0:1], LOC[3]; pred: PER[0] (too short), LOC[3] -> 1 of 2 correct, 1 of 2 predicted.
    logits = np.eye(5, dtype="float32")[[1, 0, 0, 3]][None]
    metric.update_state(np.array([[1, 2, 0, 3]]), logits)
    assert float(metric.result()) == pytest.approx(0.5)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_bad_tag_names():
    with pytest.raises(ValueError, match="'O'"):
        EntitySpanF1(["B-PER", "I-PER"])
    with pytest.raises(ValueError, match="PER"):
        EntitySpanF1(["O", "PER"])
