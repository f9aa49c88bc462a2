import numpy as np
import pytest
import tensorflow as tf

from bertlab.decoding import (NEG_INF, LogitsProcessor, apply_no_repeat_ngram,
                              apply_repetition_penalty, suppress_tokens, top_k_filter,
                              top_p_filter)
from bertlab.decoding.logits_processing import sampling_filter


def _reference_banned(sequence, ngram_size):
    """Tokens that would complete an already generated n-gram (plain Python)."""
    banned = set()
    prefix = tuple(sequence[len(sequence) - ngram_size + 1:]) if ngram_size > 1 else ()
    for j in range(len(sequence) - ngram_size + 1):
        if tuple(sequence[j:j + ngram_size - 1]) == prefix:
            banned.add(sequence[j + ngram_size - 1])
    return banned


@pytest.mark.parametrize("ngram_size", [1, 2, 3])
def test_no_repeat_ngram_matches_reference(ngram_size):
    rng = np.random.default_rng(ngram_size)
    vocab, total = 6, 12
    buffer = rng.integers(0, 4, size=(5, total)).astype("int32")  # few ids: many repeats
    buffer[:, 0] = 5  # start token, never generated
    for index in range(total):
        out = apply_no_repeat_ngram(tf.zeros([5, vocab]), tf.constant(buffer), index,
                                    ngram_size).numpy()
        for row in range(5):
            generated = list(buffer[row, 1:index + 1])
            expected = _reference_banned(generated, ngram_size)
            assert set(np.flatnonzero(out[row] == NEG_INF)) == expected, (index, row)


def test_repetition_penalty_only_touches_generated_tokens():
    logits = tf.constant([[2.0, -1.0, 3.0, 0.5, -4.0]])
    buffer = tf.constant([[3, 0, 1, 4, 4]])  # start token 3 at position 0
    out = apply_repetition_penalty(logits, buffer, 2, 2.0).numpy()
    # Generated so far (positions 1..2): tokens 0 and 1; the start token 3 and the
    # not-yet-generated 4 keep their logits.
    np.testing.assert_allclose(out, [[1.0, -2.0, 3.0, 0.5, -4.0]])
    with pytest.raises(ValueError, match="repetition_penalty"):
        apply_repetition_penalty(logits, buffer, 2, 0.0)


def test_top_k_filter_keeps_k_largest():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 30)).astype("float32")
    out = top_k_filter(tf.constant(logits), 5).numpy()
    for row in range(4):
        kept = set(np.flatnonzero(out[row] > NEG_INF / 2))
        assert kept == set(np.argsort(-logits[row])[:5])
        np.testing.assert_allclose(out[row][list(kept)], logits[row][list(kept)])
    np.testing.assert_allclose(top_k_filter(tf.constant(logits), 30).numpy(), logits)
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(tf.constant(logits), 0)


@pytest.mark.parametrize("p", [0.05, 0.5, 0.9, 0.999])
def test_top_p_filter_matches_reference(p):
    rng = np.random.default_rng(1)
    logits = (2.0 * rng.normal(size=(6, 25))).astype("float32")
    out = top_p_filter(tf.constant(logits), p).numpy()
    for row in range(6):
        order = np.argsort(-logits[row])
        probs = np.exp(logits[row] - logits[row].max())
        probs /= probs.sum()
        cumulative = np.cumsum(probs[order])
        count = int(np.searchsorted(cumulative, p) + 1)  # smallest set reaching p
        count = min(count, 25)
        assert set(np.flatnonzero(out[row] > NEG_INF / 2)) == set(order[:count])
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(tf.constant(logits), 0.0)


def test_suppress_and_min_length():
    logits = tf.zeros([2, 6])
    out = suppress_tokens(logits, [0, 4]).numpy()
    assert (out[:, [0, 4]] == NEG_INF).all() and (out[:, [1, 2, 3, 5]] == 0).all()
    processor = LogitsProcessor(min_length=2, end_token_id=3)
    buffer = tf.zeros([2, 5], tf.int32)
    assert (processor(logits, buffer, 1).numpy()[:, 3] == NEG_INF).all()
    assert (processor(logits, buffer, 2).numpy()[:, 3] == 0).all()


def test_processor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="repetition_penalty"):
        LogitsProcessor(repetition_penalty=-1.0)
    with pytest.raises(ValueError, match="no_repeat_ngram_size"):
        LogitsProcessor(no_repeat_ngram_size=-2)
    with pytest.raises(ValueError, match="end_token_id"):
        LogitsProcessor(min_length=3)


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.7, 5, 1.0),
                                                     (1.3, 0, 0.8), (0.9, 4, 0.6),
                                                     (1.0, 100, 0.95)])
def test_sampling_filter_with_tensor_settings_equals_the_static_filters(temperature, top_k,
                                                                        top_p):
    logits = tf.constant(np.random.default_rng(2).normal(size=(3, 20)) * 3, tf.float32)
    static = sampling_filter(logits, temperature, top_k, top_p)
    expected = logits / temperature
    if top_k:
        expected = top_k_filter(expected, top_k)
    expected = top_p_filter(expected, top_p)
    np.testing.assert_allclose(static.numpy(), expected.numpy(), rtol=1e-6)
    dynamic = tf.function(sampling_filter)(logits, tf.constant(temperature), tf.constant(top_k),
                                           tf.constant(top_p))
    np.testing.assert_allclose(dynamic.numpy(), expected.numpy(), rtol=1e-5)
