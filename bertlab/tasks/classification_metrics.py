"""Scores of a classifier over a whole split, computed outside the graph from every
prediction (`ExamplePredictions` collects them): the positive class's precision, recall
and F1 at a decision threshold, the threshold that maximizes F1, and the correlations of
a regression head (scipy).

Example:
>>> threshold, f1 = best_f1_threshold([0.2, 0.9, 0.7, 0.6], [False, True, False, True])
>>> round(threshold, 2), round(f1, 2)
(0.4, 0.8)
"""

import numpy as np
from scipy import stats


def best_f1_threshold(probabilities, is_positive):
    """The decision threshold on the positive class's probability that maximizes its F1.

    Predicting positive for the k most probable examples gives
    `F1 = 2 TP(k) / (k + P)`; the best k wins (the smallest on a tie) and the
    threshold lies halfway between its last positive prediction and the next
    probability. Returns `(threshold, f1)`; (0.5, 0.0) without positives.
    """
    probabilities = np.asarray(probabilities, np.float64)
    is_positive = np.asarray(is_positive, bool)
    positives = int(is_positive.sum())
    if positives == 0 or probabilities.size == 0:
        return 0.5, 0.0
    order = np.argsort(-probabilities, kind="stable")
    sorted_p = probabilities[order]
    true_positives = np.cumsum(is_positive[order])
    k = np.arange(1, len(order) + 1)
    # Only cut between distinct probabilities: a threshold cannot split ties.
    cut = np.append(sorted_p[1:] < sorted_p[:-1], True)
    f1 = np.where(cut, 2.0 * true_positives / (k + positives), -1.0)
    best = int(np.argmax(f1))
    below = sorted_p[best + 1] if best + 1 < len(sorted_p) else 0.0
    return float((sorted_p[best] + below) / 2.0), float(f1[best])


def positive_class_scores(probabilities, is_positive, threshold):
    """Precision, recall and F1 of the positive class when `probability >= threshold`."""
    predicted = np.asarray(probabilities) >= threshold
    is_positive = np.asarray(is_positive, bool)
    true_positives = float(np.sum(predicted & is_positive))
    precision = true_positives / max(1.0, float(predicted.sum()))
    recall = true_positives / max(1.0, float(is_positive.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def correlations(predictions, targets):
    """Pearson and Spearman correlation of predictions with targets (scipy), and the
    mean squared error; NaN correlations (constant predictions) become 0."""
    predictions = np.asarray(predictions, np.float64)
    targets = np.asarray(targets, np.float64)
    if predictions.size < 2 or np.ptp(predictions) == 0 or np.ptp(targets) == 0:
        pearson = spearman = 0.0
    else:
        pearson = float(stats.pearsonr(predictions, targets)[0])
        spearman = float(stats.spearmanr(predictions, targets)[0])
    return {"pearson": pearson, "spearman": spearman,
            "mse": float(np.mean((predictions - targets) ** 2))}
