import numpy as np
import pytest
import tensorflow as tf

from bertlab.decoding import DecodingConfig, Seq2SeqGenerator, sample
from tests.decoding.helpers import END, PAD, START


def _generate(model, source, cache=True, **config):
    config = {"method": "sample", "max_length": 10, **config}
    generator = Seq2SeqGenerator(model, DecodingConfig(**config), START, END, PAD,
                                 use_cache=cache)
    return generator.generate(*source)


def test_same_seed_same_output_other_seed_differs(tiny_model, source_batch):
    first = _generate(tiny_model, source_batch, seed=11)
    again = _generate(tiny_model, source_batch, seed=11)
    other = _generate(tiny_model, source_batch, seed=12)
    np.testing.assert_array_equal(first.token_ids, again.token_ids)
    assert not np.array_equal(first.token_ids, other.token_ids)
    # Reproducible inside a tf.function too.
    generator = Seq2SeqGenerator(tiny_model, DecodingConfig(method="sample", max_length=10,
                                                            seed=11), START, END, PAD)
    graph = tf.function(generator.generate)
    np.testing.assert_array_equal(graph(*source_batch).token_ids,
                                  graph(*source_batch).token_ids)


def test_top_k_one_equals_greedy(tiny_model, source_batch):
    greedy = _generate(tiny_model, source_batch, method="greedy")
    for seed in (0, 1):
        top1 = _generate(tiny_model, source_batch, top_k=1, seed=seed)
        np.testing.assert_array_equal(top1.token_ids, greedy.token_ids)


def test_cached_sampling_equals_uncached(tiny_model, source_batch):
    cached = _generate(tiny_model, source_batch, top_p=0.9, temperature=0.7, seed=3)
    uncached = _generate(tiny_model, source_batch, cache=False, top_p=0.9, temperature=0.7,
                         seed=3)
    np.testing.assert_array_equal(cached.token_ids, uncached.token_ids)


def _fixed_step_fn(logits):
    logits = tf.constant(logits, tf.float32)

    def step_fn(token_ids, index, state):
        return tf.tile(logits[None], [tf.shape(token_ids)[0], 1]), state

    return step_fn


def test_sampled_tokens_respect_top_k_and_top_p():
    # Fixed distribution over 8 tokens; END (2) is never likely enough to stop.
    logits = np.log(np.array([1e-6, 1e-6, 1e-6, 0.4, 0.3, 0.15, 0.1, 0.05]))
    step_fn = _fixed_step_fn(logits)
    start = tf.fill([64], START)
    top_k = sample(step_fn, tf.zeros([64, 1]), start, 12, END, PAD, top_k=2, seed=(4, 5))
    assert set(np.unique(top_k.token_ids)) == {3, 4}
    top_p = sample(step_fn, tf.zeros([64, 1]), start, 12, END, PAD, top_p=0.8, seed=(4, 5))
    assert set(np.unique(top_p.token_ids)) == {3, 4, 5}  # 0.4 + 0.3 < 0.8 <= 0.85
    free = sample(step_fn, tf.zeros([64, 1]), start, 12, END, PAD, seed=(4, 5))
    tokens = free.token_ids.numpy().ravel()
    counts = np.bincount(tokens, minlength=8) / tokens.size
    np.testing.assert_allclose(counts[3:], [0.4, 0.3, 0.15, 0.1, 0.05], atol=0.05)


def test_low_temperature_concentrates_on_the_mode():
    logits = np.log(np.array([1e-6, 1e-6, 1e-6, 0.4, 0.3, 0.3]))
    cold = sample(_fixed_step_fn(logits), tf.zeros([32, 1]), tf.fill([32], START), 8, END,
                  PAD, temperature=0.01, seed=(1, 1))
    assert (cold.token_ids.numpy() == 3).all()


def test_sampling_rejects_bad_arguments():
    step_fn = _fixed_step_fn(np.zeros(5))
    with pytest.raises(ValueError, match="temperature"):
        sample(step_fn, tf.zeros([1, 1]), tf.fill([1], START), 4, END, temperature=0.0)
    with pytest.raises(ValueError, match="seed"):
        sample(step_fn, tf.zeros([1, 1]), tf.fill([1], START), 4, END, seed=(1, 2, 3))
