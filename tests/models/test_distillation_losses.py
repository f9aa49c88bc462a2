"""Distillation losses against hand computations in NumPy."""

import numpy as np
import pytest

from bertlab.models.distillation_losses import (attention_distribution_loss, hidden_state_loss,
                                                soft_target_loss)


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_soft_target_loss_is_t_squared_kl_at_temperature(temperature):
    rng = np.random.default_rng(0)
    student, teacher = rng.normal(size=(2, 4, 3)).astype("float32") * 3
    log_p = _log_softmax(teacher / temperature)
    log_q = _log_softmax(student / temperature)
    expected = temperature ** 2 * (np.exp(log_p) * (log_p - log_q)).sum(-1)
    got = soft_target_loss(student, teacher, temperature).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert (got >= 0).all()


def test_soft_target_loss_is_zero_for_the_teacher_and_ignores_a_constant_per_row():
    teacher = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 3.0]], "float32")
    np.testing.assert_allclose(soft_target_loss(teacher, teacher, 2.0), [0, 0], atol=1e-6)
    # log-probabilities (what an export's probabilities give) are logits shifted per row
    shifted = teacher + np.array([[5.0], [-7.0]], "float32")
    student = np.array([[1.0, 0.0, -1.0], [0.5, 0.2, 0.1]], "float32")
    np.testing.assert_allclose(soft_target_loss(student, shifted, 3.0),
                               soft_target_loss(student, teacher, 3.0), rtol=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        soft_target_loss(student, teacher, 0.0)


def test_hidden_state_loss_averages_real_tokens_only():
    rng = np.random.default_rng(1)
    student = rng.normal(size=(2, 4, 6)).astype("float32")
    teacher = rng.normal(size=(2, 4, 6)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], "int32")
    teacher_padded = teacher.copy()
    teacher_padded[mask == 0] = 1e6  # padding must not count
    expected = [((student[b, :n] - teacher[b, :n]) ** 2).mean() for b, n in enumerate((3, 2))]
    np.testing.assert_allclose(hidden_state_loss(student, teacher_padded, mask), expected,
                               rtol=1e-5)


def _softmax_masked(scores, key_mask):
    scores = np.where(key_mask[:, None, None, :] > 0, scores, -1e9)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_attention_distribution_loss_is_kl_over_heads_and_real_queries():
    rng = np.random.default_rng(2)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], "int32")
    teacher = _softmax_masked(rng.normal(size=(2, 3, 4, 4)), mask).astype("float32")
    student = _softmax_masked(rng.normal(size=(2, 3, 4, 4)), mask).astype("float32")
    expected = []
    for b, n in enumerate((3, 2)):
        p, q = teacher[b, :, :n, :n], student[b, :, :n, :n]
        expected.append((p * (np.log(p) - np.log(q))).sum(-1).mean())
    np.testing.assert_allclose(attention_distribution_loss(student, teacher, mask), expected,
                               rtol=1e-4)
    np.testing.assert_allclose(attention_distribution_loss(teacher, teacher, mask), [0, 0],
                               atol=1e-6)
    with pytest.raises(ValueError, match="same number of heads"):
        attention_distribution_loss(student[:, :2], teacher, mask)
