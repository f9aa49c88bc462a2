"""Language-model metrics against hand computations: loss, perplexity, bits per character,
character counts, the Keras Perplexity metric."""

import math

import numpy as np
import pytest
import tensorflow as tf

from bertlab.models.language_model_metrics import (Perplexity, bits_per_character,
                                                   count_characters, language_model_loss,
                                                   language_model_loss_sum, perplexity)

# p = (1/2, 1/4, 1/4) at both positions; labels 0 then 1: NLL = ln 2 + ln 4 = 3 ln 2 nats.
LOGITS = np.log(np.array([[[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]], "float32"))
LABELS = np.array([[0, 1]])


def test_loss_perplexity_and_bits_per_character_by_hand():
    nll, tokens = language_model_loss_sum(LABELS, LOGITS)
    assert float(nll) == pytest.approx(3 * math.log(2), rel=1e-6) and float(tokens) == 2
    assert float(language_model_loss(LABELS, LOGITS)) == pytest.approx(1.5 * math.log(2))
    assert float(perplexity(nll, tokens)) == pytest.approx(2 ** 1.5, rel=1e-6)
    # 3 bits for a 3-character text: 1 bit per character.
    assert float(bits_per_character(nll, 3)) == pytest.approx(1.0, rel=1e-6)
    nll, tokens = language_model_loss_sum(LABELS, LOGITS, weights=[[1, 0]])
    assert float(perplexity(nll, tokens)) == pytest.approx(2.0, rel=1e-6)
    assert float(language_model_loss(LABELS, LOGITS, weights=[[0, 0]])) == 0.0


def test_count_characters_counts_code_points():
    counts = count_characters(tf.constant(["héllo 中文 😀", "", b"ab\xff"]))
    np.testing.assert_array_equal(counts, [10, 0, 3])


def test_keras_perplexity_pools_tokens_across_batches():
    metric = Perplexity()
    metric.update_state(LABELS, LOGITS)  # 3 ln 2 over 2 tokens
    metric.update_state(np.array([[2]]), LOGITS[:, :1])  # ln 4 over 1 token
    assert float(metric.result()) == pytest.approx(2 ** (5 / 3), rel=1e-5)
    metric.reset_state()
    metric.update_state(LABELS, LOGITS, sample_weight=np.array([[1.0, 0.0]]))
    assert float(metric.result()) == pytest.approx(2.0, rel=1e-5)
