"""The pretraining metrics: masked-LM accuracy and perplexity, next-sentence accuracy,
accumulated over batches."""

import numpy as np
import pytest

from bertlab.models import pretraining_metrics as metrics
from tests.models.helpers import IDS, LOGITS, NSP_LABELS, NSP_LOGITS, WEIGHTS
from tests.models.helpers import cross_entropy as _ce


def test_metrics_accumulate_weighted_over_batches():
    labels = {"masked_lm_ids": IDS, "masked_lm_weights": WEIGHTS, "next_sentence_labels": NSP_LABELS}
    outputs = {"mlm_logits": LOGITS, "nsp_logits": NSP_LOGITS}
    acc, ppl, nsp = metrics.pretraining_metrics()
    for half in (slice(0, 2), slice(2, 3)):
        part_labels = {k: v[half] for k, v in labels.items()}
        part_outputs = {k: v[half] for k, v in outputs.items()}
        for m in (acc, ppl, nsp):
            m.update_state(part_labels, part_outputs)
    correct = (LOGITS.argmax(-1) == IDS) * WEIGHTS
    assert float(acc.result()) == pytest.approx(correct.sum() / WEIGHTS.sum(), rel=1e-6)
    mlm = (_ce(LOGITS, IDS) * WEIGHTS).sum() / WEIGHTS.sum()
    assert float(ppl.result()) == pytest.approx(np.exp(mlm), rel=1e-5)
    assert float(nsp.result()) == pytest.approx(np.mean(NSP_LOGITS.argmax(-1) == NSP_LABELS))
    assert [m.name for m in (acc, ppl, nsp)] == ["mlm_accuracy", "mlm_perplexity", "nsp_accuracy"]
    acc.reset_state()
    assert float(acc.result()) == 0.0
    assert len(metrics.pretraining_metrics(use_next_sentence_prediction=False)) == 2


def test_masked_lm_accuracy_is_argmax_accuracy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 5, 50)).astype("float32")
    ids = rng.integers(0, 50, (4, 5)).astype("int32")
    ids[:, :2] = logits[:, :2].argmax(-1)  # some right, most wrong
    weights = (rng.random((4, 5)) < 0.8).astype("float32")
    acc = metrics.MaskedLMAccuracy()
    acc.update_state({"masked_lm_ids": ids, "masked_lm_weights": weights}, {"mlm_logits": logits})
    expected = ((logits.argmax(-1) == ids) * weights).sum() / weights.sum()
    assert 0.0 < expected < 1.0
    assert float(acc.result()) == pytest.approx(expected, rel=1e-6)
    # A label tied for the largest logit counts as correct.
    tied = np.zeros((1, 1, 50), "float32")
    acc.reset_state()
    acc.update_state({"masked_lm_ids": np.array([[7]]), "masked_lm_weights": np.ones((1, 1))},
                     {"mlm_logits": tied})
    assert float(acc.result()) == 1.0
