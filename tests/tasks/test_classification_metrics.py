"""The decision threshold that maximizes F1, the positive class's scores, correlations:
against hand computations and scipy."""

import numpy as np
import pytest
from scipy import stats

from bertlab.tasks.classification_metrics import (best_f1_threshold, correlations,
                                                  positive_class_scores)


def test_best_f1_threshold_by_hand():
    # Positives at 0.9 and 0.6, negatives at 0.7 and 0.2: cutting after 0.9 gives F1 2/3
    # (1 of 2 found, 1 predicted), after 0.6 F1 4/5 (2 of 3 predicted); halfway to 0.2.
    threshold, f1 = best_f1_threshold([0.2, 0.9, 0.7, 0.6], [False, True, False, True])
    assert f1 == pytest.approx(0.8) and threshold == pytest.approx(0.4)
    scores = positive_class_scores([0.2, 0.9, 0.7, 0.6], [False, True, False, True], threshold)
    assert scores == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8})
    # Ties are not split: both 0.5s are predicted positive together.
    threshold, f1 = best_f1_threshold([0.5, 0.5, 0.1], [True, False, False])
    assert threshold == pytest.approx(0.3) and f1 == pytest.approx(2 / 3)
    assert best_f1_threshold([0.3, 0.4], [False, False]) == (0.5, 0.0)


def test_correlations_match_scipy_and_constant_predictions_are_zero():
    predictions, targets = [0.1, 0.4, 0.35, 0.8], [0.0, 1.0, 2.0, 5.0]
    result = correlations(predictions, targets)
    assert result["pearson"] == pytest.approx(stats.pearsonr(predictions, targets)[0])
    assert result["spearman"] == pytest.approx(0.8)  # ranks 1 3 2 4 against 1 2 3 4
    assert result["mse"] == pytest.approx(np.mean((np.array(predictions) - targets) ** 2))
    assert correlations([1.0, 1.0, 1.0], targets[:3])["spearman"] == 0.0
