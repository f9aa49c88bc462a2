import numpy as np
import pytest

from bertlab.models import pretraining_losses as losses
from bertlab.models import pretraining_metrics as metrics

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(3, 4, 7)).astype("float32")
IDS = RNG.integers(0, 7, (3, 4)).astype("int32")
WEIGHTS = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], "float32")
NSP_LOGITS = RNG.normal(size=(3, 2)).astype("float32")
NSP_LABELS = np.array([0, 1, 1], "int32")


def _ce(logits, labels):
    logits = logits - logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, labels[..., None], -1)[..., 0]


def test_masked_lm_loss_is_weighted_mean_over_real_predictions():
    ce = _ce(LOGITS, IDS)
    loss_sum, weight = losses.masked_lm_loss_sum(IDS, LOGITS, WEIGHTS)
    assert float(weight) == 8.0
    assert float(loss_sum) == pytest.approx(float((ce * WEIGHTS).sum()), rel=1e-5)
    assert float(losses.masked_lm_loss(IDS, LOGITS, WEIGHTS)) == pytest.approx(
        float((ce * WEIGHTS).sum() / 8.0), rel=1e-5)
    # Padded slots do not matter whatever their logits.
    changed = LOGITS.copy()
    changed[0, 3] += 100.0
    assert float(losses.masked_lm_loss(IDS, changed, WEIGHTS)) == pytest.approx(
        float(losses.masked_lm_loss(IDS, LOGITS, WEIGHTS)), rel=1e-6)
    assert float(losses.masked_lm_loss(IDS, LOGITS, np.zeros_like(WEIGHTS))) == 0.0


def test_next_sentence_and_total_loss():
    nsp = _ce(NSP_LOGITS, NSP_LABELS).mean()
    assert float(losses.next_sentence_loss(NSP_LABELS[:, None], NSP_LOGITS)) == pytest.approx(nsp, rel=1e-5)
    labels = {"masked_lm_ids": IDS, "masked_lm_weights": WEIGHTS, "next_sentence_labels": NSP_LABELS}
    outputs = {"mlm_logits": LOGITS, "nsp_logits": NSP_LOGITS}
    mlm = (_ce(LOGITS, IDS) * WEIGHTS).sum() / WEIGHTS.sum()
    assert float(losses.pretraining_loss(labels, outputs)) == pytest.approx(mlm + nsp, rel=1e-5)
    del outputs["nsp_logits"]
    assert float(losses.pretraining_loss(labels, outputs)) == pytest.approx(mlm, rel=1e-5)


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
