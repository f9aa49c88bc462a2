"""Helpers shared by the models tests: a fixed batch of pretraining-head outputs and
labels, and a NumPy cross-entropy to check losses and metrics against."""

import numpy as np

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(3, 4, 7)).astype("float32")
IDS = RNG.integers(0, 7, (3, 4)).astype("int32")
WEIGHTS = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], "float32")
NSP_LOGITS = RNG.normal(size=(3, 2)).astype("float32")
NSP_LABELS = np.array([0, 1, 1], "int32")


def cross_entropy(logits, labels):
    logits = logits - logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, labels[..., None], -1)[..., 0]
