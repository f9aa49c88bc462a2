"""The pretraining losses: masked-LM loss over real predictions, next-sentence loss,
their sum."""

import numpy as np
import pytest

from bertlab.models import pretraining_losses as losses
from tests.models.helpers import IDS, LOGITS, NSP_LABELS, NSP_LOGITS, WEIGHTS
from tests.models.helpers import cross_entropy as _ce


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
