import itertools

import numpy as np
import tensorflow as tf

from bertlab.decoding import (DecodingConfig, Seq2SeqGenerator, beam_search,
                              length_penalty_factor)
from tests.decoding.helpers import END, PAD, START, score_sequences


def _generate(model, source, cache=True, **config):
    config = {"method": "beam", "max_length": 10, "beam_width": 4, **config}
    generator = Seq2SeqGenerator(model, DecodingConfig(**config), START, END, PAD,
                                 use_cache=cache)
    return generator, generator.generate(*source)


def test_beam_width_one_equals_greedy(tiny_model, source_batch):
    for options in ({}, {"no_repeat_ngram_size": 2, "repetition_penalty": 1.3}):
        _, beam = _generate(tiny_model, source_batch, beam_width=1, length_penalty=0.0,
                            **options)
        _, greedy = _generate(tiny_model, source_batch, method="greedy", **options)
        np.testing.assert_array_equal(beam.token_ids, greedy.token_ids)
        np.testing.assert_array_equal(beam.lengths, greedy.lengths)
        np.testing.assert_allclose(beam.log_probs, greedy.log_probs, atol=1e-4)


def test_beam_finds_at_least_greedy_probability(tiny_model, source_batch):
    generator, beam = _generate(tiny_model, source_batch, beam_width=4, length_penalty=0.0)
    _, greedy = _generate(tiny_model, source_batch, method="greedy")
    # Scores re-computed by teacher forcing, independently of the search.
    beam_scores = score_sequences(tiny_model, *source_batch, beam.token_ids.numpy(),
                                  beam.lengths.numpy(), generator.logits_processor)
    greedy_scores = score_sequences(tiny_model, *source_batch, greedy.token_ids.numpy(),
                                    greedy.lengths.numpy(), generator.logits_processor)
    np.testing.assert_allclose(beam.log_probs, beam_scores, atol=1e-4)
    assert (beam_scores >= greedy_scores - 1e-5).all()
    assert (beam_scores > greedy_scores + 1e-3).any()  # the search does find better ones


def test_cached_beam_equals_uncached(tiny_model, source_batch):
    _, cached = _generate(tiny_model, source_batch, length_penalty=0.8)
    _, uncached = _generate(tiny_model, source_batch, cache=False, length_penalty=0.8)
    np.testing.assert_array_equal(cached.token_ids, uncached.token_ids)
    np.testing.assert_allclose(cached.scores, uncached.scores, atol=1e-4)


def test_length_penalized_score(tiny_model, source_batch):
    _, out = _generate(tiny_model, source_batch, length_penalty=1.0)
    penalty = length_penalty_factor(out.lengths, 1.0)
    np.testing.assert_allclose(out.scores, out.log_probs / penalty, rtol=1e-5)


def test_beam_under_xla_equals_eager(tiny_model, source_batch):
    generator, eager = _generate(tiny_model, source_batch)
    xla = tf.function(generator.generate, jit_compile=True)(*source_batch)
    np.testing.assert_array_equal(eager.token_ids, xla.token_ids)


def _table_step_fn(table):
    """Logits that depend on the last two tokens only, from a fixed random table."""
    table = tf.constant(table, tf.float32)

    def step_fn(token_ids, index, state):
        previous = tf.gather(token_ids, tf.maximum(index - 1, 0), axis=1)
        current = tf.gather(token_ids, index, axis=1)
        return tf.gather_nd(table, tf.stack([previous, current], axis=1)), state

    return step_fn


def test_exhaustive_beam_is_exact():
    # Vocabulary of 5, at most 3 tokens: a beam of 25 >= 5 ** 2 hypotheses keeps
    # every prefix, so beam search must return the best sequence found by brute force.
    vocab, max_length, alpha = 5, 3, 0.7
    rng = np.random.default_rng(5)
    table = 2.0 * rng.normal(size=(vocab, vocab, vocab))
    step_fn = _table_step_fn(table)
    out = beam_search(step_fn, tf.zeros([25, 1]), tf.fill([1], START), max_length, END,
                      beam_width=25, length_penalty=alpha)

    def log_softmax(x):
        return x - np.log(np.exp(x - x.max()).sum()) - x.max()

    best, best_sequence = -np.inf, None
    for length in range(1, max_length + 1):
        for sequence in itertools.product(range(vocab), repeat=length):
            ended = sequence[-1] == END
            if END in sequence[:-1] or (not ended and length < max_length):
                continue
            history, total = [START, START], 0.0
            for token in sequence:
                total += log_softmax(table[history[-2], history[-1]])[token]
                history.append(token)
            score = total / ((5.0 + length) / 6.0) ** alpha
            if score > best:
                best, best_sequence = score, sequence
    np.testing.assert_allclose(out.scores[0], best, rtol=1e-5)
    assert tuple(out.token_ids[0, :out.lengths[0]].numpy()) == best_sequence


def test_state_follows_its_hypothesis():
    # The state records, per hypothesis, every token fed so far. If beam search
    # reorders the state together with the hypotheses (and nothing goes astray),
    # the record always equals the hypothesis' own token buffer.
    vocab, max_length, width = 7, 6, 3
    rng = np.random.default_rng(2)
    table = tf.constant(3.0 * rng.normal(size=(vocab, vocab, vocab)), tf.float32)
    mismatches = []

    def step_fn(token_ids, index, state):
        positions = tf.range(max_length + 1)[None, :]
        fed_before = positions < index
        mismatches.append(int(tf.reduce_sum(tf.cast(fed_before & (state != token_ids),
                                                     tf.int32))))
        current = tf.gather(token_ids, index, axis=1)
        state = tf.where(positions == index, current[:, None], state)
        previous = tf.gather(token_ids, tf.maximum(index - 1, 0), axis=1)
        return tf.gather_nd(table, tf.stack([previous, current], axis=1)), state

    out = beam_search(step_fn, tf.fill([2 * width, max_length + 1], -1), tf.fill([2], START),
                      max_length, END, beam_width=width, length_penalty=0.0)
    assert len(mismatches) >= 3 and sum(mismatches) == 0
    assert out.token_ids.shape == (2, max_length)
